// The organisation's policy on 9090: read it, plan a change of its DefaultAccessLevel, apply a
// plan as journaled commands, roll an apply back (agent/policy/).
#include <random>
#include <variant>

#include "agent/api/api_call.h"
#include "agent/api/api_json.h"
#include "agent/policy/organisation_policy.h"
#include "agent/policy/policy_applies.h"
#include "agent/policy/policy_plan.h"
#include "common/json/json_writer.h"
#include "common/memory/return_freed_memory.h"
#include "common/text/hex.h"
#include "common/time/utc_time.h"

namespace easgate::agent::api {
namespace {

using transport::HttpResponse;

constexpr std::size_t kPlansKept = 32;

std::string newPlanId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "plan-";
  std::uint64_t bits = rng();
  for (int i = 0; i < 16; ++i, bits >>= 4) {
    id.push_back(text::hexDigit(static_cast<unsigned>(bits)));
  }
  return id;
}

HttpResponse notHarvestedYet() {
  return errorResponse({409, "policy-not-read",
                        "the organisation's policy has not been read from Exchange yet: the "
                        "first full harvest reads it",
                        ""});
}

// A store's failure is the agent's (500); a plan's, the request's (400, with its field).
HttpResponse planFailure(const policy::PlanFailure& failure) {
  if (const auto* store = std::get_if<store::StoreError>(&failure)) return storeFailure(*store);
  const auto& refused = std::get<policy::PlanError>(failure);
  return errorResponse(protocol::badRequest("invalid-field", refused.message, refused.field));
}

void writeApply(json::JsonWriter& w, const policy::PolicyApply& a) {
  w.beginObject();
  w.key("applyId");
  w.number(a.id);
  w.key("planId");
  w.string(a.plan);
  w.key("at");
  w.string(utc::formatUnixMs(a.at_ms));
  w.key("requestedBy");
  w.string(a.requested_by);
  w.key("previousDefaultAccessLevel");
  w.string(a.previous_level);
  w.key("defaultAccessLevel");
  w.string(a.level);
  w.key("grandfathered");
  w.number(static_cast<std::int64_t>(a.added.size()));
  w.key("rolledBackBy");
  if (a.rolled_back_by) {
    w.number(*a.rolled_back_by);
  } else {
    w.null();
  }
  w.endObject();
}

// Answers 202 with the commands a sequence journaled: their count and ids (one after another),
// and as many of them as a page holds: the organisation's (the apply's rules and default) and
// the last always, the first of the rest. A policy apply may queue an allow for every device
// of the organisation: listed whole, its answer was 65 MB at 160,000 allows.
HttpResponse sequenceAccepted(const std::vector<CommandRecord>& commands, std::int64_t id,
                              const char* id_name) {
  std::vector<bool> listed(commands.size(), false);
  std::size_t room = protocol::kDefaultPageSize;
  auto list = [&](std::size_t i) {
    if (!listed[i] && room > 0) {
      listed[i] = true;
      --room;
    }
  };
  if (!commands.empty()) list(commands.size() - 1);
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (commandKindInfo(commands[i].request.kind).target ==
        protocol::CommandTarget::kOrganisation) {
      list(i);
    }
  }
  for (std::size_t i = 0; i < commands.size() && room > 0; ++i) list(i);
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key(id_name);
  w.number(id);
  w.key("commandsTotal");
  w.number(static_cast<std::int64_t>(commands.size()));
  if (!commands.empty()) {
    w.key("firstCommandId");
    w.number(commands.front().id);
    w.key("lastCommandId");
    w.number(commands.back().id);
  }
  w.key("commands");
  w.beginArray();
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (listed[i]) w.raw(commandJson(commands[i]));
  }
  w.endArray();
  w.endObject();
  auto r = jsonResponse(202, std::move(out));
  r.headers.emplace_back("Location", "/v1/commands/" + std::to_string(id));
  return r;
}

// Checks and completes each request of a sequence, as a single command is (normalizeCommand).
std::optional<CommandError> normalizeEach(std::vector<CommandRequest>& requests) {
  for (auto& r : requests) {
    auto normalized = normalizeCommand(std::move(r));
    if (!normalized) return normalized.error();
    r = std::move(normalized).value();
  }
  return std::nullopt;
}

}  // namespace

