#include "powershell/host/bridge_pool.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <future>
#include <thread>

#include "common/threads/priority.h"

namespace easgate::powershell {

// A thread made with the pool, and so at its maker's priority, that starts bridges for callers
// running below it. Each start gets a thread of its own, made by this one (so at its priority):
// bridges start side by side, as when each caller starts its own.
class BridgePool::Starter {
 public:
  using Started = Result<std::unique_ptr<Bridge>, BridgeError>;

  Starter() : priority_(threads::thisThreadPriority()), thread_([this] { run(); }) {}
  ~Starter() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  // Whether the calling thread runs below the pool's priority.
  bool below() const {
    return priority_ == threads::Priority::kNormal &&
           threads::thisThreadPriority() == threads::Priority::kBelowNormal;
  }

  // Runs `factory` on a thread at the pool's priority; returns what it returned.
  Started start(const BridgeFactory& factory) {
    std::packaged_task<Started()> task([&factory] { return factory(); });
    auto started = task.get_future();
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_all();
    return started.get();
  }

 private:
  struct Starting {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      std::erase_if(starting_, [](Starting& s) {
        if (!*s.done) return false;
        s.thread.join();
        return true;
      });
      if (tasks_.empty()) break;  // stopping
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      auto done = std::make_shared<std::atomic<bool>>(false);
      starting_.push_back({std::thread([task = std::move(task), done]() mutable {
                             task();
                             *done = true;
                           }),
                           done});
    }
    lock.unlock();
    for (auto& s : starting_) s.thread.join();
  }

  const threads::Priority priority_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<Started()>> tasks_;
  std::vector<Starting> starting_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the members above are ready
};

BridgePool::BridgePool(BridgeFactory factory, std::size_t size)
    : factory_(std::move(factory)),
      starter_(std::make_unique<Starter>()),
      slots_(size == 0 ? 1 : size) {
  stats_.size = slots_.size();
}

BridgePool::~BridgePool() = default;

std::size_t BridgePool::acquire() {
  std::unique_lock lock(mutex_);
  std::size_t chosen = slots_.size();
  slot_freed_.wait(lock, [&] {
    // Prefer a slot whose bridge is already running: warm bridges answer in milliseconds.
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].busy && slots_[i].bridge) return chosen = i, true;
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].busy) return chosen = i, true;
    }
    return false;
  });
  slots_[chosen].busy = true;
  ++stats_.busy;
  ++stats_.requests;
  return chosen;
}

void BridgePool::release(std::size_t slot, std::unique_ptr<Bridge> bridge) {
  std::unique_ptr<Bridge> dropped;
  {
    std::lock_guard lock(mutex_);
    if (bridge && !bridge->healthy()) {
      // Its process crashed, hung or lost Exchange: the next request on this slot starts another.
      spdlog::warn("bridge pool: the bridge in slot {} failed and will be replaced", slot);
      dropped = std::move(bridge);
      ++stats_.replaced;
    }
    slots_[slot].bridge = std::move(bridge);
    slots_[slot].busy = false;
    --stats_.busy;
  }
  slot_freed_.notify_one();
  // `dropped` is destroyed here, outside the lock: stopping a process takes a moment.
}

Result<Bridge*, BridgeError> BridgePool::ensureStarted(std::size_t slot,
                                                       std::unique_ptr<Bridge>& bridge) {
  if (bridge && bridge->healthy()) return bridge.get();
  if (bridge) {
    std::lock_guard lock(mutex_);
    ++stats_.replaced;
  }
  bridge.reset();
  auto started = starter_->below() ? starter_->start(factory_) : factory_();
  if (!started) {
    spdlog::error("bridge pool: slot {}: no bridge could be started: {}", slot,
                  started.error().message);
    return started.error();
  }
  bridge = std::move(started).value();
  std::lock_guard lock(mutex_);
  ++stats_.started;
  spdlog::info("bridge pool: slot {}: bridge started ({} started in all, {} replaced)", slot,
               stats_.started, stats_.replaced);
  return bridge.get();
}

Result<BridgeResult, BridgeError> BridgePool::run(const BridgeRequest& request,
                                                  const BatchSink& sink) {
  if (auto valid = validateRequest(request); !valid) {
    return BridgeError{BridgeErrc::kInvalidArgument, valid.error().message, "", 0};
  }
  const std::size_t slot = acquire();
  std::unique_ptr<Bridge> bridge;
  {
    std::lock_guard lock(mutex_);
    bridge = std::move(slots_[slot].bridge);
  }
  auto ready = ensureStarted(slot, bridge);
  if (!ready) {
    release(slot, nullptr);
    return ready.error();
  }
  auto result = ready.value()->run(request, sink);
  release(slot, std::move(bridge));
  return result;
}

std::vector<ReceivedAnswer> BridgePool::receiveEach(const std::vector<BridgeRequest>& requests,
                                                    const IndexedBatchSink& sink) {
  if (requests.empty()) return {};
  // All on one bridge, which checks each request against the allowlist.
  const std::size_t slot = acquire();
  std::unique_ptr<Bridge> bridge;
  {
    std::lock_guard lock(mutex_);
    bridge = std::move(slots_[slot].bridge);
    stats_.requests += requests.size() - 1;  // acquire() counted one
  }
  auto ready = ensureStarted(slot, bridge);
  if (!ready) {
    release(slot, nullptr);
    std::vector<ReceivedAnswer> failed(requests.size());
    for (auto& answer : failed) answer.outcome = ready.error();
    return failed;
  }
  auto answers = ready.value()->receiveEach(requests, sink);
  release(slot, std::move(bridge));
  return answers;
}

Result<void, BridgeError> BridgePool::warm() {
  std::vector<std::size_t> taken;
  std::optional<BridgeError> first_error;
  for (std::size_t i = 0; i < slots_.size(); ++i) taken.push_back(acquire());
  for (std::size_t slot : taken) {
    std::unique_ptr<Bridge> bridge;
    {
      std::lock_guard lock(mutex_);
      bridge = std::move(slots_[slot].bridge);
      --stats_.requests;  // warming is not a request
    }
    auto ready = ensureStarted(slot, bridge);
    if (!ready && !first_error) first_error = ready.error();
    release(slot, std::move(bridge));
  }
  if (first_error) return *first_error;
  return {};
}

BridgePool::Stats BridgePool::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.running = s.busy;  // a busy slot's bridge is out, running a request
  for (const auto& slot : slots_) {
    if (!slot.busy && slot.bridge && slot.bridge->healthy()) ++s.running;
  }
  return s;
}

}  // namespace easgate::powershell
