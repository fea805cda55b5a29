#include "agent/commands/command.h"

#include <algorithm>
#include <iterator>

#include "agent/inventory/exchange_mapping.h"
#include "common/json/json_writer.h"
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
constexpr std::size_t kMaxRecipients = 100;  // AdminMailRecipients

CommandError invalid(std::string message) {
  return CommandError{CommandErrc::kInvalid, std::move(message)};
}

// The table's rows are in the enum's order.
static_assert(std::size(protocol::kCommandKindTable) ==
              static_cast<std::size_t>(CommandKind::kSetAdminMailRecipients) + 1);
static_assert(protocol::kCommandKindTable[static_cast<int>(CommandKind::kSetBlocked)].name ==
              "set-blocked");
static_assert(protocol::kCommandKindTable[static_cast<int>(CommandKind::kRemovePartnership)].name ==
              "remove-partnership");
static_assert(protocol::kCommandKindTable[static_cast<int>(CommandKind::kSetDefaultAccessLevel)]
                  .name == "set-default-access-level");
static_assert(protocol::kCommandKindTable[static_cast<int>(CommandKind::kSetAdminMailRecipients)]
                  .name == "set-admin-mail-recipients");

namespace exchange = powershell::exchange;

// The organisation's commands: each takes exactly its arguments, in Exchange's spelling.
Result<CommandRequest, CommandError> normalizeOrganisationCommand(CommandRequest r) {
  const std::string kind(protocol::kCommandKindTable[static_cast<std::size_t>(r.kind)].name);
  if (!r.mailbox.empty() || !r.partnership.empty() || !r.device_id.empty() ||
      !r.device_ids.empty()) {
    return invalid(kind + " acts on the organisation: no mailbox, device or partnership");
  }
  const bool level =
      r.kind == CommandKind::kSetDefaultAccessLevel || r.kind == CommandKind::kSetDeviceAccessRule;
  const bool rule =
      r.kind == CommandKind::kSetDeviceAccessRule || r.kind == CommandKind::kRemoveDeviceAccessRule;
  const bool recipients = r.kind == CommandKind::kSetAdminMailRecipients;
  if (level) {
    auto l = exchange::accessLevelNamed(r.access_level);
    if (!l) return invalid(kind + ": the access level is Allow, Block or Quarantine");
    r.access_level = std::string(exchange::accessLevelName(*l));
  } else if (!r.access_level.empty()) {
    return invalid(kind + " takes no access level");
  }
  if (rule) {
    auto c = exchange::characteristicNamed(r.rule_characteristic);
    if (!c) {
      return invalid(kind +
                     ": the characteristic is UserAgent, DeviceOS, DeviceModel or "
                     "DeviceType");
    }
    r.rule_characteristic = std::string(exchange::characteristicName(*c));
    if (auto p = exchange::queryStringProblem(r.rule_query)) return invalid(kind + ": " + *p);
  } else if (!r.rule_query.empty() || !r.rule_characteristic.empty()) {
    return invalid(kind + " takes no rule");
  }
  if (recipients) {
    if (r.recipients.size() > kMaxRecipients) {
      return invalid(kind + ": at most " + std::to_string(kMaxRecipients) + " recipients");
    }
    for (const auto& address : r.recipients) {
      if (auto p = protocol::smtpAddressProblem(address)) return invalid(kind + ": " + *p);
    }
  } else if (!r.recipients.empty()) {
    return invalid(kind + " takes no recipients");
  }
  return r;
}

}  // namespace

const protocol::CommandKindInfo& commandKindInfo(CommandKind kind) {
  return protocol::kCommandKindTable[static_cast<std::size_t>(kind)];
}

std::string_view commandKindName(CommandKind kind) { return commandKindInfo(kind).name; }

std::string commandRangeJson(const CommandRange& range) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("firstCommandId");
  w.number(range.first);
  w.key("lastCommandId");
  w.number(range.last);
  w.endObject();
  return out;
}

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
  if (target != protocol::CommandTarget::kOrganisation &&
      (!r.access_level.empty() || !r.rule_query.empty() || !r.rule_characteristic.empty() ||
       !r.recipients.empty())) {
    return invalid(kind + " takes no access level, rule or recipients");
  }
  if (target == protocol::CommandTarget::kOrganisation) return normalizeOrganisationCommand(r);
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