HttpResponse ApiService::getPolicy(Call&) {
  return withReader([&](ReaderConnection& c) -> HttpResponse {
    auto stored = c.inventory->policy();
    if (!stored) return storeFailure(stored.error());
    if (!stored.value()) return notHarvestedYet();
    auto last = policy::findApply(*c.store, std::nullopt);
    if (!last) return storeFailure(last.error());
    std::string out;
    json::JsonWriter w(out);
    w.beginObject();
    w.key("harvestedAt");
    w.string(utc::formatUnixMs(stored.value()->harvested_ms));
    w.key("settings");
    w.raw(stored.value()->document);
    w.key("lastApply");
    if (last.value()) {
      writeApply(w, *last.value());
    } else {
      w.null();
    }
    w.endObject();
    return jsonResponse(200, std::move(out));
  });
}

HttpResponse ApiService::planPolicy(Call& call) {
  auto target = protocol::parsePolicyPlanRequest(call.request.body);
  if (!target) return errorResponse(target.error());
  return withReader([&](ReaderConnection& c) -> HttpResponse {
    auto plan = policy::planFromInventory(*c.inventory, *c.directory, *c.store, target.value(),
                                          {{}, target->limit, false});
    if (!plan) return planFailure(plan.error());
    if (!plan.value()) return notHarvestedYet();
    StoredPlan stored{newPlanId(), target.value(), plan.value()->digest, clock_.nowMs(),
                      call.client};
    {
      std::lock_guard lock(plans_mutex_);
      plans_.push_back(stored);
      if (plans_.size() > kPlansKept) plans_.pop_front();
    }
    std::string out;
    json::JsonWriter w(out);
    w.beginObject();
    w.key("id");
    w.string(stored.id);
    w.key("createdAt");
    w.string(utc::formatUnixMs(stored.created_ms));
    w.key("policyHarvestedAt");
    w.string(utc::formatUnixMs(plan.value()->policy_harvested_ms));
    policy::writePlanMembers(w, *plan.value());
    w.endObject();
    return jsonResponse(200, std::move(out));
  });
}

std::optional<ApiService::StoredPlan> ApiService::storedPlan(const std::string& id) {
  std::lock_guard lock(plans_mutex_);
  for (const auto& p : plans_) {
    if (p.id == id) return p;
  }
  return std::nullopt;
}

HttpResponse ApiService::withPlanAgain(
    const StoredPlan& stored, policy::PlanWindow window,
    const std::function<HttpResponse(const policy::Plan&)>& answer) {
  return withReader([&](ReaderConnection& c) -> HttpResponse {
    auto plan = policy::planFromInventory(*c.inventory, *c.directory, *c.store, stored.target,
                                          std::move(window));
    if (!plan && std::holds_alternative<store::StoreError>(plan.error())) {
      return planFailure(plan.error());
    }
    if (plan && !plan.value()) return notHarvestedYet();
    if (!plan || plan.value()->digest != stored.digest) {
      return errorResponse({409, "stale-plan",
                            "the inventory or the organisation's policy changed since plan " +
                                stored.id +
                                " was made, in a way that changes it: make a new "
                                "plan and review it",
                            "planId"});
    }
    return answer(*plan.value());
  });
}

namespace {

protocol::ApiError noSuchPlan(const std::string& id, std::string field) {
  return {404, "not-found",
          "no plan " + id +
              " (plans are kept in memory, the last 32, until the agent restarts): make a new "
              "one with POST /v1/policy/plan",
          std::move(field)};
}

}  // namespace

HttpResponse ApiService::planChanges(Call& call) {
  const std::string& id = call.params[0];
  if (!protocol::isPlanId(id)) {
    return errorResponse(protocol::badRequest(
        "invalid-field", "a plan's id is \"plan-\" and 16 hex digits, as the plan gave it", "id"));
  }
  auto query = protocol::parsePlanChangesQuery(call.query);
  if (!query) return errorResponse(query.error());
  auto stored = storedPlan(id);
  if (!stored) return errorResponse(noSuchPlan(id, "id"));
  // The plan again, from the inventory as it is now: a page of it only while it would do the
  // same as the plan reviewed.
  return withPlanAgain(*stored, {query->cursor, query->limit, false},
                       [&](const policy::Plan& plan) {
                         std::string out;
                         json::JsonWriter w(out);
                         w.beginObject();
                         w.key("planId");
                         w.string(stored->id);
                         policy::writePlanPageMembers(w, plan);
                         w.endObject();
                         return jsonResponse(200, std::move(out));
                       });
}

