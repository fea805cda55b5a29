#pragma once

// `easgate run` started in the background the POSIX way (fork, exec, signals later), for the
// tests of the running agent's process life. (On Windows the service is started and stopped
// through the service manager by tests/installer/windows_service_check.sh.)
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/service/cli_test_support.h"

namespace easgate::testing {

// `easgate run` started in the background: its process and the port it listens on (0 when it
// did not come up within half a minute).
struct RunningAgent {
  pid_t pid = -1;
  int port = 0;
};

// Starts `easgate run --config <dir>/easgate.json` on a free port, with `environment` added to
// its own; its log (standard error) is appended to <dir>/run.log.
inline RunningAgent startEasgateRun(
    const std::filesystem::path& dir,
    const std::vector<std::pair<std::string, std::string>>& environment = {}) {
  const std::filesystem::path port_file = dir / "port";
  std::filesystem::remove(port_file);
  RunningAgent agent;
  agent.pid = ::fork();
  if (agent.pid == 0) {
    for (const auto& [name, value] : environment) ::setenv(name.c_str(), value.c_str(), 1);
    const std::string config = (dir / "easgate.json").string();
    const std::string port_path = port_file.string();
    const std::string log = (dir / "run.log").string();
    if (!std::freopen(log.c_str(), "a", stderr)) ::_exit(126);
    ::execl(EASGATE_BINARY, EASGATE_BINARY, "run", "--config", config.c_str(), "--port", "0",
            "--port-file", port_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Starting takes a moment (the bridges, the store); give up after a generous bound.
  for (int i = 0; i < 600 && !std::filesystem::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  agent.port = std::atoi(slurp(port_file).c_str());
  return agent;
}

}  // namespace easgate::testing
