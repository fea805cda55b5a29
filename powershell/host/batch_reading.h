#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "powershell/bridge/bridge_error.h"
#include "powershell/clixml/ps_value.h"
#include "powershell/host/bridge.h"

namespace easgate::powershell {

// Reads one output batch of a bridge (the CLIXML of one object[]): its objects to `sink`, or
// its items appended to `into` when there is no sink. An unreadable batch is kBridgeFailed.
Result<void, BridgeError> readBatchInto(std::string payload, const BatchSink& sink,
                                        std::vector<PsValue>& into);

}  // namespace easgate::powershell
