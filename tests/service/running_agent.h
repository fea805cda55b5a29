#pragma once

// `easgate run` started in the background the POSIX way (fork, exec, signals later), for the
// tests of the running agent's process life. (On Windows the service is started and stopped
// through the service manager by tests/installer/windows_service_check.sh.)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/service/cli_test_support.h"

namespace easgate::testing {

// `easgate run` started in the background: its process and the port it listens on (0 when it
// did not come up within half a minute, or exited first: then `exit_status` is waitpid's).
struct RunningAgent {
  pid_t pid = -1;
  int port = 0;
  std::optional<int> exit_status;
};

// Starts `easgate run --config <dir>/easgate.json` on a free port, with `environment` added to
// its own; its log (standard error) is appended to <dir>/run.log. It writes the port it
// listens on to `port_file` (<dir>/port when none is given).
inline RunningAgent startEasgateRun(
    const std::filesystem::path& dir,
    const std::vector<std::pair<std::string, std::string>>& environment = {},
    std::filesystem::path port_file = {}) {
  if (port_file.empty()) port_file = dir / "port";
  std::filesystem::remove(port_file);
  RunningAgent agent;
  agent.pid = ::fork();
  if (agent.pid == 0) {
    ::setpgid(0, 0);  // its own group, with its bridges: see stopProcessGroup
    for (const auto& [name, value] : environment) ::setenv(name.c_str(), value.c_str(), 1);
    const std::string config = (dir / "easgate.json").string();
    const std::string port_path = port_file.string();
    const std::string log = (dir / "run.log").string();
    if (!std::freopen(log.c_str(), "a", stderr)) ::_exit(126);
    ::execl(EASGATE_BINARY, EASGATE_BINARY, "run", "--config", config.c_str(), "--port", "0",
            "--port-file", port_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(agent.pid, agent.pid);
  // Starting takes a moment (the bridges, the store); give up after a generous bound, or as
  // soon as the agent has exited.
  for (int i = 0; i < 600; ++i) {
    agent.port = std::atoi(slurp(port_file).c_str());
    if (agent.port > 0) break;
    int status = 0;
    if (::waitpid(agent.pid, &status, WNOHANG) == agent.pid) {
      agent.exit_status = status;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return agent;
}

// Waits until every process of the group `group` (an agent and its bridges) is gone.
inline bool waitForProcessGroup(pid_t group, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (::kill(-group, 0) == 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Stops a process started in its own group (setpgid) and everything it started: `signal` to the
// process, then the whole group once it is reaped. A test's folder may be removed only after
// this: a bridge outlives a killed agent until it reads the end of its input, and the simulator
// saves its organisation on the way out.
inline void stopProcessGroup(pid_t pid, int signal = SIGTERM) {
  if (pid <= 0) return;
  ::kill(pid, signal);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (::waitpid(pid, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!waitForProcessGroup(pid, std::chrono::seconds(10))) {
    ::kill(-pid, SIGKILL);
    waitForProcessGroup(pid, std::chrono::seconds(10));
  }
}

}  // namespace easgate::testing
