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

// Request `index`'s share of an indexed sink; none when `sink` is none (the objects then go into
// the outcome). The sink returned refers to `sink`: use it while `sink` lives.
inline BatchSink sinkOfRequest(const IndexedBatchSink& sink, std::size_t index) {
  if (!sink) return {};
  return [&sink, index](std::vector<PsValue>&& batch) { sink(index, std::move(batch)); };
}

// `sink` for requests renumbered: request j of the new numbering is request `indexes[j]` of
// `sink`'s. None when `sink` is none. Refers to both: use it while they live.
inline IndexedBatchSink renumberedSink(const IndexedBatchSink& sink,
                                       const std::vector<std::size_t>& indexes) {
  if (!sink) return {};
  return [&sink, &indexes](std::size_t j, std::vector<PsValue>&& batch) {
    sink(indexes[j], std::move(batch));
  };
}

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
  // into each outcome when there is no sink. A bridge process takes them all at once and
  // answers one after the other, so many small requests cost one wait for the bridge rather
  // than one each. This one runs them one by one.
  virtual std::vector<BridgeOutcome> runEach(const std::vector<BridgeRequest>& requests,
                                             const IndexedBatchSink& sink) {
    std::vector<BridgeOutcome> outcomes;
    outcomes.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      outcomes.push_back(run(requests[i], sinkOfRequest(sink, i)));
    }
    return outcomes;
  }

  // False once the bridge has crashed, hung or exited; it will not answer again.
  virtual bool healthy() const = 0;
};

}  // namespace easgate::powershell
