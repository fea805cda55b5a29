#include "service/export_command.h"

#include <cstdio>
#include <functional>
#include <iostream>

#include <CLI/CLI.hpp>

#include "agent/export/clixml_export.h"
#include "agent/harvest/harvester.h"
#include "agent/store/schema.h"
#include "service/agent_runtime.h"
#include "service/cli.h"
#include "service/console.h"

namespace easgate::service {
namespace {

// Below this size a file is read before anyone would want a progress line.
constexpr std::size_t kProgressThreshold = 16 * 1024 * 1024;

int exitCodeFor(agent::ExportErrc code) {
  switch (code) {
    case agent::ExportErrc::kInputUnreadable: return kExitInputUnreadable;
    case agent::ExportErrc::kInputInvalid: return kExitInputInvalid;
    case agent::ExportErrc::kOutputFailed: return kExitOutputFailed;
  }
  return kExitInternal;
}

// Prints "reading FILE: NN%" on one terminal line, only when the percentage changes.
class ProgressLine {
 public:
  explicit ProgressLine(std::string label) : label_(std::move(label)) {}

  void update(std::size_t done, std::size_t total) {
    if (total < kProgressThreshold) return;
    int percent = static_cast<int>(done * 100 / total);
    if (percent == last_percent_) return;
    last_percent_ = percent;
    std::fprintf(stderr, "\reasgate: reading %s: %3d%% (%.1f of %.1f MB)", label_.c_str(), percent,
                 static_cast<double>(done) / 1e6, static_cast<double>(total) / 1e6);
    std::fflush(stderr);
  }

  void end() {
    if (last_percent_ >= 0) std::fputc('\n', stderr);
  }

 private:
  std::string label_;
  int last_percent_ = -1;
};

agent::ExportOptions exportOptions(const ExportCommandOptions& options) {
  agent::ExportOptions out;
  out.csv_formula_guard = !options.no_formula_guard;
  return out;
}

// The inventory as the store has it, after a full harvest first with --live.
int exportFromStore(const ExportCommandOptions& options, agent::ExportFormat format) {
  const auto file = agent::store::storeFile(options.data_directory);
  std::error_code ec;
  if (!options.live && !std::filesystem::is_regular_file(file, ec)) {
    std::cerr << "easgate export: " << noStoreMessage(options.data_directory)
              << "; or run the agent, or use --live or --from-clixml (see --help)\n";
    return kExitInputUnreadable;
  }
  // Opened first, whatever the source: it checks who owns the directory, and its migration moves
  // an inventory an earlier release kept in it.
  if (auto store = openDataStore(options.data_directory); !store) {
    std::cerr << "easgate export: " << store.error() << "\n";
    return kExitInputUnreadable;
  }
  // --live: a full harvest first, by the agent's own engine (the one `run` and `agent` use).
  std::unique_ptr<AgentRuntime> runtime;
  if (options.live) {
    RuntimeOptions runtime_options;
    runtime_options.data_directory = options.data_directory;
    runtime_options.exchange = options.exchange;
    auto opened = AgentRuntime::open(std::move(runtime_options));
    if (!opened) {
      std::cerr << "easgate export: " << opened.error() << "\n";
      return kExitUsage;
    }
    runtime = std::move(opened).value();
    auto report = runtime->harvest(agent::HarvestKind::kFull);
    if (!report) {
      std::cerr << "easgate export: harvesting failed: " << report.error().message << "\n";
      return kExitInputUnreadable;
    }
    if (!options.quiet) {
      std::cerr << "easgate export: harvested " << report->devices << " devices in "
                << report->calls << " Exchange calls\n";
    }
  }
  auto inventory_store = openInventoryStore(options.data_directory);
  if (!inventory_store) {
    std::cerr << "easgate export: " << inventory_store.error() << "\n";
    return kExitInputUnreadable;
  }
  // One record at a time, from the store to the output.
  std::size_t exported = 0;
  auto written = agent::writeInventory(
      [&](const std::function<void(const agent::DeviceRecord&)>& sink)
          -> Result<void, agent::ExportError> {
        auto read = inventory_store.value()->forEachCurrent([&](const agent::DeviceRecord& d) {
          ++exported;
          sink(d);
        });
        if (!read)
          return agent::ExportError{agent::ExportErrc::kInputUnreadable, read.error().message};
        return {};
      },
      format, options.out, std::cout, exportOptions(options));
  if (!written) {
    std::cerr << "easgate export: " << written.error().message << "\n";
    return exitCodeFor(written.error().code);
  }
  if (!options.quiet) {
    std::cerr << "easgate export: " << exported << " devices from " << file.string();
    if (options.out) std::cerr << " written to " << options.out->string();
    std::cerr << "\n";
  }
  return kExitOk;
}

}  // namespace

CLI::App* addExportCommand(CLI::App& app, ExportCommandOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "export", "Export the ActiveSync device inventory as CSV, JSON or NDJSON.");
  cmd->footer(
      "Sources: the agent's store (the default: the inventory as last harvested), --live (a\n"
      "full harvest now, through the bridge or the simulator, stored and then exported), or\n"
      "--from-clixml, what an administrator saves with\n"
      "  Get-MobileDevice -ResultSize Unlimited | Export-Clixml devices.xml\n"
      "(Get-MobileDeviceStatistics and Get-CASMailbox output may be in the same file or\n"
      "appended: statistics add sync and wipe times, mailboxes add SMTP addresses).\n"
      "Windows PowerShell 5.1 (UTF-16) and PowerShell 7 (UTF-8) files are both read.\n\n"
      "Exit codes: 0 done, 2 wrong command line, 3 input unreadable (no store, or Exchange\n"
      "failed), 4 input not valid CLIXML, 5 output not writable. A failed export never leaves\n"
      "a partial --out file.\n\n"
      "Examples:\n"
      "  easgate export --format json --out devices.json\n"
      "  easgate export --from-clixml devices.xml --format csv");
  CLI::Option* clixml = cmd->add_option("--from-clixml", options.from_clixml,
                                        "Export-Clixml file to read (UTF-8 or UTF-16)");
  options.data_directory = defaultDataDirectory();
  cmd->add_option("--data-dir", options.data_directory, "The agent's data directory (its store)")
      ->capture_default_str();
  cmd->add_flag("--live", options.live, "Harvest Exchange now, store it, and export that")
      ->excludes(clixml);
  addExchangeOptions(*cmd, options.exchange);
  cmd->add_option("--format", options.format, "Output format: csv, json or ndjson")
      ->capture_default_str()
      ->transform(CLI::IsMember({"csv", "json", "ndjson"}, CLI::ignore_case));
  cmd->add_option("--out", options.out,
                  "File to write (replaced only when complete); standard output if omitted");
  cmd->add_flag("--no-formula-guard", options.no_formula_guard,
                "CSV: do not prefix cells starting with = + - @ with a quote (see README)");
  cmd->add_flag("-q,--quiet", options.quiet, "No progress or summary on standard error");
  return cmd;
}

