#include "powershell/host/batch_reading.h"

#include <iterator>
#include <utility>

#include "powershell/clixml/reader.h"

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

}  // namespace easgate::powershell
