#include "agent/policy/policy_plan.h"

#include <algorithm>
#include <initializer_list>
#include <set>
#include <utility>

#include "agent/audit/sha256.h"
#include "agent/inventory/object_text.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "common/json/json_writer.h"
#include "protocol/validation.h"

namespace easgate::agent::policy {

namespace exchange = powershell::exchange;
using Grandfather = protocol::PolicyPlanRequest::Grandfather;

namespace {

exchange::DeviceFacts factsOf(const PlanDevice& d) {
  const PlanRecord& r = d.record;
  return {r.device_id,   r.device_user_agent, r.device_os, r.device_model,
          r.device_type, d.allowed,           d.blocked};
}

std::string_view orUnknown(std::string_view s) { return s.empty() ? "(none)" : s; }

void count(Plan::Counts& counts, std::string_view name) {
  auto at = counts.find(name);
  if (at == counts.end()) at = counts.emplace(std::string(name), 0).first;
  ++at->second;
}

// 'text', for a message. (Built by appending: GCC 12 at -O3 takes "'" + std::string(...) for an
// overlapping copy, -Wrestrict, in the mingw-w64 build.)
std::string inQuotes(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.append(1, '\'').append(text).append(1, '\'');
  return out;
}

// A line of a digest: fields between tabs, a newline after.
void line(Sha256Stream& digest, std::initializer_list<std::string_view> fields) {
  bool tab = false;
  for (std::string_view f : fields) digest.add(std::exchange(tab, true) ? "\t" : "").add(f);
  digest.add("\n");
}

}  // namespace

PlanRecord planRecordOf(const DeviceRecord& r) {
  return {r.identity,  r.mailbox_identity,  r.device_id,    r.device_type,        r.device_model,
          r.device_os, r.device_user_agent, r.access_state, r.access_state_reason};
}

Result<Planner, PlanError> Planner::start(const OrganisationPolicy& current,
                                          const protocol::PolicyPlanRequest& target,
                                          PlanWindow window) {
  Planner p;
  p.target_ = &target;
  p.window_ = std::move(window);
  Plan& plan = p.plan_;
  plan.current_level = current.access.default_level;
  auto level = exchange::accessLevelNamed(target.default_access_level);
  if (!level) return PlanError{"defaultAccessLevel", "an unknown access level"};
  plan.level = *level;
  exchange::AccessPolicy& after = p.after_;
  after = current.access;
  after.default_level = *level;
  auto existing = [&](const exchange::DeviceAccessRule& wanted) {
    return std::find_if(after.rules.begin(), after.rules.end(), [&](const auto& r) {
      return r.characteristic == wanted.characteristic && r.query_string == wanted.query_string;
    });
  };
  for (std::size_t i = 0; i < target.rules.size(); ++i) {
    const auto& body = target.rules[i];
    const std::string where = "rules[" + std::to_string(i) + "]";
    if (auto problem = exchange::queryStringProblem(body.query_string)) {
      return PlanError{where + ".queryString", *problem};
    }
    auto c = exchange::characteristicNamed(body.characteristic);
    auto l = exchange::accessLevelNamed(body.access_level);
    if (!c) return PlanError{where + ".characteristic", "an unknown characteristic"};
    if (!l) return PlanError{where + ".accessLevel", "an unknown access level"};
    RuleChange change{false, {*c, body.query_string, *l}, std::nullopt};
    if (auto it = existing(change.rule); it != after.rules.end()) {
      if (it->level == *l) continue;  // already so
      change.previous = it->level;
      it->level = *l;
    } else {
      after.rules.push_back(change.rule);
    }
    plan.rule_changes.push_back(std::move(change));
  }
  for (std::size_t i = 0; i < target.remove_rules.size(); ++i) {
    const std::string where = "removeRules[" + std::to_string(i) + "]";
    auto named = exchange::ruleNamed(target.remove_rules[i]);
    if (!named) {
      return PlanError{where, "a rule is named \"<QueryString> (<Characteristic>)\""};
    }
    auto it = existing(*named);
    if (it == after.rules.end()) {
      return PlanError{where, "the organisation has no rule '" + target.remove_rules[i] +
                                  "' (as the last harvest read its rules)"};
    }
    plan.rule_changes.push_back({true, *it, it->level});
    after.rules.erase(it);
  }
  for (const auto& rule : current.unmodelled_rules) {
    plan.warnings.push_back("the rule '" + rule +
                            "' is not evaluated here: devices it matches may end otherwise");
  }
  for (const auto& partnership : target.partnerships) {
    p.listed_.insert(partnershipKey(partnership));
  }
  return p;
}

void Planner::add(const PlanDevice& d) {
  if (failed_) return;
  const PlanRecord& r = d.record;
  ++plan_.partnerships;
  std::string key = partnershipKey(r.identity);
  const bool lists_known = d.allowed != nullptr;
  if (!lists_known && !unknown_lists_.contains(r.mailbox_identity)) {
    unknown_lists_.emplace(r.mailbox_identity);
  }
  const bool on_allowed = lists_known ? exchange::listHasDeviceId(*d.allowed, r.device_id)
                                      : r.access_state_reason == "Individual";
  const bool on_blocked = d.blocked && exchange::listHasDeviceId(*d.blocked, r.device_id);

  bool keep_in = false;
  if (target_->grandfather == Grandfather::kAllowed) {
    keep_in = r.access_state == "Allowed" && !on_allowed;
  } else if (target_->grandfather == Grandfather::kListed && listed_.contains(key)) {
    found_.insert(key);
    if (on_blocked) {
      failed_ = PlanError{"grandfather", inQuotes(r.identity) +
                                             " is on its mailbox's blocked list: unblock it "
                                             "first if it is to be kept"};
      return;
    }
    keep_in = !on_allowed;
  }
  if (keep_in) {
    if (auto problem = protocol::deviceIdProblem(r.device_id)) {
      plan_.warnings.push_back(inQuotes(r.identity) + " cannot be grandfathered: its device ID " +
                               *problem);
      keep_in = false;
    }
  }

  PlannedChange change;
  change.device = r;
  change.mailbox = d.mailbox;
  change.from_state = r.access_state;
  change.from_reason = r.access_state_reason;
  if (keep_in) {
    change.to_state = "Allowed";
    change.to_reason = "Individual";
    change.grandfathered = true;
  } else if (!lists_known && r.access_state_reason == "Individual") {
    // On a list the agent has not read: Exchange keeps deciding it by that list.
    return;
  } else {
    exchange::AccessDecision decided = exchange::decideAccess(after_, factsOf(d));
    change.to_state = decided.state;
    change.to_reason = decided.reason;
    if (decided.rule) change.rule = decided.rule->name();
  }
  // A grandfathered device is listed even when Exchange shows it so already (allowed
  // individually, by a list the harvest read before it was taken off): its allow is a change,
  // and each allow is listed with its partnership's change.
  if (!change.grandfathered && change.to_state == change.from_state &&
      change.to_reason == change.from_reason) {
    return;
  }
  if (change.to_state != change.from_state) {
    count(plan_.by_mailbox, r.mailbox_identity);
    count(plan_.by_device_type, orUnknown(r.device_type));
    count(plan_.by_device_os, orUnknown(r.device_os));
    count(plan_.by_new_state, change.to_state);
  }
  // The totals and the digest cover every change and every allow, whatever the window keeps.
  ++plan_.changes_total;
  if (change.grandfathered) {
    ++plan_.allows;
    line(allows_digest_, {"allow", change.mailbox, r.device_id});
  }
  line(changes_digest_, {"change", r.identity, change.from_state, change.from_reason,
                         change.to_state, change.to_reason});

  if (window_.grandfathered_only && !change.grandfathered) return;
  if (!window_.after.empty() && key <= window_.after) return;
  if (plan_.changes.size() < window_.limit) {
    keep(change);
    last_kept_key_ = std::move(key);
  } else if (plan_.next_after.empty()) {
    plan_.next_after = last_kept_key_;  // a change after the window: there is a next page
  }
}

void Planner::keep(const PlannedChange& change) {
  text::TextArena& arena = plan_.texts;
  const PlanRecord& r = change.device;
  PlannedChange kept = change;
  kept.device = {arena.keep(r.identity),
                 arena.keepShared(r.mailbox_identity),
                 arena.keep(r.device_id),
                 arena.keepShared(r.device_type),
                 arena.keepShared(r.device_model),
                 arena.keepShared(r.device_os),
                 arena.keepShared(r.device_user_agent),
                 arena.keepShared(r.access_state),
                 arena.keepShared(r.access_state_reason)};
  kept.mailbox = arena.keepShared(change.mailbox);
  kept.from_state = arena.keepShared(change.from_state);
  kept.from_reason = arena.keepShared(change.from_reason);
  kept.to_state = arena.keepShared(change.to_state);
  kept.to_reason = arena.keepShared(change.to_reason);
  plan_.changes.push_back(std::move(kept));
}

Result<Plan, PlanError> Planner::finish() && {
  if (failed_) return *failed_;
  if (target_->grandfather == Grandfather::kListed) {
    for (std::size_t i = 0; i < target_->partnerships.size(); ++i) {
      if (!found_.contains(partnershipKey(target_->partnerships[i]))) {
        return PlanError{
            "grandfather[" + std::to_string(i) + "]",
            inQuotes(target_->partnerships[i]) + " is no partnership in the inventory"};
      }
    }
  }
  if (!unknown_lists_.empty()) {
    plan_.warnings.push_back(std::to_string(unknown_lists_.size()) +
                             " mailboxes' lists have not been read yet (a full harvest reads "
                             "them): their devices on a list are taken to stay as they are");
  }
  // What applying does, in its order (the allows, the rules, the default), and what it changes.
  Sha256Stream digest;
  line(digest, {exchange::accessLevelName(plan_.current_level)});
  line(digest, {exchange::accessLevelName(plan_.level)});
  line(digest, {"allows", toHex(allows_digest_.finish())});
  for (const auto& r : plan_.rule_changes) {
    line(digest,
         {r.remove ? "remove" : "rule", r.rule.name(), exchange::accessLevelName(r.rule.level)});
  }
  line(digest, {"changes", toHex(changes_digest_.finish())});
  plan_.digest = toHex(digest.finish());
  return std::move(plan_);
}

Result<std::optional<Plan>, PlanFailure> planFromInventory(
    InventoryStore& inventory, store::Database& directory, store::Database& store,
    const protocol::PolicyPlanRequest& target, PlanWindow window) {
  auto stored = inventory.policy();
  if (!stored) return PlanFailure{stored.error()};
  if (!stored.value()) return std::optional<Plan>();
  auto current = policyFromJson(stored.value()->document);
  if (!current) {
    return PlanFailure{store::StoreError{store::StoreErrc::kCorrupt,
                                         "the stored organisation policy cannot be read"}};
  }
  auto planner = Planner::start(*current, target, std::move(window));
  if (!planner) return PlanFailure{planner.error()};

  MailboxDirectory mailboxes(directory, store);
  // The partnerships come in key order, a mailbox's one after another: its key and lists are
  // looked up once for the run (again, harmlessly, were its partnerships ever apart).
  std::string mailbox_identity;
  std::string mailbox;  // how commands name it
  std::vector<std::string> allowed, blocked;
  bool lists_known = false;
  bool first = true;
  auto each = inventory.forEachCurrent([&](const DeviceRecord& r) {
    if (first || r.mailbox_identity != mailbox_identity) {
      first = false;
      mailbox_identity = r.mailbox_identity;
      auto found = mailboxes.find(r.mailbox_identity);
      const bool known = found && found->kind == NameLookup::Kind::kFound;
      mailbox = known ? found->key : r.mailbox_identity;
      lists_known = false;
      if (known) {
        auto a = mailboxes.list(found->key, "allowed", MailboxDirectory::Source::kHarvested);
        auto b = mailboxes.list(found->key, "blocked", MailboxDirectory::Source::kHarvested);
        if (a && b) {
          allowed = std::move(a).value();
          blocked = std::move(b).value();
          lists_known = true;
        }
      }
    }
    planner->add({planRecordOf(r), mailbox, lists_known ? &allowed : nullptr,
                  lists_known ? &blocked : nullptr});
  });
  if (!each) return PlanFailure{each.error()};
  auto plan = std::move(planner.value()).finish();
  if (!plan) return PlanFailure{plan.error()};
  plan->policy_harvested_ms = stored.value()->harvested_ms;
  return std::optional<Plan>(std::move(plan).value());
}

namespace {

void writeChanges(json::JsonWriter& w, const Plan& plan) {
  w.key("changes");
  w.beginArray();
  for (const PlannedChange& c : plan.changes) {
    w.beginObject();
    w.key("identity");
    w.string(c.device.identity);
    w.key("mailbox");
    w.string(c.device.mailbox_identity);
    w.key("deviceId");
    w.string(c.device.device_id);
    w.key("deviceType");
    w.string(c.device.device_type);
    w.key("deviceOS");
    w.string(c.device.device_os);
    w.key("from");
    w.beginObject();
    w.key("accessState");
    w.string(c.from_state);
    w.key("reason");
    w.string(c.from_reason);
    w.endObject();
    w.key("to");
    w.beginObject();
    w.key("accessState");
    w.string(c.to_state);
    w.key("reason");
    w.string(c.to_reason);
    if (!c.rule.empty()) {
      w.key("rule");
      w.string(c.rule);
    }
    w.endObject();
    w.key("grandfathered");
    w.boolean(c.grandfathered);
    w.endObject();
  }
  w.endArray();
}

// The allows an apply queues for the grandfathered changes of the page, inside "commands".
void writeAllows(json::JsonWriter& w, const Plan& plan) {
  for (const PlannedChange& c : plan.changes) {
    if (!c.grandfathered) continue;
    w.beginObject();
    w.key("kind");
    w.string("allow");
    w.key("mailbox");
    w.string(c.mailbox);
    w.key("deviceId");
    w.string(c.device.device_id);
    w.key("partnership");
    w.string(c.device.identity);
    w.endObject();
  }
}

void writeNextCursor(json::JsonWriter& w, const Plan& plan) {
  w.key("nextCursor");
  if (plan.next_after.empty()) {
    w.null();
  } else {
    w.string(protocol::encodeCursor(plan.next_after));
  }
}

}  // namespace

void writePlanPageMembers(json::JsonWriter& w, const Plan& plan) {
  writeChanges(w, plan);
  w.key("commands");
  w.beginArray();
  writeAllows(w, plan);
  w.endArray();
  writeNextCursor(w, plan);
}

void writePlanMembers(json::JsonWriter& w, const Plan& plan) {
  w.key("currentDefaultAccessLevel");
  w.string(exchange::accessLevelName(plan.current_level));
  w.key("defaultAccessLevel");
  w.string(exchange::accessLevelName(plan.level));
  w.key("partnerships");
  w.number(plan.partnerships);
  w.key("counts");
  w.beginObject();
  for (auto [name, counts] :
       {std::pair{"byMailbox", &plan.by_mailbox}, std::pair{"byDeviceType", &plan.by_device_type},
        std::pair{"byDeviceOS", &plan.by_device_os}, std::pair{"byNewState", &plan.by_new_state}}) {
    w.key(name);
    w.beginObject();
    for (const auto& [k, n] : *counts) {
      w.key(k);
      w.number(n);
    }
    w.endObject();
  }
  w.endObject();
  writeChanges(w, plan);
  w.key("changesTotal");
  w.number(plan.changes_total);
  w.key("allowsTotal");
  w.number(plan.allows);
  writeNextCursor(w, plan);
  w.key("ruleChanges");
  w.beginArray();
  for (const auto& r : plan.rule_changes) {
    w.beginObject();
    w.key("change");
    w.string(r.remove ? "remove" : r.previous ? "set-level" : "add");
    w.key("name");
    w.string(r.rule.name());
    w.key("accessLevel");
    w.string(exchange::accessLevelName(r.rule.level));
    w.key("previousAccessLevel");
    if (r.previous) {
      w.string(exchange::accessLevelName(*r.previous));
    } else {
      w.null();
    }
    w.endObject();
  }
  w.endArray();
  // In the order an apply queues them: the allows (of this page's changes), the rules, the default.
  w.key("commands");
  w.beginArray();
  writeAllows(w, plan);
  for (const auto& r : plan.rule_changes) {
    w.beginObject();
    w.key("kind");
    w.string(r.remove ? "remove-device-access-rule" : "set-device-access-rule");
    w.key("queryString");
    w.string(r.rule.query_string);
    w.key("characteristic");
    w.string(exchange::characteristicName(r.rule.characteristic));
    if (!r.remove) {
      w.key("accessLevel");
      w.string(exchange::accessLevelName(r.rule.level));
    }
    w.endObject();
  }
  w.beginObject();
  w.key("kind");
  w.string("set-default-access-level");
  w.key("accessLevel");
  w.string(exchange::accessLevelName(plan.level));
  w.endObject();
  w.endArray();
  w.key("warnings");
  w.beginArray();
  for (const auto& warning : plan.warnings) w.string(warning);
  w.endArray();
  w.key("digest");
  w.string(plan.digest);
}

}  // namespace easgate::agent::policy
