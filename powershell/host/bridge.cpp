#include "powershell/host/bridge.h"

#include <cassert>
#include <utility>

#include "powershell/host/batch_reading.h"

namespace easgate::powershell {

std::vector<BridgeOutcome> readAnswers(std::vector<ReceivedAnswer> answers,
                                       const IndexedBatchSink& sink) {
  std::vector<BridgeOutcome> outcomes;
  outcomes.reserve(answers.size());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    ReceivedAnswer& answer = answers[i];
    const BatchSink own = sink.of(i);
    // A request's batches are kept only while none of its objects has been read, so they are
    // all of them, in order. They go to the sink also for a request that failed after some
    // came, as they would have while it ran; without a sink they go into its outcome, and a
    // failure has none to keep.
    if (!answer.outcome && !own) {
      outcomes.push_back(std::move(answer.outcome));
      continue;
    }
    std::vector<PsValue> none;  // a failed request's objects, which go to the sink or nowhere
    std::vector<PsValue>& objects = answer.outcome ? answer.outcome->objects : none;
    assert(answer.batches.empty() || objects.empty());
    for (std::string& batch : answer.batches) {
      if (auto read = readBatchInto(std::move(batch), own, objects); !read) {
        if (answer.outcome) answer.outcome = read.error();  // a failure keeps its own error
        break;
      }
    }
    outcomes.push_back(std::move(answer.outcome));
  }
  return outcomes;
}

}  // namespace easgate::powershell
