#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "powershell/bridge/bridge_error.h"
#include "powershell/bridge/request.h"
#include "powershell/clixml/ps_value.h"
#include "powershell/sim/organisation.h"

namespace easgate::powershell::sim {

struct CmdletOutcome {
  std::size_t objects = 0;
  std::vector<std::string> warnings;
  std::optional<BridgeError> error;
};

// Runs one allowlisted cmdlet against the organisation with Exchange's semantics and errors;
// output objects go to `emit` one at a time, so a result of any size streams.
CmdletOutcome runCmdlet(Organisation& org, const BridgeRequest& request, std::int64_t now,
                        const std::function<void(PsValue)>& emit);

}  // namespace easgate::powershell::sim
