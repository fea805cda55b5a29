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

exchange::DeviceFacts factsOf(const PlanDevice& d, const std::vector<std::string>* allowed) {
  const PlanRecord& r = d.record;
  return {r.device_id, r.device_user_agent, r.device_os, r.device_model, r.device_type, allowed,
          d.blocked};
}

std::string_view orUnknown(std::string_view s) { return s.empty() ? "(none)" : s; }

void count(Plan::Counts& counts, std::string_view name) {
  auto at = counts.find(name);
  if (at == counts.end()) at = counts.emplace(std::string(name), 0).first;
  ++at->second;
}

}  // namespace

PlanRecord planRecordOf(const DeviceRecord& r, text::TextArena& arena) {
  return {arena.keep(r.identity),
          arena.keep(r.mailbox_identity),
          arena.keep(r.device_id),
          arena.keepShared(r.device_type),
          arena.keepShared(r.device_model),
          arena.keepShared(r.device_os),
          arena.keepShared(r.device_user_agent),
          arena.keepShared(r.access_state),
          arena.keepShared(r.access_state_reason)};
}

Result<std::optional<PlanInputs>, store::StoreError> loadPlanInputs(InventoryStore& inventory,
                                                                    store::Database& directory,
                                                                    store::Database& store) {
  auto stored = inventory.policy();
  if (!stored) return stored.error();
  if (!stored.value()) return std::optional<PlanInputs>();
  PlanInputs in;
  auto read = policyFromJson(stored.value()->document);
  if (!read) {
    return store::StoreError{store::StoreErrc::kCorrupt,
                             "the stored organisation policy cannot be read"};
  }
  in.policy = std::move(*read);
  in.policy_harvested_ms = stored.value()->harvested_ms;
  MailboxDirectory mailboxes(directory, store);
  // The partnerships come in key order, a mailbox's one after another: its key and lists are
  // looked up once for the run (again, harmlessly, were its partnerships ever apart).
  std::string mailbox_identity;
  PlanDevice mailbox;  // what its partnerships share: how commands name it, its lists
  bool first = true;
  auto each = inventory.forEachCurrent([&](const DeviceRecord& r) {
    if (first || r.mailbox_identity != mailbox_identity) {
      first = false;
      mailbox_identity = r.mailbox_identity;
      mailbox = PlanDevice{};
      auto found = mailboxes.find(r.mailbox_identity);
      const bool known = found && found->kind == NameLookup::Kind::kFound;
      mailbox.mailbox = in.texts.keep(known ? found->key : r.mailbox_identity);
      if (known) {
        auto lists = in.lists.find(found->key);
        if (lists == in.lists.end()) {
          auto allowed =
              mailboxes.list(found->key, "allowed", MailboxDirectory::Source::kHarvested);
          auto blocked =
              mailboxes.list(found->key, "blocked", MailboxDirectory::Source::kHarvested);
          if (allowed && blocked) {
            lists = in.lists
                        .emplace(found->key, PlanInputs::Lists{std::move(allowed).value(),
                                                               std::move(blocked).value()})
                        .first;
          }
        }
        if (lists != in.lists.end()) {
          mailbox.allowed = &lists->second.allowed;
          mailbox.blocked = &lists->second.blocked;
        }
      }
    }
    PlanDevice d = mailbox;
    d.record = planRecordOf(r, in.texts);
    in.devices.push_back(d);
  });
  if (!each) return each.error();
  return std::optional(std::move(in));
}

