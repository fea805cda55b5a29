#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace easgate::service {

struct ExportCommandOptions {
  std::filesystem::path from_clixml;
  std::string format = "csv";
  std::optional<std::filesystem::path> out;
  bool no_formula_guard = false;
  bool quiet = false;
};

// Adds `easgate export` to the command line; the options are filled in when it is parsed.
CLI::App* addExportCommand(CLI::App& app, ExportCommandOptions& options);

// Runs `easgate export`; returns the process exit code.
int runExportCommand(const ExportCommandOptions& options);

}  // namespace easgate::service
