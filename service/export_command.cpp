#include "service/export_command.h"

#include <chrono>
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

// "calls 5,002 · statistics 4,000 of 100,000 mailboxes · 850/s · about 1 min 53 s left", on
// one terminal line, at most a few times a second.
class HarvestProgressLine {
 public:
  void update(const agent::HarvestProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (p.statistics_total == 0 || (shown_ && now - last_ < std::chrono::milliseconds(250) &&
                                    p.statistics_done < p.statistics_total)) {
      return;
    }
    if (!started_) {
      started_ = now;
      done_at_start_ = p.statistics_done;
    }
    last_ = now;
    shown_ = true;
    const double seconds = std::chrono::duration<double>(now - *started_).count();
    const double rate =
        seconds > 0.5 ? static_cast<double>(p.statistics_done - done_at_start_) / seconds : 0;
    std::string line = "\reasgate: harvesting: " + std::to_string(p.calls) + " Exchange calls, " +
                       std::to_string(p.statistics_done) + " of " +
                       std::to_string(p.statistics_total) + " mailboxes";
    if (rate > 0) {
      const auto left = static_cast<long long>(
          static_cast<double>(p.statistics_total - p.statistics_done) / rate);
      line += ", " + std::to_string(static_cast<long long>(rate)) + "/s, about ";
      line += left >= 60 ? std::to_string(left / 60) + " min " + std::to_string(left % 60) + " s"
                         : std::to_string(left) + " s";
      line += " left";
    }
    line += "   ";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }
  void end() {
    if (shown_) std::fputc('\n', stderr);
  }

 private:
  std::optional<std::chrono::steady_clock::time_point> started_;
  std::chrono::steady_clock::time_point last_;
  std::size_t done_at_start_ = 0;
  bool shown_ = false;
};

// The writer's options from the command line; an error says what is wrong with them.
Result<agent::ExportOptions, std::string> exportOptions(const ExportCommandOptions& options,
                                                        agent::ExportFormat format) {
  agent::ExportOptions out;
  out.csv_formula_guard = !options.no_formula_guard;
  if (!options.columns.empty()) {
    auto columns = agent::parseDeviceColumns(options.columns);
    if (!columns) return "--columns: " + columns.error();
    out.columns = std::move(columns).value();
  }
  if (options.excel && format != agent::ExportFormat::kCsv) {
    return std::string("--excel is for CSV (--format csv)");
  }
  out.excel = options.excel;
  return out;
}

// --out: a file, or standard output for none or "-".
std::optional<std::filesystem::path> outputFile(const ExportCommandOptions& options) {
  if (!options.out || options.out->string() == "-") return std::nullopt;
  return options.out;
}

// The inventory as the store has it, after a full harvest first with --live.
int exportFromStore(const ExportCommandOptions& options, agent::ExportFormat format,
                    const agent::ExportOptions& export_options) {
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
    HarvestProgressLine progress;
    agent::HarvestProgressCallback on_progress;
    if (!options.quiet && isTerminal(stderr)) {
      on_progress = [&](const agent::HarvestProgress& p) { progress.update(p); };
    }
    auto report = runtime->harvest(agent::HarvestKind::kFull, on_progress);
    progress.end();
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
      format, outputFile(options), std::cout, export_options);
  if (!written) {
    std::cerr << "easgate export: " << written.error().message << "\n";
    return exitCodeFor(written.error().code);
  }
  if (!options.quiet) {
    std::cerr << "easgate export: " << exported << " devices from " << file.string();
    if (outputFile(options)) std::cerr << " written to " << options.out->string();
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
      "CSV columns are named as Get-MobileDevice and Get-MobileDeviceStatistics name the\n"
      "properties (DeviceId, DeviceAccessState, LastSuccessSync, Status for the wipe, ...);\n"
      "JSON and NDJSON members as the API names them (deviceId, accessState, ...). --columns\n"
      "takes either name, in any case. Times are UTC.\n\n"
      "Exit codes: 0 done, 2 wrong command line, 3 input unreadable (no store, or Exchange\n"
      "failed), 4 input not valid CLIXML, 5 output not writable. A failed export never leaves\n"
      "a partial --out file.\n\n"
      "Examples:\n"
      "  easgate export --format json --out devices.json\n"
      "  easgate export --excel --out devices.csv        (opens in Excel, dates as dates)\n"
      "  easgate export --columns UserDisplayName,DeviceModel,LastSuccessSync --out -\n"
      "  easgate export --from-clixml devices.xml --format csv\n"
      "  easgate export --live --format ndjson | jq .deviceId");
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
                  "File to write (replaced only when complete); standard output if omitted or -");
  cmd->add_option("--columns", options.columns,
                  "Fields to write, in order, comma-separated (Exchange's or the API's names)");
  cmd->add_flag("--excel", options.excel,
                "CSV for Excel: a UTF-8 byte order mark, times as 2024-03-05 09:14:27 (UTC)");
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
  auto export_options = exportOptions(options, *format);
  if (!export_options) {
    std::cerr << "easgate export: " << export_options.error() << "\n";
    return kExitUsage;
  }
  // The export's bytes as written (CSV's CRLF stays CRLF on Windows, not CR CR LF).
  if (!outputFile(options)) writeStdoutAsBytes();
  if (!options.from_clixml) return exportFromStore(options, *format, export_options.value());
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

  auto written = agent::writeInventory(inventory->records, *format, outputFile(options), std::cout,
                                       export_options.value());
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
    if (outputFile(options)) std::cerr << " written to " << options.out->string();
    std::cerr << "\n";
  }
  if (inventory->records.empty() && counts.ignored > 0 && !options.quiet) {
    std::cerr << "easgate export: warning: " << from_clixml.string()
              << " holds no Get-MobileDevice or Get-MobileDeviceStatistics objects\n";
  }
  return kExitOk;
}

}  // namespace easgate::service
