#pragma once

#include <chrono>
#include <cstdint>

namespace easgate::agent {

// Wall-clock time for everything the agent schedules or records, as Unix milliseconds.
// Injected, so tests move time by hand instead of sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t nowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t nowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace easgate::agent
