#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "powershell/host/bridge.h"

namespace easgate::powershell {

// Starts one bridge (a BridgeProcess, or a test double).
using BridgeFactory = std::function<Result<std::unique_ptr<Bridge>, BridgeError>()>;

// N bridges behind one Bridge: at most `size` requests run at once (Exchange caps sessions
// per account: 18 on-premises by default, a few in Exchange Online), each on a warm bridge.
// A bridge that crashed or hung is replaced when its slot is next used. Bridges start at the
// priority of the thread that made the pool, whichever thread first needs them: a process and
// the threads that read it take the priority of the thread that starts them, and a harvest's
// threads run below normal (common/threads/priority.h) while commands use the same bridges.
class BridgePool final : public Bridge {
 public:
  BridgePool(BridgeFactory factory, std::size_t size);
  ~BridgePool() override;

  Result<BridgeResult, BridgeError> run(const BridgeRequest& request,
                                        const BatchSink& sink = {}) override;
  // All on one bridge of the pool, which goes back to the pool before runEach reads what it
  // kept of the answers: the next caller's requests are answered while this one reads.
  std::vector<ReceivedAnswer> receiveEach(const std::vector<BridgeRequest>& requests,
                                          const IndexedBatchSink& sink) override;
  bool healthy() const override { return true; }  // it replaces what fails

  // Starts every bridge now rather than on first use; returns the first failure, if any.
  Result<void, BridgeError> warm();

  struct Stats {
    std::size_t size = 0;
    std::size_t running = 0;   // bridges started and healthy
    std::size_t busy = 0;      // requests in flight
    std::size_t started = 0;   // bridges started, in all
    std::size_t replaced = 0;  // bridges dropped after a crash, hang or failure to start
    std::size_t requests = 0;
  };
  Stats stats() const;

 private:
  struct Slot {
    std::unique_ptr<Bridge> bridge;
    bool busy = false;
  };
  std::size_t acquire();
  void release(std::size_t slot, std::unique_ptr<Bridge> bridge);
  Result<Bridge*, BridgeError> ensureStarted(std::size_t slot, std::unique_ptr<Bridge>& bridge);

  BridgeFactory factory_;
  // For a caller below the pool's priority: starts bridges on threads at the pool's.
  class Starter;
  std::unique_ptr<Starter> starter_;
  mutable std::mutex mutex_;
  std::condition_variable slot_freed_;
  std::vector<Slot> slots_;
  Stats stats_;
};

}  // namespace easgate::powershell
