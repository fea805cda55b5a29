#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "powershell/bridge/bridge_error.h"
#include "powershell/bridge/request.h"
#include "powershell/clixml/ps_value.h"

namespace easgate::powershell {

struct BridgeResult {
  std::vector<PsValue> objects;  // empty when a BatchSink took them
  std::vector<std::string> warnings;
  std::size_t count = 0;  // output objects, as the bridge counted them
};

// Receives output objects a batch at a time, so a large result never sits in memory whole.
using BatchSink = std::function<void(std::vector<PsValue>&& batch)>;
// The same for several requests at once: which request (its index) the batch answers.
using IndexedBatchSink = std::function<void(std::size_t request, std::vector<PsValue>&& batch)>;
using BridgeOutcome = Result<BridgeResult, BridgeError>;

// Something that runs allowlisted cmdlets in a PowerShell runspace connected to Exchange:
// one bridge process, or a pool of them. Requests are validated against the allowlist first.
class Bridge {
 public:
  virtual ~Bridge() = default;

  // Runs one request; objects go to `sink` if given, else into the result.
  virtual Result<BridgeResult, BridgeError> run(const BridgeRequest& request,
                                                const BatchSink& sink = {}) = 0;

  // Runs several requests, in order, each as run() would: one outcome per request (a request
  // that fails does not stop the others), objects to `sink` with their request's index, or
  // into each outcome when there is no sink. A
  // bridge process takes them all at once and answers one after the other, so many small
  // requests cost one wait for the bridge rather than one each. This one runs them one by one.
  virtual std::vector<BridgeOutcome> runEach(const std::vector<BridgeRequest>& requests,
                                             const IndexedBatchSink& sink) {
    std::vector<BridgeOutcome> outcomes;
    outcomes.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      BatchSink to_sink;
      if (sink) to_sink = [&](std::vector<PsValue>&& batch) { sink(i, std::move(batch)); };
      outcomes.push_back(run(requests[i], to_sink));
    }
    return outcomes;
  }

  // False once the bridge has crashed, hung or exited; it will not answer again.
  virtual bool healthy() const = 0;
};

}  // namespace easgate::powershell
