#pragma once

#include <atomic>
#include <cstdint>

#include "agent/time/clock.h"

namespace easgate::testing {

// A clock that moves only when the test says so.
class ManualClock final : public agent::Clock {
 public:
  explicit ManualClock(std::int64_t start_ms) : now_(start_ms) {}
  std::int64_t nowMs() const override { return now_; }
  void advance(std::int64_t ms) { now_ += ms; }
  void set(std::int64_t ms) { now_ = ms; }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace easgate::testing
