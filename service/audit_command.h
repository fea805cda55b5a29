#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace CLI {
class App;
}

namespace easgate::service {

struct AuditCommandOptions {
  std::filesystem::path data_directory;
  std::string expect_head;  // verify: a head hash noted earlier, in hex
  // list:
  std::string since, until, actor, action, target;
  std::size_t limit = 50;
  std::int64_t before = 0;
  std::string format = "table";
};

struct AuditCommands {
  CLI::App* verify = nullptr;
  CLI::App* list = nullptr;
};

// Adds `easgate audit verify` and `easgate audit list` to the command line.
AuditCommands addAuditCommand(CLI::App& app, AuditCommandOptions& options);

// Runs `easgate audit verify`; returns the process exit code.
int runAuditVerify(const AuditCommandOptions& options);

// Runs `easgate audit list`: the trail from the store, newest first.
int runAuditList(const AuditCommandOptions& options);

}  // namespace easgate::service
