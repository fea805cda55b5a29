#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "service/exchange_options.h"

namespace CLI {
class App;
}

namespace easgate::service {

struct ExportCommandOptions {
  std::optional<std::filesystem::path> from_clixml;  // else the store
  std::filesystem::path data_directory;
  bool live = false;  // harvest now, then export
  ExchangeOptions exchange;
  std::string format = "csv";
  std::optional<std::filesystem::path> out;  // "-" or none: standard output
  std::string columns;                       // "DeviceId,DeviceAccessState"; all when empty
  bool excel = false;                        // CSV with a byte order mark and dates Excel reads
  bool no_formula_guard = false;
  bool quiet = false;
};

// Adds `easgate export` to the command line; the options are filled in when it is parsed.
CLI::App* addExportCommand(CLI::App& app, ExportCommandOptions& options);

// Runs `easgate export`; returns the process exit code.
int runExportCommand(const ExportCommandOptions& options);

}  // namespace easgate::service
