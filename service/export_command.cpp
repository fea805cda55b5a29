#include "service/export_command.h"

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "agent/export/clixml_export.h"
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

}  // namespace

CLI::App* addExportCommand(CLI::App& app, ExportCommandOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "export", "Export the ActiveSync device inventory as CSV, JSON or NDJSON.");
  cmd->footer(
      "Reads what an administrator saves with\n"
      "  Get-MobileDevice -ResultSize Unlimited | Export-Clixml devices.xml\n"
      "(Get-MobileDeviceStatistics and Get-CASMailbox output may be in the same file or\n"
      "appended: statistics add sync and wipe times, mailboxes add SMTP addresses).\n"
      "Windows PowerShell 5.1 (UTF-16) and PowerShell 7 (UTF-8) files are both read.\n\n"
      "Exit codes: 0 done, 2 wrong command line, 3 input unreadable, 4 input not valid\n"
      "CLIXML, 5 output not writable. A failed export never leaves a partial --out file.\n\n"
      "Example:\n"
      "  easgate export --from-clixml devices.xml --format json --out devices.json");
  cmd->add_option("--from-clixml", options.from_clixml,
                  "Export-Clixml file to read (UTF-8 or UTF-16)")
      ->required();
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
  const bool show_progress = !options.quiet && isTerminal(stderr);
  ProgressLine progress(options.from_clixml.filename().string());
  agent::ProgressCallback on_progress;
  if (show_progress)
    on_progress = [&](std::size_t done, std::size_t total) { progress.update(done, total); };

  auto inventory = agent::readInventoryFromClixml(options.from_clixml, on_progress);
  progress.end();
  if (!inventory) {
    std::cerr << "easgate export: " << inventory.error().message << "\n";
    return exitCodeFor(inventory.error().code);
  }

  agent::ExportOptions export_options;
  export_options.csv_formula_guard = !options.no_formula_guard;
  auto written =
      agent::writeInventory(inventory->records, *format, options.out, std::cout, export_options);
  if (!written) {
    std::cerr << "easgate export: " << written.error().message << "\n";
    return exitCodeFor(written.error().code);
  }

  const auto& counts = inventory->counts;
  if (!options.quiet) {
    std::cerr << "easgate export: " << inventory->records.size() << " devices (" << counts.devices
              << " MobileDevice, " << counts.statistics << " statistics, " << counts.mailboxes
              << " CASMailbox objects read";
    if (counts.ignored) std::cerr << "; " << counts.ignored << " other values skipped";
    std::cerr << ")";
    if (options.out) std::cerr << " written to " << options.out->string();
    std::cerr << "\n";
  }
  if (inventory->records.empty() && counts.ignored > 0 && !options.quiet) {
    std::cerr << "easgate export: warning: " << options.from_clixml.string()
              << " holds no Get-MobileDevice or Get-MobileDeviceStatistics objects\n";
  }
  return kExitOk;
}

}  // namespace easgate::service
