#include "powershell/host/bridge_pool.h"

#include <spdlog/spdlog.h>

namespace easgate::powershell {

BridgePool::BridgePool(BridgeFactory factory, std::size_t size)
    : factory_(std::move(factory)), slots_(size == 0 ? 1 : size) {
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
  auto started = factory_();
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
