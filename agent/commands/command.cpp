#include "agent/commands/command.h"

#include <algorithm>
#include <iterator>

#include "agent/inventory/exchange_mapping.h"
#include "common/text/name_table.h"
#include "powershell/exchange/access_decision.h"
#include "protocol/command_kinds.h"
#include "protocol/validation.h"

namespace easgate::agent {
namespace {

constexpr Named<CommandState> kStates[] = {
    {CommandState::kQueued, "queued"},     {CommandState::kRunning, "running"},
    {CommandState::kRetrying, "retrying"}, {CommandState::kSucceeded, "succeeded"},
    {CommandState::kFailed, "failed"},
};

constexpr std::size_t kMaxDeviceIds = 1000;  // in one set-allowed

CommandError invalid(std::string message) {
  return CommandError{CommandErrc::kInvalid, std::move(message)};
}

// The table's rows are in the enum's order.
static_assert(std::size(protocol::kCommandKindTable) ==
              static_cast<std::size_t>(CommandKind::kSetDefaultAccessLevel) + 1);
static_assert(protocol::kCommandKindTable[static_cast<int>(CommandKind::kSetBlocked)].name ==
              "set-blocked");
static_assert(protocol::kCommandKindTable[static_cast<int>(CommandKind::kRemovePartnership)].name ==
              "remove-partnership");
static_assert(protocol::kCommandKindTable[static_cast<int>(CommandKind::kSetDefaultAccessLevel)]
                  .name == "set-default-access-level");

}  // namespace

const protocol::CommandKindInfo& commandKindInfo(CommandKind kind) {
  return protocol::kCommandKindTable[static_cast<std::size_t>(kind)];
}

std::string_view commandKindName(CommandKind kind) { return commandKindInfo(kind).name; }

std::optional<CommandKind> commandKindFromName(std::string_view name) {
  const protocol::CommandKindInfo* row = protocol::commandKindNamed(name);
  if (!row) return std::nullopt;
  return static_cast<CommandKind>(row - std::begin(protocol::kCommandKindTable));
}

std::string_view listOf(CommandKind kind) { return commandKindInfo(kind).list; }

std::string_view commandStateName(CommandState state) { return nameOf(kStates, state); }

std::optional<CommandState> commandStateFromName(std::string_view name) {
  return valueNamed(kStates, name);
}

Result<CommandRequest, CommandError> normalizeCommand(CommandRequest r) {
  const std::string kind(commandKindName(r.kind));
  // The limits are the wire's (protocol/validation.h), whoever builds the request.
  if (!r.idempotency_key.empty()) {
    if (auto p = protocol::idempotencyKeyProblem(r.idempotency_key)) return invalid(*p);
  }
  const protocol::CommandTarget target = commandKindInfo(r.kind).target;
  if (target != protocol::CommandTarget::kOrganisation && !r.access_level.empty()) {
    return invalid(kind + " takes no access level");
  }
  if (target == protocol::CommandTarget::kOrganisation) {
    auto level = powershell::exchange::accessLevelNamed(r.access_level);
    if (!level) return invalid(kind + ": the access level is Allow, Block or Quarantine");
    r.access_level = std::string(powershell::exchange::accessLevelName(*level));
    if (!r.mailbox.empty() || !r.partnership.empty() || !r.device_id.empty() ||
        !r.device_ids.empty()) {
      return invalid(kind + " acts on the organisation: no mailbox, device or partnership");
    }
    return r;
  }
  if (target == protocol::CommandTarget::kPartnership) {
    if (auto p = protocol::partnershipProblem(r.partnership)) return invalid(kind + ": " + *p);
    std::string mailbox(protocol::mailboxOfPartnership(r.partnership));
    if (!r.mailbox.empty() && r.mailbox != mailbox) {
      return invalid(kind + ": the partnership belongs to '" + mailbox + "', not '" + r.mailbox +
                     "'");
    }
    r.mailbox = std::move(mailbox);
    if (!r.device_id.empty() || !r.device_ids.empty()) {
      return invalid(kind + " takes a partnership, not device IDs");
    }
    return r;
  }
  if (auto p = protocol::mailboxProblem(r.mailbox)) return invalid(kind + ": " + *p);
  if (!r.partnership.empty()) return invalid(kind + " takes device IDs, not a partnership");
  if (target == protocol::CommandTarget::kDeviceId) {
    if (auto p = protocol::deviceIdProblem(r.device_id)) return invalid(kind + ": " + *p);
    if (!r.device_ids.empty()) return invalid(kind + " takes one device ID");
    return r;
  }
  // set-allowed, set-blocked: an empty list is allowed (it clears the list).
  if (!r.device_id.empty()) return invalid(kind + " takes a list of device IDs");
  if (r.device_ids.size() > kMaxDeviceIds) {
    return invalid(kind + " takes at most " + std::to_string(kMaxDeviceIds) + " device IDs");
  }
  for (const auto& id : r.device_ids) {
    if (auto p = protocol::deviceIdProblem(id)) return invalid(kind + ": " + *p);
  }
  return r;
}

}  // namespace easgate::agent
