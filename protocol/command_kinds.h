#pragma once

#include <string_view>

// Every kind of command an MDM can send, in one table that the wire's validation, the journal,
// the executor, the 9090 routes and `easgate ctl` all read. A new kind is a new row here (and a
// case in the executor, which runs it).
namespace easgate::protocol {

// What a command names besides its kind.
enum class CommandTarget {
  kDeviceId,      // a mailbox and one device ID: allow, revoke, block, unblock
  kDeviceIdList,  // a mailbox and a whole list: set-allowed, set-blocked
  kPartnership,   // a partnership's Identity: wipe, wipe-account-only, cancel-wipe, removal
  kOrganisation,  // the organisation's ActiveSync settings (made by /v1/policy, not posted)
};

struct CommandKindInfo {
  std::string_view name;  // on the wire, in the journal and the audit trail, in ctl
  CommandTarget target;
  std::string_view list;  // the mailbox list it changes ("allowed", "blocked"), or empty
  bool admin;             // only an admin may send it (operators send the rest)
  bool posted;            // sent as POST /v1/commands (a whole list is PUT on the mailbox)
  // Cuts a device off, or stops a wipe: run before the other commands due at the same time,
  // so that a bulk change (a policy apply's allows) does not hold it up.
  bool urgent;
  std::string_view summary;
};

// In the order of agent::CommandKind (agent/commands/command.h), which is checked there.
inline constexpr CommandKindInfo kCommandKindTable[] = {
    {"allow", CommandTarget::kDeviceId, "allowed", false, true, false,
     "Add a device ID to the allowed list"},
    {"revoke", CommandTarget::kDeviceId, "allowed", false, true, true,
     "Remove it from the allowed list"},
    {"block", CommandTarget::kDeviceId, "blocked", false, true, true,
     "Add a device ID to the blocked list"},
    {"unblock", CommandTarget::kDeviceId, "blocked", false, true, false,
     "Remove it from the blocked list"},
    {"set-allowed", CommandTarget::kDeviceIdList, "allowed", false, false, false,
     "Make the allowed list exactly these IDs"},
    {"set-blocked", CommandTarget::kDeviceIdList, "blocked", false, false, true,
     "Make the blocked list exactly these IDs"},
    {"wipe", CommandTarget::kPartnership, "", true, true, true, "Remote-wipe a device (admin)"},
    {"wipe-account-only", CommandTarget::kPartnership, "", true, true, true,
     "Remove only the mailbox's data from a device (admin)"},
    {"cancel-wipe", CommandTarget::kPartnership, "", true, true, true,
     "Cancel a pending wipe (admin)"},
    {"remove-partnership", CommandTarget::kPartnership, "", true, true, false,
     "Remove a partnership (admin)"},
    {"set-default-access-level", CommandTarget::kOrganisation, "", true, false, false,
     "Set the organisation's DefaultAccessLevel (admin; POST /v1/policy/apply and rollback)"},
    {"set-device-access-rule", CommandTarget::kOrganisation, "", true, false, false,
     "Create a device access rule, or set its level (admin; POST /v1/policy/rules)"},
    {"remove-device-access-rule", CommandTarget::kOrganisation, "", true, false, false,
     "Remove a device access rule (admin; DELETE /v1/policy/rules/{name})"},
    {"set-admin-mail-recipients", CommandTarget::kOrganisation, "", true, false, false,
     "Set who Exchange tells of quarantined devices (admin; PUT /v1/policy/settings)"},
};

// The row of a kind by its name; nullptr for a name that is no kind.
constexpr const CommandKindInfo* commandKindNamed(std::string_view name) {
  for (const auto& k : kCommandKindTable) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

}  // namespace easgate::protocol
