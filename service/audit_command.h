#pragma once

#include <filesystem>
#include <string>

namespace CLI {
class App;
}

namespace easgate::service {

struct AuditCommandOptions {
  std::filesystem::path data_directory;
  std::string expect_head;  // a head hash noted earlier, in hex
};

// Adds `easgate audit verify` to the command line.
CLI::App* addAuditCommand(CLI::App& app, AuditCommandOptions& options);

// Runs `easgate audit verify`; returns the process exit code.
int runAuditVerify(const AuditCommandOptions& options);

}  // namespace easgate::service