int runExportCommand(const ExportCommandOptions& options) {
  auto format = agent::parseExportFormat(options.format);
  if (!format) {
    std::cerr << "easgate export: unknown format '" << options.format
              << "'; use csv, json or ndjson\n";
    return kExitUsage;
  }
  if (!options.from_clixml) return exportFromStore(options, *format);
  const std::filesystem::path& from_clixml = *options.from_clixml;
  const bool show_progress = !options.quiet && isTerminal(stderr);
  ProgressLine progress(from_clixml.filename().string());
  agent::ProgressCallback on_progress;
  if (show_progress)
    on_progress = [&](std::size_t done, std::size_t total) { progress.update(done, total); };

  auto inventory = agent::readInventoryFromClixml(from_clixml, on_progress);
  progress.end();
  if (!inventory) {
    std::cerr << "easgate export: " << inventory.error().message << "\n";
    return exitCodeFor(inventory.error().code);
  }

  auto written = agent::writeInventory(inventory->records, *format, options.out, std::cout,
                                       exportOptions(options));
  if (!written) {
    std::cerr << "easgate export: " << written.error().message << "\n";
    return exitCodeFor(written.error().code);
  }

  const auto& counts = inventory->counts;
  if (!options.quiet) {
    std::cerr << "easgate export: " << inventory->records.size() << " devices (" << counts.devices
              << " MobileDevice, " << counts.statistics << " statistics, " << counts.mailboxes
              << " CASMailbox objects read";
    if (counts.by_shape) {
      std::cerr << "; " << counts.by_shape << " of an unknown type recognised by their properties";
    }
    if (counts.ignored) std::cerr << "; " << counts.ignored << " other values skipped";
    std::cerr << ")";
    if (options.out) std::cerr << " written to " << options.out->string();
    std::cerr << "\n";
  }
  if (inventory->records.empty() && counts.ignored > 0 && !options.quiet) {
    std::cerr << "easgate export: warning: " << from_clixml.string()
              << " holds no Get-MobileDevice or Get-MobileDeviceStatistics objects\n";
  }
  return kExitOk;
}

}  // namespace easgate::service
