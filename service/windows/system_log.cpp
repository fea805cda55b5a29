#include "service/system_log.h"

#include <spdlog/sinks/win_eventlog_sink.h>

namespace easgate::service {

spdlog::sink_ptr systemLogSink(const std::string& name) {
  // The installer registers the Event Log source under the service's name.
  auto sink = std::make_shared<spdlog::sinks::win_eventlog_sink_mt>(name);
  sink->set_level(spdlog::level::warn);
  return sink;
}

}  // namespace easgate::service
