#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/result.h"
#include "powershell/bridge/bridge_error.h"
#include "powershell/bridge/request.h"
#include "powershell/clixml/property_view.h"
#include "powershell/clixml/ps_value.h"

namespace easgate::powershell {

struct BridgeResult {
  std::vector<PsValue> objects;  // empty when a BatchSink took them
  std::vector<std::string> warnings;
  std::size_t count = 0;  // output objects, as the bridge counted them
};

// Receives output objects a batch at a time, so a large result never sits in memory whole:
// as values, or one object at a time as a PropertyView (ofObjects), for a caller that reads a
// few properties of many objects; a bridge process then builds no tree of values for them.
class BatchSink {
 public:
  using Values = std::function<void(std::vector<PsValue>&& batch)>;
  using Objects = std::function<void(const PropertyView& object)>;

  BatchSink() = default;
  // Implicit, so that a function taking a batch is a sink wherever one is asked for.
  template <typename F>
  requires std::is_invocable_v<F&, std::vector<PsValue> &&> BatchSink(F values)
      : values_(std::move(values)) {}
  static BatchSink ofObjects(Objects each) {
    BatchSink sink;
    sink.objects_ = std::move(each);
    return sink;
  }

  explicit operator bool() const { return values_ || objects_; }
  // The objects function, for a producer that can read objects without building them.
  const Objects* objects() const { return objects_ ? &objects_ : nullptr; }

  // Hands a batch over: whole, or object by object as forEachObject() visits them.
  void operator()(std::vector<PsValue>&& batch) const {
    if (values_) {
      values_(std::move(batch));
      return;
    }
    for (const PsValue& value : batch) {
      forEachObject(value, [&](const PsObject& object) { objects_(PsObjectView(object)); });
    }
  }

 private:
  Values values_;
  Objects objects_;
};

// The same for several requests at once: which request (its index) the batch or object answers.
class IndexedBatchSink {
 public:
  using Values = std::function<void(std::size_t request, std::vector<PsValue>&& batch)>;
  using Objects = std::function<void(std::size_t request, const PropertyView& object)>;

  IndexedBatchSink() = default;
  // Implicit, as BatchSink's.
  template <typename F>
  requires std::is_invocable_v<F&, std::size_t, std::vector<PsValue> &&> IndexedBatchSink(F values)
      : values_(std::move(values)) {}
  static IndexedBatchSink ofObjects(Objects each) {
    IndexedBatchSink sink;
    sink.objects_ = std::move(each);
    return sink;
  }

  explicit operator bool() const { return values_ || objects_; }

  // Request `index`'s share, taking what this one takes; none when this is none (the objects
  // then go into the outcome). It refers to this sink: use it while this one lives.
  BatchSink of(std::size_t index) const {
    if (values_) {
      return [this, index](std::vector<PsValue>&& batch) { values_(index, std::move(batch)); };
    }
    if (objects_) {
      return BatchSink::ofObjects(
          [this, index](const PropertyView& object) { objects_(index, object); });
    }
    return {};
  }

  // This sink for requests renumbered: request j of the new numbering is request `indexes[j]`
  // of this one's. Refers to both: use it while they live.
  IndexedBatchSink renumbered(const std::vector<std::size_t>& indexes) const {
    if (values_) {
      return [this, &indexes](std::size_t j, std::vector<PsValue>&& batch) {
        values_(indexes[j], std::move(batch));
      };
    }
    if (objects_) {
      return ofObjects([this, &indexes](std::size_t j, const PropertyView& object) {
        objects_(indexes[j], object);
      });
    }
    return {};
  }

 private:
  Values values_;
  Objects objects_;
};
using BridgeOutcome = Result<BridgeResult, BridgeError>;

// One request's answer as a bridge received it: its outcome, and the output batches kept as
// the bridge wrote them (CLIXML), not yet read. Reading them needs no bridge (readAnswers), so
// a pool lets its bridge answer the next caller while this one reads.
struct ReceivedAnswer {
  BridgeOutcome outcome = BridgeResult{};
  std::vector<std::string> batches;
};

// The outcomes of received answers, their kept batches read: objects to `sink` with their
// request's index, or into each outcome when there is no sink, as Bridge::runEach gives them. A
// batch that cannot be read fails its request (kBridgeFailed, retryable).
std::vector<BridgeOutcome> readAnswers(std::vector<ReceivedAnswer> answers,
                                       const IndexedBatchSink& sink);

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
  // than one each. Each request's objects reach the sink in their order, but not always after
  // the objects of the requests before it (batches kept unread are read once the bridge has
  // answered, later ones may have been read as they came): tell them apart by the index.
  std::vector<BridgeOutcome> runEach(const std::vector<BridgeRequest>& requests,
                                     const IndexedBatchSink& sink) {
    return readAnswers(receiveEach(requests, sink), sink);
  }

  // runEach's first half, the one that needs the bridge: the answers, with batches kept unread
  // as far as the bridge keeps them (a bridge process keeps up to a budget of bytes and reads
  // the rest into `sink` as it comes). This one runs the requests one by one and keeps nothing.
  virtual std::vector<ReceivedAnswer> receiveEach(const std::vector<BridgeRequest>& requests,
                                                  const IndexedBatchSink& sink) {
    std::vector<ReceivedAnswer> answers;
    answers.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      answers.push_back(ReceivedAnswer{run(requests[i], sink.of(i)), {}});
    }
    return answers;
  }

  // False once the bridge has crashed, hung or exited; it will not answer again.
  virtual bool healthy() const = 0;
};

}  // namespace easgate::powershell
