#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "agent/time/clock.h"

namespace easgate::testing {

// A clock that moves only when the test says so; whoever waits for it wakes when it does.
class ManualClock final : public agent::Clock {
 public:
  explicit ManualClock(std::int64_t start_ms) : now_(start_ms) {}
  std::int64_t nowMs() const override { return now_; }
  void advance(std::int64_t ms) {
    now_ += ms;
    notifyWaiters();
  }
  void set(std::int64_t ms) {
    now_ = ms;
    notifyWaiters();
  }

  void waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& wake,
                 std::int64_t until_ms, const std::function<bool()>& done) const override {
    const Waiter me{lock.mutex(), &wake};
    {
      std::lock_guard guard(waiters_mutex_);
      waiters_.push_back(me);
    }
    while (!done() && now_ < until_ms) wake.wait(lock);
    std::lock_guard guard(waiters_mutex_);
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), me));
  }

 private:
  using Waiter = std::pair<std::mutex*, std::condition_variable*>;
  void notifyWaiters() {
    std::vector<Waiter> waiters;
    {
      std::lock_guard guard(waiters_mutex_);
      waiters = waiters_;
    }
    // Under the waiter's own mutex, so a wait that has just looked at the time cannot miss it.
    for (auto [m, cv] : waiters) {
      std::lock_guard lock(*m);
      cv->notify_all();
    }
  }

  std::atomic<std::int64_t> now_;
  mutable std::mutex waiters_mutex_;
  mutable std::vector<Waiter> waiters_;
};

}  // namespace easgate::testing
