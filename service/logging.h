#pragma once

#include <string>

#include "service/agent_config.h"

namespace easgate::service {

// Routes spdlog to stderr, a rotating file, and the system's log (syslog, which journald
// collects, or the Windows Event Log). Returns a warning when a sink could not be opened; the
// others still work.
std::string setupLogging(const LogConfig& config, const std::string& name);

}  // namespace easgate::service
