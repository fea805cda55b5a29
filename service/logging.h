#pragma once

#include <memory>
#include <string>

#include <spdlog/formatter.h>

#include "service/agent_config.h"

namespace easgate::service {

// Routes spdlog to stderr, a rotating file, and the system's log (syslog, which journald
// collects, or the Windows Event Log). Returns a warning when a sink could not be opened; the
// others still work.
std::string setupLogging(const LogConfig& config, const std::string& name);

// log.format "json": each message as one JSON object on one line, with stable keys in this
// order: time (UTC, ISO 8601, as the API writes times), level (trace, debug, info, warn,
// error, critical), logger, thread, message. The message is escaped, so a line break or a
// quote from a request never starts a forged line.
std::unique_ptr<spdlog::formatter> makeJsonLogFormatter();

}  // namespace easgate::service
