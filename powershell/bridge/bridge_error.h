#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace easgate::powershell {

// What went wrong with a request, as the bridge classifies Exchange's errors, plus the
// failures only the host sees.
enum class BridgeErrc {
  kThrottled,            // Exchange's budget is spent; retry after retry_after_ms
  kSessionLimit,         // too many sessions for the account; retry later
  kNotFound,             // the mailbox or device does not exist (permanent)
  kAmbiguous,            // the name fits more than one object (permanent)
  kDeviceIdInBothLists,  // Set-CASMailbox: one ID on both lists (ErrorDeviceIdInBothLists)
  kTransient,            // a mailbox database offline or failing over, a transient error: retry
  kInvalidArgument,      // Exchange or the allowlist rejected the parameters (permanent)
  kOther,                // any other Exchange error (permanent, with Exchange's message)
  kBridgeFailed,  // the bridge crashed, hung or could not connect; the request may be retried
  kTimeout,       // no answer within the request's time limit; the bridge was restarted
};

// The wire names of the categories a bridge sends: throttled, session-limit, not-found,
// ambiguous, device-id-in-both-lists, transient, invalid-argument, other.
std::string_view categoryName(BridgeErrc code);
std::optional<BridgeErrc> categoryFromName(std::string_view name);

struct BridgeError {
  BridgeErrc code = BridgeErrc::kOther;
  std::string message;         // Exchange's message, or the host's
  std::string exception_type;  // e.g. Microsoft.Exchange...ManagementObjectNotFoundException
  std::int64_t retry_after_ms = 0;

  // Worth trying again later: throttling, session limits, transient and bridge failures.
  bool retryable() const {
    return code == BridgeErrc::kThrottled || code == BridgeErrc::kSessionLimit ||
           code == BridgeErrc::kTransient || code == BridgeErrc::kBridgeFailed ||
           code == BridgeErrc::kTimeout;
  }
};

// The JSON payload of an error frame: {"category","message","exception","retryAfterMs"}.
std::string encodeErrorPayload(const BridgeError& error);
BridgeError decodeErrorPayload(std::string_view payload);

}  // namespace easgate::powershell
