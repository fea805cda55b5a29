#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace easgate::agent {

// Wall-clock time for everything the agent schedules or records, as Unix milliseconds, and
// waiting for it. Injected, so tests move time by hand instead of sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t nowMs() const = 0;

  // With `lock` held: returns once `done()` holds (checked whenever `wake` is notified) or this
  // clock reaches `until_ms`, whichever comes first.
  virtual void waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& wake,
                         std::int64_t until_ms, const std::function<bool()>& done) const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t nowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& wake,
                 std::int64_t until_ms, const std::function<bool()>& done) const override {
    while (!done()) {
      const std::int64_t left = until_ms - nowMs();
      if (left <= 0) return;
      wake.wait_for(lock, std::chrono::milliseconds(left));
    }
  }
};

}  // namespace easgate::agent
