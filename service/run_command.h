#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace easgate::service {

struct RunCommandOptions {
  std::filesystem::path config_file;
  std::optional<int> port;          // overrides listen.port
  std::filesystem::path port_file;  // where to write the port listened on (for scripts)
};

// Adds `easgate run`: the agent as a service: the engine and the 9090 listener, configured by
// a file. The Windows service and the systemd unit run this.
CLI::App* addRunCommand(CLI::App& app, RunCommandOptions& options);

int runRunCommand(const RunCommandOptions& options);

}  // namespace easgate::service