HttpResponse ApiService::applyPolicy(Call& call) {
  auto id = protocol::parsePolicyApplyRequest(call.request.body);
  if (!id) return errorResponse(id.error());
  std::optional<StoredPlan> stored = storedPlan(id.value());
  if (!stored) return errorResponse(noSuchPlan(id.value(), "planId"));
  // The plan again, from the inventory as it is now: applied only if it would do the same.
  HttpResponse answer = withPlanAgain(
      *stored, policy::PlanWindow::everyAllow(), [&](const policy::Plan& plan) -> HttpResponse {
        std::vector<CommandRequest> requests;
        policy::PolicyApply record;
        for (const auto& c : plan.changes) {
          if (!c.grandfathered) continue;
          CommandRequest allow;
          allow.kind = CommandKind::kAllow;
          allow.mailbox = std::string(c.mailbox);
          allow.device_id = std::string(c.device.device_id);
          allow.requested_by = call.client;
          requests.push_back(std::move(allow));
          record.added.emplace_back(c.mailbox, c.device.device_id);
        }
        for (const auto& change : plan.rule_changes) {
          namespace exchange = powershell::exchange;
          const std::string characteristic(
              exchange::characteristicName(change.rule.characteristic));
          const std::string level(exchange::accessLevelName(change.rule.level));
          CommandRequest rule;
          rule.kind = change.remove ? CommandKind::kRemoveDeviceAccessRule
                                    : CommandKind::kSetDeviceAccessRule;
          rule.rule_query = change.rule.query_string;
          rule.rule_characteristic = characteristic;
          if (!change.remove) rule.access_level = level;
          rule.requested_by = call.client;
          requests.push_back(std::move(rule));
          record.rule_changes.push_back(
              {change.remove, change.rule.query_string, characteristic, level,
               change.previous ? std::string(exchange::accessLevelName(*change.previous)) : ""});
        }
        CommandRequest level;
        level.kind = CommandKind::kSetDefaultAccessLevel;
        level.access_level = std::string(powershell::exchange::accessLevelName(plan.level));
        level.requested_by = call.client;
        requests.push_back(std::move(level));
        if (auto refused = normalizeEach(requests)) return journalRefusal(*refused);
        record.plan = stored->id;
        record.at_ms = clock_.nowMs();
        record.requested_by = call.client;
        record.previous_level =
            std::string(powershell::exchange::accessLevelName(plan.current_level));
        record.level = std::string(powershell::exchange::accessLevelName(plan.level));
        auto journaled = journal_.submitSequence(
            std::move(requests), clock_.nowMs() + options_.command_deadline_ms,
            [&](store::Database& db, const std::vector<CommandRecord>& commands) {
              record.id = commands.back().id;
              return policy::recordApply(db, record);
            });
        if (!journaled) return journalRefusal(journaled.error());
        {
          std::lock_guard lock(plans_mutex_);  // a plan is applied once
          std::erase_if(plans_, [&](const StoredPlan& p) { return p.id == stored->id; });
        }
        if (commands_submitted_) commands_submitted_();
        return sequenceAccepted(journaled.value(), record.id, "applyId");
      });
  // The apply's plan (every allow) and what it journaled lived for this call only: hundreds of
  // MB for a large organisation, which glibc would otherwise keep for the agent's life.
  memory::returnFreedMemory();
  return answer;
}