Result<Plan, PlanError> makePlan(const OrganisationPolicy& current,
                                 const protocol::PolicyPlanRequest& target,
                                 const std::vector<PlanDevice>& devices) {
  Plan plan;
  plan.current_level = current.access.default_level;
  auto level = exchange::accessLevelNamed(target.default_access_level);
  if (!level) return PlanError{"defaultAccessLevel", "an unknown access level"};
  plan.level = *level;
  exchange::AccessPolicy after = current.access;
  after.default_level = *level;
  auto existing = [&](const exchange::DeviceAccessRule& wanted) {
    return std::find_if(after.rules.begin(), after.rules.end(), [&](const auto& r) {
      return r.characteristic == wanted.characteristic && r.query_string == wanted.query_string;
    });
  };
  for (std::size_t i = 0; i < target.rules.size(); ++i) {
    const auto& body = target.rules[i];
    const std::string where = "rules[" + std::to_string(i) + "]";
    if (auto p = exchange::queryStringProblem(body.query_string)) {
      return PlanError{where + ".queryString", *p};
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

  // The partnerships named to keep, by key; each must be in the inventory.
  std::set<std::string> listed;
  for (const auto& p : target.partnerships) listed.insert(partnershipKey(p));
  std::set<std::string> found;

  std::set<std::string, std::less<>> unknown_lists;
  for (const auto& d : devices) {
    const PlanRecord& r = d.record;
    ++plan.partnerships;
    const std::string key = partnershipKey(r.identity);
    const bool lists_known = d.allowed != nullptr;
    if (!lists_known && !unknown_lists.contains(r.mailbox_identity)) {
      unknown_lists.emplace(r.mailbox_identity);
    }
    const bool on_allowed = lists_known ? exchange::listHasDeviceId(*d.allowed, r.device_id)
                                        : r.access_state_reason == "Individual";
    const bool on_blocked = d.blocked && exchange::listHasDeviceId(*d.blocked, r.device_id);

    bool keep = false;
    if (target.grandfather == Grandfather::kAllowed) {
      keep = r.access_state == "Allowed" && !on_allowed;
    } else if (target.grandfather == Grandfather::kListed && listed.count(key)) {
      found.insert(key);
      if (on_blocked) {
        return PlanError{"grandfather", "'" + std::string(r.identity) +
                                            "' is on its mailbox's blocked list: unblock it "
                                            "first if it is to be kept"};
      }
      keep = !on_allowed;
    }
    if (keep) {
      if (auto problem = protocol::deviceIdProblem(r.device_id)) {
        plan.warnings.push_back("'" + std::string(r.identity) +
                                "' cannot be grandfathered: its device ID " + *problem);
        keep = false;
      }
    }

    PlannedChange change;
    change.device = &r;
    change.mailbox = d.mailbox;
    change.from_state = r.access_state;
    change.from_reason = r.access_state_reason;
    if (keep) {
      change.to_state = "Allowed";
      change.to_reason = "Individual";
      change.grandfathered = true;
      ++plan.allows;
    } else if (!lists_known && r.access_state_reason == "Individual") {
      // On a list the agent has not read: Exchange keeps deciding it by that list.
      continue;
    } else {
      exchange::AccessDecision decided = exchange::decideAccess(after, factsOf(d, d.allowed));
      change.to_state = decided.state;
      change.to_reason = decided.reason;
      if (decided.rule) change.rule = decided.rule->name();
    }
    // A grandfathered device is listed even when Exchange shows it so already (allowed
    // individually, by a list the harvest read before it was taken off): its allow is a change,
    // and each allow is listed with its partnership's change.
    if (!change.grandfathered && change.to_state == change.from_state &&
        change.to_reason == change.from_reason) {
      continue;
    }
    if (change.to_state != change.from_state) {
      count(plan.by_mailbox, r.mailbox_identity);
      count(plan.by_device_type, orUnknown(r.device_type));
      count(plan.by_device_os, orUnknown(r.device_os));
      count(plan.by_new_state, change.to_state);
    }
    plan.changes.push_back(std::move(change));
  }
  if (target.grandfather == Grandfather::kListed) {
    for (std::size_t i = 0; i < target.partnerships.size(); ++i) {
      if (!found.count(partnershipKey(target.partnerships[i]))) {
        return PlanError{"grandfather[" + std::to_string(i) + "]",
                         "'" + target.partnerships[i] + "' is no partnership in the inventory"};
      }
    }
  }
  if (!unknown_lists.empty()) {
    plan.warnings.push_back(std::to_string(unknown_lists.size()) +
                            " mailboxes' lists have not been read yet (a full harvest reads "
                            "them): their devices on a list are taken to stay as they are");
  }

  // The digest covers what applying does and what it changes: a line each, hashed as they
  // come (joined, they were some 45 MB at 200,000 partnerships).
  Sha256Stream digest;
  auto line = [&](std::initializer_list<std::string_view> fields) {
    bool tab = false;
    for (std::string_view f : fields) digest.add(std::exchange(tab, true) ? "\t" : "").add(f);
    digest.add("\n");
  };
  line({exchange::accessLevelName(plan.current_level)});
  line({exchange::accessLevelName(plan.level)});
  for (const auto& c : plan.changes) {
    if (c.grandfathered) line({"allow", c.mailbox, c.device->device_id});
  }
  for (const auto& r : plan.rule_changes) {
    line({r.remove ? "remove" : "rule", r.rule.name(), exchange::accessLevelName(r.rule.level)});
  }
  for (const auto& c : plan.changes) {
    line({"change", c.device->identity, c.from_state, c.from_reason, c.to_state, c.to_reason});
  }
  plan.digest = toHex(digest.finish());
  return plan;
}

PlanPage planPage(const Plan& plan, std::string_view after, std::size_t limit) {
  PlanPage page;
  if (!after.empty()) {
    // The changes are in key order: the page starts at the first after `after`.
    page.begin =
        static_cast<std::size_t>(std::upper_bound(plan.changes.begin(), plan.changes.end(), after,
                                                  [](std::string_view key, const PlannedChange& c) {
                                                    return key < partnershipKey(c.device->identity);
                                                  }) -
                                 plan.changes.begin());
  }
  page.end = page.begin + std::min(limit, plan.changes.size() - page.begin);
  if (page.end < plan.changes.size() && page.end > page.begin) {
    page.next_after = partnershipKey(plan.changes[page.end - 1].device->identity);
  }
  return page;
}

namespace {

void writeChanges(json::JsonWriter& w, const Plan& plan, const PlanPage& page) {
  w.key("changes");
  w.beginArray();
  for (std::size_t i = page.begin; i < page.end; ++i) {
    const PlannedChange& c = plan.changes[i];
    w.beginObject();
    w.key("identity");
    w.string(c.device->identity);
    w.key("mailbox");
    w.string(c.device->mailbox_identity);
    w.key("deviceId");
    w.string(c.device->device_id);
    w.key("deviceType");
    w.string(c.device->device_type);
    w.key("deviceOS");
    w.string(c.device->device_os);
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
void writeAllows(json::JsonWriter& w, const Plan& plan, const PlanPage& page) {
  for (std::size_t i = page.begin; i < page.end; ++i) {
    const PlannedChange& c = plan.changes[i];
    if (!c.grandfathered) continue;
    w.beginObject();
    w.key("kind");
    w.string("allow");
    w.key("mailbox");
    w.string(c.mailbox);
    w.key("deviceId");
    w.string(c.device->device_id);
    w.key("partnership");
    w.string(c.device->identity);
    w.endObject();
  }
}

void writeNextCursor(json::JsonWriter& w, const PlanPage& page) {
  w.key("nextCursor");
  if (page.next_after.empty()) {
    w.null();
  } else {
    w.string(protocol::encodeCursor(page.next_after));
  }
}

}  // namespace

void writePlanPageMembers(json::JsonWriter& w, const Plan& plan, const PlanPage& page) {
  writeChanges(w, plan, page);
  w.key("commands");
  w.beginArray();
  writeAllows(w, plan, page);
  w.endArray();
  writeNextCursor(w, page);
}

void writePlanMembers(json::JsonWriter& w, const Plan& plan, const PlanPage& page) {
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
  writeChanges(w, plan, page);
  w.key("changesTotal");
  w.number(static_cast<std::int64_t>(plan.changes.size()));
  w.key("allowsTotal");
  w.number(plan.allows);
  writeNextCursor(w, page);
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
  writeAllows(w, plan, page);
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
