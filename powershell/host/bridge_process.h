#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "powershell/host/bridge.h"
#include "powershell/host/bridge_command.h"

namespace easgate::powershell {

struct BridgeProcessOptions {
  std::chrono::milliseconds connect_timeout{std::chrono::minutes(2)};  // until the ready frame
  std::chrono::milliseconds request_timeout{std::chrono::minutes(5)};  // until a request is done
  // Each line the bridge writes to stderr (PowerShell's own messages, stray output).
  std::function<void(std::string_view line)> on_stderr;
  // Frames read ahead of the caller, at most (one frame more): beyond it the host stops reading,
  // the pipe fills and the bridge waits. A caller slower than Exchange (a harvest writing what
  // it reads) then holds a few batches in memory, never the whole answer.
  std::size_t read_ahead_bytes = 8 << 20;
  // Batches receiveEach keeps unread, at most: what comes beyond it is read as it comes, the
  // request it belongs to from its first batch on, so a request's objects keep their order.
  std::size_t keep_answers_bytes = 4 << 20;
};

// One long-lived bridge process (Boost.Process): requests go in as JSON lines, frames come
// back. A request that times out kills the process; a crash fails the request in flight as
// retryable. Either way the process is unhealthy afterwards and a pool replaces it.
class BridgeProcess final : public Bridge {
 public:
  // Starts the process and waits for its ready frame.
  static Result<std::unique_ptr<BridgeProcess>, BridgeError> start(const BridgeCommand& command,
                                                                   BridgeProcessOptions options);
  ~BridgeProcess() override;

  Result<BridgeResult, BridgeError> run(const BridgeRequest& request,
                                        const BatchSink& sink = {}) override;
  // Sends the requests together and receives the answers in order, their batches kept unread
  // up to keep_answers_bytes (see Bridge::receiveEach).
  std::vector<ReceivedAnswer> receiveEach(const std::vector<BridgeRequest>& requests,
                                          const IndexedBatchSink& sink) override;
  bool healthy() const override;

  // Closes the bridge's stdin, which asks it to end its session and exit, and waits up to
  // `grace` for that before killing it. Returns the exit code, or nullopt if it had to be
  // killed. The destructor does this with a grace of 5 s.
  std::optional<int> close(std::chrono::milliseconds grace = std::chrono::seconds(5));

  int pid() const;
  // What the bridge said in its ready frame (JSON).
  const std::string& readyInfo() const;
  // Heartbeat frames received so far (a bridge sends them while idle).
  std::size_t heartbeats() const;
  // The most frame bytes ever read ahead of the caller (see read_ahead_bytes).
  std::size_t peakReadAheadBytes() const;

  // Sends a request the allowlist would refuse (the simulator's Sim- controls); tests only.
  Result<BridgeResult, BridgeError> runUncheckedForTest(const BridgeRequest& request);

 private:
  struct Impl;
  explicit BridgeProcess(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace easgate::powershell