HttpResponse ApiService::rollbackPolicy(Call& call) {
  auto request = protocol::parsePolicyRollbackRequest(call.request.body);
  if (!request) return errorResponse(request.error());
  HttpResponse answer = withReader([&](ReaderConnection& c) -> HttpResponse {
    auto found = policy::findApply(*c.store, request->apply_id);
    if (!found) return storeFailure(found.error());
    if (!found.value()) {
      return errorResponse({404, "not-found",
                            request->apply_id
                                ? "no policy apply " + std::to_string(*request->apply_id)
                                : "there is no policy apply to roll back",
                            request->apply_id ? "applyId" : ""});
    }
    const policy::PolicyApply apply = *found.value();
    if (apply.rolled_back_by) {
      return errorResponse({409, "already-rolled-back",
                            "apply " + std::to_string(apply.id) + " was rolled back by command " +
                                std::to_string(*apply.rolled_back_by),
                            "applyId"});
    }
    // The default first, so that no device it kept in falls to the stricter level; then, when
    // asked, the IDs the apply added, and nothing else.
    std::vector<CommandRequest> requests;
    CommandRequest level;
    level.kind = CommandKind::kSetDefaultAccessLevel;
    level.access_level = apply.previous_level;
    level.requested_by = call.client;
    requests.push_back(std::move(level));
    // The rules as they were, the last change undone first.
    for (auto it = apply.rule_changes.rbegin(); it != apply.rule_changes.rend(); ++it) {
      CommandRequest rule;
      rule.rule_query = it->query_string;
      rule.rule_characteristic = it->characteristic;
      rule.requested_by = call.client;
      if (!it->remove && it->previous_level.empty()) {
        rule.kind = CommandKind::kRemoveDeviceAccessRule;  // the apply made it
      } else {
        rule.kind = CommandKind::kSetDeviceAccessRule;  // back to its level, or made again
        rule.access_level = it->remove ? it->level : it->previous_level;
      }
      requests.push_back(std::move(rule));
    }
    if (request->remove_grandfathered) {
      for (const auto& [mailbox, device_id] : apply.added) {
        CommandRequest revoke;
        revoke.kind = CommandKind::kRevoke;
        revoke.mailbox = mailbox;
        revoke.device_id = device_id;
        revoke.requested_by = call.client;
        requests.push_back(std::move(revoke));
      }
    }
    if (auto refused = normalizeEach(requests)) return journalRefusal(*refused);
    auto journaled = journal_.submitSequence(
        std::move(requests), clock_.nowMs() + options_.command_deadline_ms,
        [&](store::Database& db, const std::vector<CommandRecord>& commands) {
          return policy::markRolledBack(db, apply.id, commands.front().id);
        });
    if (!journaled) return journalRefusal(journaled.error());
    if (commands_submitted_) commands_submitted_();
    return sequenceAccepted(journaled.value(), journaled->front().id, "rollbackId");
  });
  memory::returnFreedMemory();  // what it journaled, as for an apply
  return answer;
}

HttpResponse ApiService::policyRules(Call&) {
  return withReader([&](ReaderConnection& c) -> HttpResponse {
    auto stored = c.inventory->policy();
    if (!stored) return storeFailure(stored.error());
    if (!stored.value()) return notHarvestedYet();
    auto read = policy::policyFromJson(stored.value()->document);
    if (!read) return storeFailure({store::StoreErrc::kCorrupt, "the stored policy"});
    std::string out;
    json::JsonWriter w(out);
    w.beginObject();
    w.key("harvestedAt");
    w.string(utc::formatUnixMs(stored.value()->harvested_ms));
    w.key("rules");
    policy::writeRules(w, read->access.rules);
    w.endObject();
    return jsonResponse(200, std::move(out));
  });
}

HttpResponse ApiService::putPolicyRule(Call& call) {
  auto body = protocol::parseDeviceAccessRuleBody(call.request.body);
  if (!body) return errorResponse(body.error());
  if (auto p = powershell::exchange::queryStringProblem(body->query_string)) {
    return errorResponse(protocol::badRequest("invalid-field", *p, "queryString"));
  }
  CommandRequest request;
  request.kind = CommandKind::kSetDeviceAccessRule;
  request.rule_query = body->query_string;
  request.rule_characteristic = body->characteristic;
  request.access_level = body->access_level;
  return submit(call, std::move(request));
}

HttpResponse ApiService::deletePolicyRule(Call& call) {
  auto rule = powershell::exchange::ruleNamed(call.params[0]);
  if (!rule) {
    return errorResponse(protocol::badRequest(
        "invalid-field",
        "a rule is named \"<QueryString> (<Characteristic>)\", as Exchange names it", "name"));
  }
  CommandRequest request;
  request.kind = CommandKind::kRemoveDeviceAccessRule;
  request.rule_query = rule->query_string;
  request.rule_characteristic =
      std::string(powershell::exchange::characteristicName(rule->characteristic));
  if (auto p = powershell::exchange::queryStringProblem(request.rule_query)) {
    return errorResponse(protocol::badRequest("invalid-field", *p, "name"));
  }
  return submit(call, std::move(request));
}

HttpResponse ApiService::putPolicySettings(Call& call) {
  auto recipients = protocol::parsePolicySettingsBody(call.request.body);
  if (!recipients) return errorResponse(recipients.error());
  CommandRequest request;
  request.kind = CommandKind::kSetAdminMailRecipients;
  request.recipients = std::move(recipients).value();
  return submit(call, std::move(request));
}

}  // namespace easgate::agent::api
