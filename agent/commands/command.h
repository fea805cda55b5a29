#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "protocol/command_kinds.h"

namespace easgate::agent {

// What an MDM can ask of Exchange through the agent: a row each of protocol::kCommandKindTable
// (protocol/command_kinds.h), in its order.
enum class CommandKind {
  kAllow,            // add a device ID to the mailbox's allowed list
  kRevoke,           // remove it from the allowed list
  kBlock,            // add it to the blocked list
  kUnblock,          // remove it from the blocked list
  kSetAllowed,       // make the allowed list exactly `device_ids` (minimal Add/Remove)
  kSetBlocked,       // make the blocked list exactly `device_ids`
  kWipe,             // remote wipe of the device
  kWipeAccountOnly,  // remove only the mailbox's data from the device
  kCancelWipe,
  kRemovePartnership,
  kSetDefaultAccessLevel,   // Set-ActiveSyncOrganizationSettings -DefaultAccessLevel
  kSetDeviceAccessRule,     // New-ActiveSyncDeviceAccessRule, or Set- when it exists
  kRemoveDeviceAccessRule,  // Remove-ActiveSyncDeviceAccessRule
  kSetAdminMailRecipients,  // Set-ActiveSyncOrganizationSettings -AdminMailRecipients
};
const protocol::CommandKindInfo& commandKindInfo(CommandKind kind);  // its row of the table
std::string_view commandKindName(CommandKind kind);  // allow, revoke, ..., remove-partnership
std::optional<CommandKind> commandKindFromName(std::string_view name);

// Commands one after another in the journal, `first` to `last` and every id in between: what an
// organisation's command of a sequence waits for (every command of the sequence before it), or a
// mailbox's command after one (that one). However many, it is said in two ids.
struct CommandRange {
  std::int64_t first = 0;
  std::int64_t last = 0;

  std::int64_t size() const { return last - first + 1; }
  bool operator==(const CommandRange&) const = default;
};
// {"firstCommandId":1,"lastCommandId":2}: a range as the API and the audit trail write it.
std::string commandRangeJson(const CommandRange& range);

struct CommandRequest {
  CommandKind kind = CommandKind::kAllow;
  std::string mailbox;                  // as Exchange accepts it; derived for partnership commands
  std::string device_id;                // allow, revoke, block, unblock
  std::vector<std::string> device_ids;  // set-allowed, set-blocked
  std::string partnership;              // wipe, wipe-account-only, cancel-wipe, remove-partnership
  // The organisation's commands: an access level (set-default-access-level,
  // set-device-access-rule), a rule's query string and characteristic (the rule commands), the
  // quarantine notices' recipients (set-admin-mail-recipients).
  std::string access_level;  // Allow, Block, Quarantine
  std::string rule_query;
  std::string rule_characteristic;  // UserAgent, DeviceOS, DeviceModel, DeviceType
  std::vector<std::string> recipients;
  // The commands this one waits for: it runs once they are all final, and fails unsent if one
  // of them failed (a policy's default changes only after its allowed lists are done).
  std::optional<CommandRange> after;
  std::string idempotency_key;  // optional: a repeat returns the first command
  std::string requested_by;     // the client's identity, for the audit log

  bool operator==(const CommandRequest&) const = default;
};

enum class CommandState { kQueued, kRunning, kRetrying, kSucceeded, kFailed };
std::string_view commandStateName(CommandState state);
std::optional<CommandState> commandStateFromName(std::string_view name);
inline bool isFinal(CommandState s) {
  return s == CommandState::kSucceeded || s == CommandState::kFailed;
}

struct CommandRecord {
  std::int64_t id = 0;
  CommandRequest request;
  CommandState state = CommandState::kQueued;
  int attempts = 0;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::int64_t next_attempt_ms = 0;
  std::int64_t deadline_ms = 0;
  std::string last_error;   // Exchange's message, for a failed or retrying command
  std::string result;       // what happened, for a succeeded one
  std::string mailbox_key;  // the mailbox's key once resolved (agent/mailboxes/), else empty
};

// Which of a mailbox's lists a command edits: "allowed", "blocked", or empty for none.
std::string_view listOf(CommandKind kind);

enum class CommandErrc { kInvalid, kConflict, kNotFound, kStore };
using CommandError = Error<CommandErrc>;

// Checks a request as it arrives from the network, and completes it: the mailbox of a
// partnership command comes from the partnership's Identity; an access level takes Exchange's
// spelling. Clear messages for the client.
Result<CommandRequest, CommandError> normalizeCommand(CommandRequest request);

}  // namespace easgate::agent
