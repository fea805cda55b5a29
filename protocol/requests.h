#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "protocol/api_error.h"

// The requests of the /v1 contract (protocol/openapi.json), parsed and validated. Every parser
// rejects unknown fields and parameters, wrong types and invalid Exchange names with an
// ApiError that names the field.
namespace easgate::protocol {

// The largest request body the agent reads (a desired list of 1,000 device IDs fits easily).
inline constexpr std::size_t kMaxBodyBytes = 256 * 1024;
// Device IDs in one desired list.
inline constexpr std::size_t kMaxListSize = 1000;
// Inventory page sizes.
inline constexpr std::size_t kDefaultPageSize = 100;
inline constexpr std::size_t kMaxPageSize = 1000;
// The longest an event long-poll waits.
inline constexpr int kMaxWaitSeconds = 60;

// POST /v1/commands. allow, revoke, block, unblock: mailbox + deviceId. wipe,
// wipe-account-only, cancel-wipe, remove-partnership: partnership (mailbox optional, and if
// given it must be the partnership's).
struct CommandSubmission {
  std::string kind;
  std::string mailbox;
  std::string device_id;
  std::string partnership;
};
Result<CommandSubmission, ApiError> parseCommandSubmission(std::string_view body);

// POST /v1/harvests: {"kind": "full" | "delta"}; an empty body is a delta harvest.
Result<std::string, ApiError> parseHarvestRequest(std::string_view body);

// POST /v1/mailboxes/{mailbox}/lists/{list}: {"deviceId": "..."}.
Result<std::string, ApiError> parseDeviceIdBody(std::string_view body);

// PUT /v1/mailboxes/{mailbox}/lists/allowed: {"deviceIds": [...]} (may be empty: clears).
// Duplicates, compared without case as Exchange does, are refused.
Result<std::vector<std::string>, ApiError> parseDeviceIdListBody(std::string_view body);

// POST /v1/policy/rules: {"queryString", "characteristic", "accessLevel"} (all required; the
// enums in any case). The query string's own rules are Exchange's, checked by the agent.
struct DeviceAccessRuleBody {
  std::string query_string;
  std::string characteristic;
  std::string access_level;
};
Result<DeviceAccessRuleBody, ApiError> parseDeviceAccessRuleBody(std::string_view body);

// POST /v1/policy/plan: {"defaultAccessLevel": "Quarantine" | "Block", "grandfather": "none" |
// "allowed" | ["<partnership Identity>", ...], "rules": [<rule body>, ...], "removeRules":
// ["<rule name>", ...]}. The level in any case, given back in Exchange's spelling; grandfather
// defaults to "allowed" (every device Allowed now keeps its access); rules are made or get
// their level, and removed, by the apply before the default changes.
struct PolicyPlanRequest {
  enum class Grandfather { kNone, kAllowed, kListed };
  std::string default_access_level;
  Grandfather grandfather = Grandfather::kAllowed;
  std::vector<std::string> partnerships;  // kListed
  std::vector<DeviceAccessRuleBody> rules;
  std::vector<std::string> remove_rules;  // by name, "<QueryString> (<Characteristic>)"
  // How many of its changes the answer lists, in partnership order; the rest a page at a time
  // (GET /v1/policy/plans/{id}/changes).
  std::size_t limit = kDefaultPageSize;
};
Result<PolicyPlanRequest, ApiError> parsePolicyPlanRequest(std::string_view body);

// POST /v1/policy/apply: {"planId": "..."}.
Result<std::string, ApiError> parsePolicyApplyRequest(std::string_view body);
// A plan's id as the agent hands it out ("plan-" and 16 hex digits).
bool isPlanId(std::string_view id);

// POST /v1/policy/rollback: {"applyId": <command id>, "removeGrandfathered": false}; without
// applyId, the last apply not yet rolled back.
struct PolicyRollbackRequest {
  std::optional<std::int64_t> apply_id;
  bool remove_grandfathered = false;
};
Result<PolicyRollbackRequest, ApiError> parsePolicyRollbackRequest(std::string_view body);

// PUT /v1/policy/settings: {"adminMailRecipients": ["..."]} (up to 100; empty clears).
Result<std::vector<std::string>, ApiError> parsePolicySettingsBody(std::string_view body);

using QueryParameters = std::vector<std::pair<std::string, std::string>>;

// GET /v1/devices.
struct InventoryQuery {
  std::string mailbox;
  std::string search;  // q: the start of a mailbox's name or address, or of a device ID
  std::string access_state;
  std::string device_type;
  std::optional<std::int64_t> seen_since_ms;  // last successful sync at or after
  std::size_t limit = kDefaultPageSize;
  std::string cursor;  // from the previous page's nextCursor
};
Result<InventoryQuery, ApiError> parseInventoryQuery(const QueryParameters& query);

// A page's cursor as the agent hands it out ("d1" and the position in hex): opaque to clients,
// and decoded back only from what the agent could have given (else nullopt).
std::string encodeCursor(std::string_view position);
std::optional<std::string> decodeCursor(std::string_view cursor);

// GET /v1/policy/plans/{id}/changes: a plan's changes after `cursor` (nextCursor), `limit` of them.
struct PlanChangesQuery {
  std::size_t limit = kDefaultPageSize;
  std::string cursor;  // decoded: the partnership key the page starts after; empty: the first
};
Result<PlanChangesQuery, ApiError> parsePlanChangesQuery(const QueryParameters& query);

// GET /v1/events.
struct EventsQuery {
  std::int64_t after = 0;
  std::size_t limit = kDefaultPageSize;
  int wait_seconds = 0;  // long-poll: wait this long for an event when there is none
};
Result<EventsQuery, ApiError> parseEventsQuery(const QueryParameters& query);

// GET /v1/audit and `easgate audit list`: the audit trail, newest first.
struct AuditQuery {
  std::optional<std::int64_t> since_ms;  // at or after
  std::optional<std::int64_t> until_ms;  // before
  std::string actor;   // contained in the actor (the client's subject and thumbprint), any case
  std::string action;  // exactly: a command kind (allow, wipe, ...)
  std::string target;  // contained in the target (mailbox or partnership), any case
  std::size_t limit = kDefaultPageSize;
  std::int64_t before = 0;  // only entries older than this sequence (nextBefore); 0: the newest
};
Result<AuditQuery, ApiError> parseAuditQuery(const QueryParameters& query);

// A query string ("a=1&b=x%20y") decoded into name/value pairs, in order. Malformed percent
// escapes are an error.
Result<QueryParameters, ApiError> parseQueryString(std::string_view query);

// A percent-decoded path segment or query part; nothing when an escape is malformed or the
// result is not valid UTF-8.
std::optional<std::string> percentDecode(std::string_view text, bool plus_is_space);
// Percent-encodes everything but unreserved characters (RFC 3986), for building URLs.
std::string percentEncode(std::string_view text);

// An ISO 8601 UTC time ("2026-11-23T10:00:00Z", optional fraction) as Unix milliseconds. Times
// are written by utc::formatUnixMs (common/time/utc_time.h).
std::optional<std::int64_t> parseUtcTime(std::string_view text);

}  // namespace easgate::protocol
