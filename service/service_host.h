#pragma once

#include <functional>
#include <string>

namespace easgate::service {

// What a long-running agent tells its host, and hears from it. On Windows the host is the
// Service Control Manager (or the console, when started from one); on POSIX it is systemd
// (when NOTIFY_SOCKET is set) or the terminal.
class ServiceEvents {
 public:
  virtual ~ServiceEvents() = default;
  // `stop` runs once when the host asks the agent to stop (SCM stop or shutdown, SIGTERM,
  // SIGINT, Ctrl+C), on a thread of its own.
  virtual void onStop(std::function<void()> stop) = 0;
  // The agent is serving (SERVICE_RUNNING; READY=1).
  virtual void ready(const std::string& status) = 0;
  // The agent is shutting down (SERVICE_STOP_PENDING; STOPPING=1).
  virtual void stopping() = 0;
  // The agent could not start: to the Event Log on Windows, the system log on POSIX, and
  // stderr everywhere.
  virtual void startFailed(const std::string& why) = 0;
};

// Runs `body` as this platform's service named `name` and returns its exit code. The
// platform's file (posix/service_host.cpp, windows/service_host.cpp) holds all the rest.
int runAsService(const std::string& name, const std::function<int(ServiceEvents&)>& body);

}  // namespace easgate::service
