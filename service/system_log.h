#pragma once

#include <spdlog/sinks/sink.h>

#include <string>

namespace easgate::service {

// The platform's system log as a spdlog sink: syslog (posix/), the Event Log (windows/).
// Null when it cannot be opened.
spdlog::sink_ptr systemLogSink(const std::string& name);

}  // namespace easgate::service
