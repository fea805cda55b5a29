#include "service/system_log.h"

#include <spdlog/sinks/syslog_sink.h>
#include <syslog.h>

namespace easgate::service {

spdlog::sink_ptr systemLogSink(const std::string& name) {
  // Warnings and worse only: stderr (which journald also keeps) has the rest.
  auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>(name, LOG_PID, LOG_DAEMON, true);
  sink->set_level(spdlog::level::warn);
  return sink;
}

}  // namespace easgate::service
