#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace easgate::agent {

// Items handed from the thread that reads an answer of Exchange to a thread of its own that
// stores them, a batch at a time and in the order given, so that parsing the next objects and
// storing the last ones run side by side. At most `waiting` full batches wait for the consumer:
// a reader faster than the store then waits, and memory stays bounded whatever the answer's
// size. `consume` runs on the handoff's thread only, one batch at a time.
template <class T>
class Handoff {
 public:
  using Consume = std::function<void(std::vector<T>&)>;

  Handoff(std::size_t batch, std::size_t waiting, Consume consume)
      : batch_(batch == 0 ? 1 : batch),
        waiting_(waiting == 0 ? 1 : waiting),
        consume_(std::move(consume)),
        consumer_([this] { consumeAll(); }) {
    filling_.reserve(batch_);
  }
  Handoff(const Handoff&) = delete;
  Handoff& operator=(const Handoff&) = delete;
  ~Handoff() { finish(); }

  // Hands one item on; waits while `waiting` full batches are not yet taken.
  void push(T item) {
    filling_.push_back(std::move(item));
    if (filling_.size() >= batch_) handOn();
  }

  // Hands on what is left and returns once every item has been consumed. Called by the
  // producer; idempotent.
  void finish() {
    if (!consumer_.joinable()) return;
    if (!filling_.empty()) handOn();
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    changed_.notify_all();
    consumer_.join();
  }

  // Called, with the count of items pushed so far, each time push() waits for the consumer. For
  // tests of the bound; set before the first push.
  void onWaitForTest(std::function<void(std::size_t)> hook) { on_wait_ = std::move(hook); }

 private:
  void handOn() {
    std::unique_lock lock(mutex_);
    bool told = false;
    changed_.wait(lock, [&] {
      if (full_.size() < waiting_) return true;
      if (on_wait_ && !told) on_wait_(pushed_ + filling_.size());
      told = true;
      return false;
    });
    pushed_ += filling_.size();
    full_.push_back(std::move(filling_));
    filling_ = {};
    filling_.reserve(batch_);
    lock.unlock();
    changed_.notify_all();
  }

  void consumeAll() {
    while (true) {
      std::vector<T> next;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !full_.empty() || done_; });
        if (full_.empty()) return;  // done, and nothing left
        next = std::move(full_.front());
        full_.pop_front();
      }
      changed_.notify_all();
      consume_(next);
    }
  }

  const std::size_t batch_;
  const std::size_t waiting_;
  Consume consume_;
  std::function<void(std::size_t)> on_wait_;
  std::vector<T> filling_;  // the producer's own
  std::size_t pushed_ = 0;  // under mutex_
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<T>> full_;  // under mutex_
  bool done_ = false;                // under mutex_
  std::thread consumer_;             // last: starts once the rest is built
};

}  // namespace easgate::agent
