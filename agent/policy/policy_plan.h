#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/inventory/device_record.h"
#include "agent/inventory/inventory_store.h"
#include "agent/policy/organisation_policy.h"
#include "agent/store/database.h"
#include "common/json/json_writer.h"
#include "common/result.h"
#include "common/text/text_arena.h"
#include "protocol/requests.h"

// What a change of the organisation's DefaultAccessLevel would do, computed from the stored
// inventory with Exchange's own decision (powershell/exchange/access_decision.h) before anything
// is changed: every partnership whose access would change, from what to what and why, the
// devices kept in by adding them to their mailboxes' allowed lists (grandfathering), and the
// commands applying it queues. A pure function of its inputs.
namespace easgate::agent::policy {

// Of a partnership, what a plan decides with and shows: a plan over a whole organisation
// holds one per partnership, so no more than that, and its texts in an arena (the plan's
// inputs'): views, 16 bytes each, where strings took 32 and most of them an allocation besides.
struct PlanRecord {
  std::string_view identity;
  std::string_view mailbox_identity;
  std::string_view device_id;
  std::string_view device_type;
  std::string_view device_model;
  std::string_view device_os;
  std::string_view device_user_agent;
  std::string_view access_state;
  std::string_view access_state_reason;
};
// Its texts kept in `arena`: the partnership's own (identity, device ID, mailbox) each, those
// that many partnerships share (type, model, OS, user agent, state, reason) once.
PlanRecord planRecordOf(const DeviceRecord& record, text::TextArena& arena);

// A partnership as the inventory holds it, with what the agent knows of its mailbox.
struct PlanDevice {
  PlanRecord record;
  std::string_view mailbox;  // how a command names the mailbox: its key, else its Identity
  // The mailbox's lists as Exchange last gave them; null when the agent has not read them.
  const std::vector<std::string>* allowed = nullptr;
  const std::vector<std::string>* blocked = nullptr;
};

// Its texts are views into the plan's inputs and the names of states and reasons.
struct PlannedChange {
  const PlanRecord* device = nullptr;        // into the plan's inputs
  std::string_view mailbox;                  // as its allow names it (PlanDevice::mailbox)
  std::string_view from_state, from_reason;  // as Exchange reports it now
  std::string_view to_state, to_reason;      // as Exchange would decide it after the apply
  std::string rule;                          // the deciding rule's name, for DeviceRule
  // Kept in by adding it to its allowed list: the apply queues an `allow` of its device ID on
  // `mailbox`, before the default changes.
  bool grandfathered = false;
};

// A change of the device access rules the apply makes before the default changes.
struct RuleChange {
  bool remove = false;
  powershell::exchange::DeviceAccessRule rule;  // as it will be (made or set), or as it was
  std::optional<powershell::exchange::AccessLevel> previous;  // its level before; none: new
};

struct Plan {
  powershell::exchange::AccessLevel current_level = powershell::exchange::AccessLevel::kAllow;
  powershell::exchange::AccessLevel level = powershell::exchange::AccessLevel::kQuarantine;
  // Partnerships whose state or reason changes, in key order (partnershipKey of the Identity).
  std::vector<PlannedChange> changes;
  std::int64_t allows = 0;  // of the changes, the grandfathered
  std::vector<RuleChange> rule_changes;
  std::vector<std::string> warnings;  // what the prediction cannot know
  // Partnerships whose state changes, by mailbox Identity, DeviceType, DeviceOS and new state.
  using Counts = std::map<std::string, std::int64_t, std::less<>>;
  Counts by_mailbox, by_device_type, by_device_os, by_new_state;
  std::int64_t partnerships = 0;  // considered in all
  std::string digest;             // SHA-256 of what the plan would do: equal digests, equal applies
};

// What a plan is made from, read from the inventory and the mailbox directory. The devices
// point into `lists` and `texts`, which stay in place when the inputs move.
struct PlanInputs {
  struct Lists {
    std::vector<std::string> allowed, blocked;
  };
  OrganisationPolicy policy;
  std::int64_t policy_harvested_ms = 0;
  std::map<std::string, Lists> lists;  // by mailbox key
  text::TextArena texts;
  std::vector<PlanDevice> devices;
};
// nullopt policy (no full harvest has read it yet) is an error for the caller to explain.
// `directory` and `store`: connections to the mailbox directory's file and to the store.
Result<std::optional<PlanInputs>, store::StoreError> loadPlanInputs(InventoryStore& inventory,
                                                                    store::Database& directory,
                                                                    store::Database& store);

struct PlanError {
  std::string field;  // of the request
  std::string message;
};

Result<Plan, PlanError> makePlan(const OrganisationPolicy& current,
                                 const protocol::PolicyPlanRequest& target,
                                 const std::vector<PlanDevice>& devices);

// Which of a plan's changes an answer lists: those of the partnerships after `after` (a
// partnership key; empty: from the first), at most `limit`. A plan over a whole organisation
// may change every partnership of it: its answer lists a page, the rest a page at a time.
struct PlanPage {
  std::size_t begin = 0, end = 0;  // into Plan::changes
  std::string next_after;          // the key the next page starts after; empty after the last
};
PlanPage planPage(const Plan& plan, std::string_view after, std::size_t limit);

// The plan as POST /v1/policy/plan answers it (members after "id" and "createdAt"), its changes
// and the allows of the grandfathered among them as far as `page` goes. `w` is inside the
// answer's object.
void writePlanMembers(json::JsonWriter& w, const Plan& plan, const PlanPage& page);
// A page of its changes as GET /v1/policy/plans/{id}/changes answers it: "changes", the allows
// of the grandfathered among them ("commands") and "nextCursor".
void writePlanPageMembers(json::JsonWriter& w, const Plan& plan, const PlanPage& page);

}  // namespace easgate::agent::policy
