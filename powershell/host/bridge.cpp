#include "powershell/host/bridge.h"

#include <iterator>
#include <optional>
#include <utility>

#include "powershell/clixml/reader.h"
#include "powershell/host/batch_reading.h"

namespace easgate::powershell {

Result<void, BridgeError> readBatchInto(std::string payload, const BatchSink& sink,
                                        std::vector<PsValue>& into) {
  auto unreadable = [](const ClixmlError& e) {
    return BridgeError{BridgeErrc::kBridgeFailed, "unreadable batch from the bridge: " + e.message,
                       "", 0};
  };
  if (const BatchSink::Objects* each = sink.objects()) {
    if (auto read = readClixmlObjects(std::move(payload), *each); !read) {
      return unreadable(read.error());
    }
    return {};
  }
  auto values = readClixml(std::move(payload));
  if (!values) return unreadable(values.error());
  // A batch is one object[]; its items are the output.
  std::vector<PsValue> items;
  for (auto& v : values.value()) {
    const PsObject* o = v.asObject();
    if (o && o->container == PsContainer::kList && o->hasType("System.Object[]")) {
      items.insert(items.end(), o->items.begin(), o->items.end());
    } else {
      items.push_back(std::move(v));
    }
  }
  if (sink) {
    sink(std::move(items));
  } else {
    into.insert(into.end(), std::make_move_iterator(items.begin()),
                std::make_move_iterator(items.end()));
  }
  return {};
}

std::vector<BridgeOutcome> readAnswers(std::vector<ReceivedAnswer> answers,
                                       const IndexedBatchSink& sink) {
  std::vector<BridgeOutcome> outcomes;
  outcomes.reserve(answers.size());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    ReceivedAnswer& answer = answers[i];
    const BatchSink own = sink.of(i);
    // Objects go to the sink also for a request that failed after some came, as they would
    // have while it ran; without a sink they go with its outcome, and a failure has none.
    std::vector<PsValue> kept;
    std::optional<BridgeError> unreadable;
    for (std::string& batch : answer.batches) {
      if (auto read = readBatchInto(std::move(batch), own, kept); !read) {
        unreadable = read.error();
        break;
      }
    }
    if (unreadable && answer.outcome) answer.outcome = *unreadable;
    if (answer.outcome && !kept.empty()) {
      auto& objects = answer.outcome->objects;
      kept.insert(kept.end(), std::make_move_iterator(objects.begin()),
                  std::make_move_iterator(objects.end()));
      objects = std::move(kept);
    }
    outcomes.push_back(std::move(answer.outcome));
  }
  return outcomes;
}

}  // namespace easgate::powershell
