#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/audit/sha256.h"
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
// commands applying it queues.
//
// A plan is made as it streams over the inventory, one partnership at a time, and keeps of its
// changes only those its window asks for (a page, or the allows an apply queues): what it holds
// does not grow with the organisation, only its counts by mailbox do.
namespace easgate::agent::policy {

// Of a partnership, what a plan decides with and shows: views, into the record while it is
// decided, into the plan's arena once kept.
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
PlanRecord planRecordOf(const DeviceRecord& record);

// A partnership as the inventory holds it, with what the agent knows of its mailbox. Its views
// and lists need live only while the planner is given it.
struct PlanDevice {
  PlanRecord record;
  std::string_view mailbox;  // how a command names the mailbox: its key, else its Identity
  // The mailbox's lists as Exchange last gave them; null when the agent has not read them.
  const std::vector<std::string>* allowed = nullptr;
  const std::vector<std::string>* blocked = nullptr;
};

// Its texts are views into the plan's arena and the names of states and reasons.
struct PlannedChange {
  PlanRecord device;
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

// Which of its changes a plan keeps. Its counts, totals and digest cover them all, whatever it
// keeps: a page's plan and the apply's have the digest of the plan reviewed.
struct PlanWindow {
  std::string after;  // a partnership key: those after it; empty: from the first
  std::size_t limit = 100;
  bool grandfathered_only = false;
  // What an apply needs: every grandfathered change, for its allow, and no other.
  static PlanWindow everyAllow() { return {{}, std::numeric_limits<std::size_t>::max(), true}; }
};

struct Plan {
  powershell::exchange::AccessLevel current_level = powershell::exchange::AccessLevel::kAllow;
  powershell::exchange::AccessLevel level = powershell::exchange::AccessLevel::kQuarantine;
  std::int64_t policy_harvested_ms = 0;  // when the policy planned from was read
  // The window's changes (partnerships whose state or reason changes), in key order
  // (partnershipKey of the Identity), their texts in `texts`.
  std::vector<PlannedChange> changes;
  std::string next_after;  // the key the next page starts after; empty when no change is after
  std::int64_t changes_total = 0;  // of the whole plan
  std::int64_t allows = 0;         // of them, the grandfathered
  std::vector<RuleChange> rule_changes;
  std::vector<std::string> warnings;  // what the prediction cannot know
  // Partnerships whose state changes, by mailbox Identity, DeviceType, DeviceOS and new state.
  using Counts = std::map<std::string, std::int64_t, std::less<>>;
  Counts by_mailbox, by_device_type, by_device_os, by_new_state;
  std::int64_t partnerships = 0;  // considered in all
  std::string digest;             // SHA-256 of what the plan would do: equal digests, equal applies
  text::TextArena texts;
};

struct PlanError {
  std::string field;  // of the request
  std::string message;
};

// Makes a plan from the partnerships given it in key order. No store, no clock: a function of
// the current policy, the request and the partnerships.
class Planner {
 public:
  // The request's rules are checked here; a bad one is the error. `target` outlives the planner.
  static Result<Planner, PlanError> start(const OrganisationPolicy& current,
                                          const protocol::PolicyPlanRequest& target,
                                          PlanWindow window);
  // The next partnership (key order). After an error, the rest are ignored.
  void add(const PlanDevice& device);
  Result<Plan, PlanError> finish() &&;

 private:
  Planner() = default;
  void keep(const PlannedChange& change);

  const protocol::PolicyPlanRequest* target_ = nullptr;
  PlanWindow window_;
  powershell::exchange::AccessPolicy after_;
  Plan plan_;
  std::set<std::string> listed_, found_;  // partnership keys named to keep; those seen
  std::set<std::string, std::less<>> unknown_lists_;
  Sha256Stream allows_digest_, changes_digest_;
  std::string last_kept_key_;  // of the window's last change
  std::optional<PlanError> failed_;
};

// Why no plan was made: the store failed, or the request cannot be planned.
using PlanFailure = std::variant<store::StoreError, PlanError>;

// A plan from the stored inventory, policy and mailbox lists; nullopt when no full harvest has
// read the policy yet. `directory` and `store`: connections to the mailbox directory's file and
// to the store.
Result<std::optional<Plan>, PlanFailure> planFromInventory(
    InventoryStore& inventory, store::Database& directory, store::Database& store,
    const protocol::PolicyPlanRequest& target, PlanWindow window);

// The plan as POST /v1/policy/plan answers it (members after "id" and "createdAt"): its
// changes and the allows of the grandfathered among them as far as its window went. `w` is
// inside the answer's object.
void writePlanMembers(json::JsonWriter& w, const Plan& plan);
// A page of its changes as GET /v1/policy/plans/{id}/changes answers it: "changes", the allows
// of the grandfathered among them ("commands") and "nextCursor".
void writePlanPageMembers(json::JsonWriter& w, const Plan& plan);

}  // namespace easgate::agent::policy
