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

// Something that runs allowlisted cmdlets in a PowerShell runspace connected to Exchange:
// one bridge process, or a pool of them. Requests are validated against the allowlist first.
class Bridge {
 public:
  virtual ~Bridge() = default;

  // Runs one request; objects go to `sink` if given, else into the result.
  virtual Result<BridgeResult, BridgeError> run(const BridgeRequest& request,
                                                const BatchSink& sink = {}) = 0;

  // False once the bridge has crashed, hung or exited; it will not answer again.
  virtual bool healthy() const = 0;
};

}  // namespace easgate::powershell
