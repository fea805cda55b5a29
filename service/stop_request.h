#pragma once

#include <functional>
#include <mutex>

namespace easgate::service {

// A request to stop the program (SIGINT or SIGTERM, Ctrl+C, the service manager), which may come
// at any time: before the thing it stops exists, while it runs, after it is gone. Made first,
// before any thread starts, and given to onStopRequest() or a ServiceEvents' onStop() at once:
// on POSIX that blocks the signals for every thread started after it, so that a signal reaches
// the one thread that waits for it rather than a thread that would let it kill the process.
class StopRequest {
 public:
  // A stop was asked for: calls what it was handed to, or remembers it until something is.
  void request() {
    std::lock_guard lock(mutex_);
    requested_ = true;
    if (stop_) stop_();
  }

  // From now on a request calls `stop`, at once if one came already; nullptr before what it
  // stops goes away.
  void handTo(std::function<void()> stop) {
    std::lock_guard lock(mutex_);
    stop_ = std::move(stop);
    if (requested_ && stop_) stop_();
  }

 private:
  std::mutex mutex_;
  bool requested_ = false;
  std::function<void()> stop_;
};

}  // namespace easgate::service
