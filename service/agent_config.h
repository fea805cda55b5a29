#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/api/access_policy.h"
#include "agent/transport/http_server.h"
#include "common/result.h"
#include "service/agent_runtime.h"

// The agent's configuration file (JSON; service/easgate.sample.json documents every key).
// Relative paths in it are relative to the file's folder. Unknown keys are errors, so a typo
// never silently leaves a default in place.
namespace easgate::service {

struct LogConfig {
  std::string file;  // default: <data_dir>/logs/easgate.log; "-" for none
  std::string level = "info";
  // "text" (a line for people) or "json" (one object per line, for a log collector: keys
  // time, level, logger, thread, message); the system log is always text.
  std::string format = "text";
  std::size_t max_size_mb = 10;
  std::size_t max_files = 5;
  bool system_log = true;  // syslog on Linux (journald reads it), the Event Log on Windows
};

struct AgentConfig {
  RuntimeOptions runtime;
  agent::transport::HttpServerOptions listen;
  std::vector<agent::api::ClientRule> clients;
  agent::api::Role anonymous_role = agent::api::Role::kNone;
  double requests_per_second = 100;
  double burst = 200;
  double command_deadline_hours = 168;
  LogConfig log;
};

// Reads and checks a configuration file. Errors name the key ("listen.port: ...").
Result<AgentConfig, std::string> loadAgentConfig(const std::filesystem::path& file);

}  // namespace easgate::service
