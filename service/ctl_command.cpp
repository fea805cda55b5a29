#include "service/ctl_command.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "protocol/command_kinds.h"
#include "protocol/requests.h"
#include "service/cli.h"
#include "service/console.h"
#include "service/ctl_output.h"

namespace easgate::service {
namespace {

struct Request {
  std::string method = "GET";
  std::string path;
  std::string body;
};

std::string commandBody(const std::string& kind, const CtlOptions& o) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  w.key("kind");
  w.string(kind);
  if (!o.mailbox.empty()) {
    w.key("mailbox");
    w.string(o.mailbox);
  }
  if (!o.device_id.empty()) {
    w.key("deviceId");
    w.string(o.device_id);
  }
  if (!o.partnership.empty()) {
    w.key("partnership");
    w.string(o.partnership);
  }
  w.endObject();
  return out;
}

std::string query(std::initializer_list<std::pair<const char*, std::string>> params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (value.empty() || value == "0") continue;
    out += (out.empty() ? "?" : "&") + std::string(name) + "=" + protocol::percentEncode(value);
  }
  return out;
}

// `ctl policy show|plan|apply|rollback`.
// The changes a plan's answer, and each of its pages, lists: --limit, else with --all the most a
// page may hold (each page makes the plan again, seconds at 200,000 partnerships), else the
// agent's default (0).
int planPageSize(const CtlOptions& o) {
  if (o.limit > 0) return o.limit;
  return o.all ? static_cast<int>(protocol::kMaxPageSize) : 0;
}

Request policyRequest(const std::string& action, const CtlOptions& o) {
  std::string body;
  json::JsonWriter w(body);
  w.beginObject();
  if (action == "show") return {"GET", "/v1/policy", ""};
  if (action == "rules") return {"GET", "/v1/policy/rules", ""};
  if (action == "remove-rule") {
    return {"DELETE", "/v1/policy/rules/" + protocol::percentEncode(o.rule_query), ""};
  }
  if (action == "set-rule") {
    w.key("queryString");
    w.string(o.rule_query);
    w.key("characteristic");
    w.string(o.rule_characteristic);
    w.key("accessLevel");
    w.string(o.access_level);
    w.endObject();
    return {"POST", "/v1/policy/rules", body};
  }
  if (action == "recipients") {
    w.key("adminMailRecipients");
    w.beginArray();
    for (const auto& r : o.recipients) w.string(r);
    w.endArray();
    w.endObject();
    return {"PUT", "/v1/policy/settings", body};
  }
  if (action == "plan") {
    w.key("defaultAccessLevel");
    w.string(o.access_level);
    w.key("grandfather");
    if (!o.partnerships.empty()) {
      w.beginArray();
      for (const auto& p : o.partnerships) w.string(p);
      w.endArray();
    } else {
      w.string(o.grandfather);
    }
    if (!o.plan_set_rules.empty()) {
      w.key("rules");
      w.beginArray();
      for (std::size_t i = 0; i + 2 < o.plan_set_rules.size(); i += 3) {
        w.beginObject();
        w.key("queryString");
        w.string(o.plan_set_rules[i]);
        w.key("characteristic");
        w.string(o.plan_set_rules[i + 1]);
        w.key("accessLevel");
        w.string(o.plan_set_rules[i + 2]);
        w.endObject();
      }
      w.endArray();
    }
    if (!o.plan_remove_rules.empty()) {
      w.key("removeRules");
      w.beginArray();
      for (const auto& name : o.plan_remove_rules) w.string(name);
      w.endArray();
    }
    if (const int limit = planPageSize(o); limit > 0) {
      w.key("limit");
      w.number(limit);
    }
  } else if (action == "apply") {
    w.key("planId");
    w.string(o.plan_id);
  } else {  // rollback
    if (o.id > 0) {
      w.key("applyId");
      w.number(o.id);
    }
    w.key("removeGrandfathered");
    w.boolean(o.remove_grandfathered);
  }
  w.endObject();
  return {"POST", "/v1/policy/" + action, body};
}

// What the chosen subcommand asks of the agent.
Request requestFor(const std::string& name, const std::string& action, const CtlOptions& o) {
  using protocol::percentEncode;
  if (name == "policy") return policyRequest(action, o);
  if (name == "status" || name == "health") return {"GET", "/v1/" + name, ""};
  if (name == "metrics") return {"GET", "/metrics", ""};
  if (name == "devices") {
    return {"GET",
            "/v1/devices" + query({{"q", o.search},
                                   {"mailbox", o.mailbox},
                                   {"accessState", o.access_state},
                                   {"deviceType", o.device_type},
                                   {"seenSince", o.seen_since},
                                   {"limit", std::to_string(o.limit)},
                                   {"cursor", o.cursor}}),
            ""};
  }
  if (name == "device") return {"GET", "/v1/devices/" + percentEncode(o.identity), ""};
  if (name == "lists") return {"GET", "/v1/mailboxes/" + percentEncode(o.mailbox) + "/lists", ""};
  if (name == "set-allowed" || name == "set-blocked") {
    std::string body;
    json::JsonWriter w(body);
    w.beginObject();
    w.key("deviceIds");
    w.beginArray();
    for (const auto& id : o.device_ids) w.string(id);
    w.endArray();
    w.endObject();
    return {"PUT",
            "/v1/mailboxes/" + percentEncode(o.mailbox) +
                (name == "set-allowed" ? "/lists/allowed" : "/lists/blocked"),
            body};
  }
  if (name == "command") return {"GET", "/v1/commands/" + std::to_string(o.id), ""};
  if (name == "harvest") {
    return {"POST", "/v1/harvests", o.full_harvest ? R"({"kind":"full"})" : R"({"kind":"delta"})"};
  }
  if (name == "audit") {
    return {"GET",
            "/v1/audit" + query({{"since", o.since},
                                 {"until", o.until},
                                 {"actor", o.actor},
                                 {"action", o.audit_action},
                                 {"target", o.target},
                                 {"limit", std::to_string(o.limit)},
                                 {"before", std::to_string(o.before)}}),
            ""};
  }
  if (name == "events") {
    return {"GET",
            "/v1/events" + query({{"after", std::to_string(o.after)},
                                  {"limit", std::to_string(o.limit)},
                                  {"wait", std::to_string(static_cast<int>(o.wait_seconds))}}),
            ""};
  }
  if (name == "wipe")
    return {"POST", "/v1/commands", commandBody(o.account_only ? "wipe-account-only" : "wipe", o)};
  // allow, revoke, block, unblock, cancel-wipe, remove-partnership: the wire's names.
  return {"POST", "/v1/commands", commandBody(name, o)};
}

// An example for each subcommand's help, as an administrator would type it.
constexpr std::pair<std::string_view, std::string_view> kExamples[] = {
    {"health", "easgate ctl health"},
    {"status", "easgate ctl status -o json | jq .harvests"},
    {"metrics", "easgate ctl metrics | grep easgate_commands"},
    {"devices",
     "easgate ctl devices --access-state quarantined\n"
     "  easgate ctl devices --search ann\n"
     "  easgate ctl devices --mailbox ann.berg@contoso.com --all -o csv > ann.csv"},
    {"device",
     "easgate ctl device 'contoso.com/Users/Ann Berg/ExchangeActiveSyncDevices/iPhone§ABC'"},
    {"lists", "easgate ctl lists ann.berg@contoso.com"},
    {"allow", "easgate ctl allow ann.berg@contoso.com 27FC815ECBFEF5E7 --wait 60"},
    {"revoke", "easgate ctl revoke ann.berg@contoso.com 27FC815ECBFEF5E7 --wait 60"},
    {"block", "easgate ctl block ann.berg@contoso.com 27FC815ECBFEF5E7 --wait 60"},
    {"unblock", "easgate ctl unblock ann.berg@contoso.com 27FC815ECBFEF5E7"},
    {"set-allowed", "easgate ctl set-allowed ann.berg@contoso.com 27FC815E 3B9A0C11 --wait 60"},
    {"set-blocked", "easgate ctl set-blocked ann.berg@contoso.com   (none: an empty list)"},
    {"wipe",
     "easgate ctl wipe 'contoso.com/Users/Ann Berg/ExchangeActiveSyncDevices/iPhone§ABC' "
     "--account-only --wait 120"},
    {"cancel-wipe",
     "easgate ctl cancel-wipe 'contoso.com/Users/Ann Berg/ExchangeActiveSyncDevices/iPhone§ABC'"},
    {"remove-partnership",
     "easgate ctl remove-partnership "
     "'contoso.com/Users/Ann Berg/ExchangeActiveSyncDevices/iPhone§ABC'"},
    {"command", "easgate ctl command 42 --wait 60"},
    {"events", "easgate ctl events --after 1200 --wait 30"},
    {"show", "easgate ctl policy show"},
    {"plan", "easgate ctl policy plan Quarantine --grandfather allowed -o json > plan.json"},
    {"apply", "easgate ctl policy apply plan-1f0c3a9e5b7d2c41 --wait 600"},
    {"rollback", "easgate ctl policy rollback --remove-grandfathered --wait 600"},
    {"rules", "easgate ctl policy rules"},
    {"set-rule", "easgate ctl policy set-rule 'iOS 16.7.5 20H307' DeviceOS Quarantine"},
    {"remove-rule", "easgate ctl policy remove-rule 'iOS 16.7.5 20H307 (DeviceOS)'"},
    {"recipients", "easgate ctl policy recipients mobile-admins@contoso.com"},
};

// Every subcommand, at any depth: its example, and the options of `ctl` accepted after it
// too (`ctl status --url ...`).
void finishSubcommands(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->fallthrough();
    // CLI11 hands a subcommand its parent's footer; the subcommand's own example replaces it.
    for (const auto& [name, example] : kExamples) {
      if (sub->get_name() == name) sub->footer("Example:\n  " + std::string(example));
    }
    finishSubcommands(*sub);
  }
}

bool isFinalState(const std::string& body) {
  auto doc = json::parseJson(body);
  if (!doc) return true;
  const json::JsonValue* state = doc->find("state");
  return !state || !state->asString() ||
         (*state->asString() == "succeeded" || *state->asString() == "failed");
}

}  // namespace

CLI::App* addCtlCommand(CLI::App& app, CtlOptions& o) {
  CLI::App* ctl = app.add_subcommand("ctl", "Talk to a running agent over the 9090 protocol");
  ctl->require_subcommand(1);
  ctl->footer(
      "Prints the agent's answer: a table on a terminal, its JSON when piped (-o table|json|csv\n"
      "to choose; metrics are Prometheus text). Options go before or after the subcommand.\n"
      "Exit codes: 0 done, 6 the agent refused or a command it ran failed (the error is\n"
      "printed), 7 no answer (TLS refused, no connection). The connection options may also\n"
      "come from EASGATE_URL, EASGATE_CA, EASGATE_CERT and EASGATE_KEY.\n\n"
      "Examples:\n"
      "  easgate ctl devices --access-state quarantined\n"
      "  easgate ctl allow ann.berg@contoso.com 27FC815ECBFEF5E7 --wait 60\n"
      "  easgate ctl audit --action wipe --all -o csv > wipes.csv");
  ctl->add_option("--url", o.client.base_url, "The agent")
      ->envname("EASGATE_URL")
      ->capture_default_str();
  ctl->add_option("--ca", o.client.ca_file, "The CA that signed the agent's certificate")
      ->envname("EASGATE_CA");
  ctl->add_option("--cert", o.client.certificate_file, "Your client certificate (PEM)")
      ->envname("EASGATE_CERT");
  ctl->add_option("--key", o.client.key_file, "Its private key (PEM)")->envname("EASGATE_KEY");
  ctl->add_option("--idempotency-key", o.idempotency_key,
                  "Makes a retried command safe: a repeat returns the first command");
  ctl->add_option("-o,--output", o.output, "table, json or csv (default: table on a terminal)")
      ->transform(CLI::IsMember({"table", "json", "csv"}, CLI::ignore_case));
  ctl->add_flag("--all", o.all,
                "Every page (devices, events, audit, a policy plan's changes), not just the first");
  ctl->add_option("--wait", o.change_wait_seconds,
                  "After a change (allow, wipe, policy apply, ...): wait up to this many seconds "
                  "for its commands to finish; exit 6 if one failed");

  ctl->add_subcommand("health", "Whether the agent answers");
  ctl->add_subcommand("status", "Commands by state, bridges, the last harvests");
  ctl->add_subcommand("metrics",
                      "The Prometheus metrics, as text: commands, harvests, bridges, the process, "
                      "certificate expiry");
  CLI::App* devices = ctl->add_subcommand("devices", "The inventory, a page at a time");
  devices->add_option("--mailbox", o.mailbox, "Only this mailbox's devices");
  devices->add_option("--access-state", o.access_state,
                      "Allowed, Blocked, Quarantined, DeviceDiscovery or Unknown (any case)");
  devices->add_option("--device-type", o.device_type, "Only this DeviceType");
  devices->add_option("--search", o.search,
                      "Devices whose mailbox name or address, or device ID, starts with this "
                      "(any case): --search ann");
  devices->add_option("--seen-since", o.seen_since, "Synced at or after (2026-11-01T00:00:00Z)");
  devices->add_option("--limit", o.limit, "Devices per page (1-1000; default 100)");
  devices->add_option("--cursor", o.cursor, "nextCursor of the previous page");
  ctl->add_subcommand("device", "One partnership and its history")
      ->add_option("identity", o.identity, "The partnership's Identity")
      ->required();
  ctl->add_subcommand("lists", "A mailbox's allowed and blocked lists")
      ->add_option("mailbox", o.mailbox, "The mailbox")
      ->required();
  // A subcommand per command kind, by the wire's name (protocol/command_kinds.h); an
  // account-only wipe is `wipe --account-only`, and `remove`, which earlier releases took,
  // still removes a partnership.
  for (const auto& kind : protocol::kCommandKindTable) {
    // An account-only wipe is an option of wipe; the organisation's settings are `ctl policy`.
    if (kind.name == "wipe-account-only" || kind.target == protocol::CommandTarget::kOrganisation)
      continue;
    CLI::App* sub = ctl->add_subcommand(std::string(kind.name), std::string(kind.summary));
    switch (kind.target) {
      case protocol::CommandTarget::kDeviceId:
        sub->add_option("mailbox", o.mailbox, "The mailbox (any of its names)")->required();
        sub->add_option("device-id", o.device_id, "The ActiveSync device ID")->required();
        break;
      case protocol::CommandTarget::kDeviceIdList:
        sub->add_option("mailbox", o.mailbox, "The mailbox (any of its names)")->required();
        sub->add_option("device-ids", o.device_ids, "The device IDs (none: an empty list)");
        break;
      case protocol::CommandTarget::kPartnership:
        sub->add_option("partnership", o.partnership, "The partnership's Identity")->required();
        break;
      case protocol::CommandTarget::kOrganisation: break;
    }
    if (kind.name == "wipe") {
      sub->add_flag("--account-only", o.account_only, "Remove only the mailbox's data");
    }
    if (kind.name == "remove-partnership") sub->alias("remove");
  }
  CLI::App* policy = ctl->add_subcommand(
      "policy",
      "The organisation's ActiveSync policy: show it, plan a stricter default, apply, "
      "roll back");
  policy->require_subcommand(1);
  policy->footer(
      "A plan changes nothing: it lists the devices whose access would change (the first\n"
      "--limit of them; --all for every one) and the commands applying it would queue. Apply it\n"
      "by its id (admin); roll back with one command.\n"
      "Example:\n"
      "  easgate ctl policy plan Quarantine --grandfather allowed\n"
      "  easgate ctl policy apply plan-1f0c3a9e5b7d2c41\n"
      "  easgate ctl policy rollback --remove-grandfathered\n"
      "  easgate ctl policy set-rule 'iOS 16.7.5 20H307' DeviceOS Quarantine\n"
      "  easgate ctl policy remove-rule 'iOS 16.7.5 20H307 (DeviceOS)'\n"
      "  easgate ctl policy recipients mobile-admins@contoso.com");
  policy->add_subcommand("show", "DefaultAccessLevel, quarantine recipients, device access rules");
  CLI::App* plan = policy->add_subcommand("plan", "What a stricter DefaultAccessLevel would do");
  plan->add_option("level", o.access_level, "Quarantine or Block")->required();
  plan->add_option("--grandfather", o.grandfather,
                   "Which devices keep their access: none, or allowed (every device Allowed "
                   "now; the default)")
      ->check(CLI::IsMember({"none", "allowed"}, CLI::ignore_case))
      ->capture_default_str();
  plan->add_option("--keep", o.partnerships,
                   "Keep only these partnerships (their Identities), instead of --grandfather");
  plan->add_option("--set-rule", o.plan_set_rules,
                   "QUERY CHARACTERISTIC LEVEL: a rule to make, or whose level to set, before the "
                   "default changes (repeatable)")
      ->expected(3)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  plan->add_option("--remove-rule", o.plan_remove_rules,
                   "A rule to remove, by its name '<QueryString> (<Characteristic>)' (repeatable)");
  plan->add_option("--limit", o.limit,
                   "Changes listed (1-1000; default 100); with --all, per page (default 1000)");
  policy->add_subcommand("apply", "Apply a plan (admin)")
      ->add_option("plan-id", o.plan_id, "The plan's id")
      ->required();
  CLI::App* rollback =
      policy->add_subcommand("rollback", "Restore the default an apply changed (admin)");
  rollback->add_option("--apply-id", o.id, "The apply (default: the last one not rolled back)");
  rollback->add_flag("--remove-grandfathered", o.remove_grandfathered,
                     "Also remove the device IDs the apply added to allowed lists");
  policy->add_subcommand("rules", "The device access rules");
  CLI::App* set_rule =
      policy->add_subcommand("set-rule", "Make a device access rule, or set its level (admin)");
  set_rule->add_option("query-string", o.rule_query, "Compared exactly with what devices report")
      ->required();
  set_rule
      ->add_option("characteristic", o.rule_characteristic,
                   "UserAgent, DeviceOS, DeviceModel or DeviceType")
      ->required();
  set_rule->add_option("level", o.access_level, "Allow, Block or Quarantine")->required();
  policy->add_subcommand("remove-rule", "Remove a device access rule (admin)")
      ->add_option("name", o.rule_query, "Its name: '<QueryString> (<Characteristic>)'")
      ->required();
  policy
      ->add_subcommand("recipients",
                       "Set who Exchange tells of quarantined devices (admin; none: clear)")
      ->add_option("addresses", o.recipients, "SMTP addresses");

  CLI::App* command = ctl->add_subcommand("command", "A command's state");
  command->add_option("id", o.id, "The command's id")->required()->check(CLI::PositiveNumber);
  command->add_option("--wait", o.wait_seconds, "Wait up to this many seconds for it to finish");
  CLI::App* events = ctl->add_subcommand("events", "The change feed");
  events->add_option("--after", o.after, "The cursor of the last page (0: from the start)");
  events->add_option("--limit", o.limit, "Events at most (1-1000)");
  events->add_option("--wait", o.wait_seconds, "Seconds to wait for news (0-60)");
  CLI::App* harvest =
      ctl->add_subcommand("harvest", "Harvest now rather than at the next timer (operator)");
  harvest->footer(
      "A delta harvest reads what changed since the last one; --full reads everything (lists\n"
      "and all). With --wait, waits for it to finish and prints it as GET /v1/status shows it.\n"
      "Example: easgate ctl harvest --full --wait 600");
  harvest->add_flag("--full", o.full_harvest, "A full harvest");
  harvest->add_option("--wait", o.wait_seconds, "Wait up to this many seconds for it to finish");
  CLI::App* audit = ctl->add_subcommand(
      "audit", "The audit trail, newest first: who asked for what, and how it ended (admin)");
  audit->footer(
      "Example: easgate ctl audit --action wipe --since 2026-12-01T00:00:00Z\n"
      "On the agent's host, easgate audit list prints the same as a table or CSV.");
  audit->add_option("--since", o.since, "Entries at or after this UTC time (ISO 8601)");
  audit->add_option("--until", o.until, "Entries before this UTC time (ISO 8601)");
  audit->add_option("--actor", o.actor, "Entries whose client contains this");
  audit->add_option("--action", o.audit_action, "Entries of this action (allow, wipe, ...)");
  audit->add_option("--target", o.target, "Entries whose mailbox or partnership contains this");
  audit->add_option("--limit", o.limit, "Entries at most (1-1000)");
  audit->add_option("--before", o.before, "Only entries older than this sequence (nextBefore)");
  finishSubcommands(*ctl);
  return ctl;
}

// After POST /v1/harvests: polls GET /v1/status until a harvest that began at or after the
// request has finished (for a delta, a full one does as well), and prints it.
int waitForHarvest(protocol::ApiClient& client, const std::string& requested, bool full,
                   std::chrono::steady_clock::time_point give_up) {
  auto answer = json::parseJson(requested, 4);
  const json::JsonValue* at = answer ? answer->find("requestedAt") : nullptr;
  const auto requested_ms = at && at->asString() ? protocol::parseUtcTime(*at->asString())
                                                 : std::optional<std::int64_t>();
  if (!requested_ms) {
    std::cerr << "easgate ctl: the agent's answer has no requestedAt: " << requested << "\n";
    return kExitRefused;
  }
  while (true) {
    auto status = client.send("GET", "/v1/status");
    if (!status || status->status != 200) {
      std::cerr << "easgate ctl: no status from the agent: "
                << (status ? status->body : status.error()) << "\n";
      return status ? kExitRefused : kExitUnreachable;
    }
    auto doc = json::parseJson(status->body);
    const json::JsonValue* harvests = doc ? doc->find("harvests") : nullptr;
    for (const char* kind : {"full", "delta"}) {
      if (full && std::string_view(kind) == "delta") continue;
      const json::JsonValue* run = harvests ? harvests->find(kind) : nullptr;
      const json::JsonValue* started = run ? run->find("startedAt") : nullptr;
      const auto started_ms = started && started->asString()
                                  ? protocol::parseUtcTime(*started->asString())
                                  : std::optional<std::int64_t>();
      if (started_ms && *started_ms >= *requested_ms) {
        std::string out;
        json::JsonWriter w(out);
        w.beginObject();
        w.key("kind");
        w.string(kind);
        w.key("state");
        w.string("finished");
        for (const char* member : {"startedAt", "finishedAt"}) {
          const json::JsonValue* v = run->find(member);
          w.key(member);
          w.string(v && v->asString() ? *v->asString() : "");
        }
        for (const char* member : {"devices", "calls", "failedMailboxes"}) {
          const json::JsonValue* v = run->find(member);
          w.key(member);
          w.number(v && v->asInt() ? *v->asInt() : 0);
        }
        w.endObject();
        std::cout << out << "\n";
        return kExitOk;
      }
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      std::cerr << "easgate ctl: the harvest has not finished yet (see ctl status)\n";
      std::cout << requested << (requested.back() == '\n' ? "" : "\n");
      return kExitRefused;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

namespace {

// Columns of a device page a person looks at first; every field is a JSON or export away.
const std::vector<std::string> kDeviceColumns = {
    "deviceId",    "mailboxIdentity",   "deviceType",      "deviceModel",
    "accessState", "accessStateReason", "lastSuccessSync", "wipeStatus"};

void printAnswer(const std::string& name, const std::string& body, CtlFormat format) {
  auto doc = json::parseJson(body);
  if (name == "metrics" || format == CtlFormat::kJson || !doc) {
    std::cout << body << (body.empty() || body.back() == '\n' ? "" : "\n");
    return;
  }
  const Table table =
      tableOfAnswer(doc.value(), name == "devices" ? kDeviceColumns : std::vector<std::string>{});
  if (format == CtlFormat::kCsv) {
    writeStdoutAsBytes();  // CRLF as RFC 4180 has it, on Windows too
    printCsv(std::cout, table);
  } else {
    printTable(std::cout, table);
  }
}

// --all: the request for the page after `answer`, or nullopt after the last.
std::optional<Request> nextPage(const std::string& name, const std::string& action,
                                const CtlOptions& o, const json::JsonValue& answer) {
  CtlOptions next = o;
  if (name == "devices") {
    const json::JsonValue* cursor = answer.find("nextCursor");
    if (!cursor || !cursor->asString() || cursor->asString()->empty()) return std::nullopt;
    next.cursor = *cursor->asString();
  } else if (name == "audit") {
    const json::JsonValue* before = answer.find("nextBefore");
    if (!before || !before->asInt()) return std::nullopt;
    next.before = *before->asInt();
  } else if (name == "events") {
    const json::JsonValue* events = answer.find("events");
    const json::JsonValue* cursor = answer.find("cursor");
    if (!events || !events->asArray() || events->asArray()->empty() || !cursor ||
        !cursor->asInt()) {
      return std::nullopt;
    }
    next.after = *cursor->asInt();
    next.wait_seconds = 0;
  } else {
    return std::nullopt;
  }
  return requestFor(name, action, next);
}

// `policy plan --all`: the plan's answer with every page of its changes joined in (from GET
// /v1/policy/plans/{id}/changes), and each page's allows among its commands, before the rules and
// the default. nullopt, said on stderr, when a page does not come.
std::optional<std::string> wholePlan(protocol::ApiClient& client, const CtlOptions& o,
                                     const std::string& answer_text, int& exit_code) {
  auto answer = json::parseJson(answer_text);
  const json::JsonValue* id = answer ? answer->find("id") : nullptr;
  if (!answer || !answer->asObject() || !id || !id->asString()) return answer_text;
  json::JsonArray changes, allows, others;
  auto take = [&](const json::JsonValue& page) {
    if (const json::JsonArray* c =
            page.find("changes") ? page.find("changes")->asArray() : nullptr) {
      changes.insert(changes.end(), c->begin(), c->end());
    }
    if (const json::JsonArray* c =
            page.find("commands") ? page.find("commands")->asArray() : nullptr) {
      for (const auto& command : *c) {
        const json::JsonValue* kind = command.find("kind");
        const bool allow = kind && kind->asString() && *kind->asString() == "allow";
        (allow ? allows : others).push_back(command);
      }
    }
  };
  auto nextCursor = [](const json::JsonValue& page) -> std::optional<std::string> {
    const json::JsonValue* cursor = page.find("nextCursor");
    return cursor && cursor->asString() ? std::optional(*cursor->asString()) : std::nullopt;
  };
  take(*answer);
  std::optional<std::string> next = nextCursor(*answer);
  while (next) {
    std::string path =
        "/v1/policy/plans/" + *id->asString() + "/changes?cursor=" + protocol::percentEncode(*next);
    path += "&limit=" + std::to_string(planPageSize(o));
    auto response = client.send("GET", path, "", {});
    if (!response) {
      std::cerr << "easgate ctl: no answer from " << o.client.base_url << ": " << response.error()
                << "\n";
      exit_code = kExitUnreachable;
      return std::nullopt;
    }
    if (response->status >= 400) {
      std::cerr << "easgate ctl: " << response->status << ": " << response->body << "\n";
      exit_code = kExitRefused;
      return std::nullopt;
    }
    auto page = json::parseJson(response->body);
    if (!page) {
      std::cerr << "easgate ctl: a page of the plan is no JSON\n";
      exit_code = kExitRefused;
      return std::nullopt;
    }
    take(*page);
    next = nextCursor(*page);
  }
  allows.insert(allows.end(), others.begin(), others.end());
  json::JsonObject whole;
  for (const auto& [key, value] : *answer->asObject()) {
    if (key == "changes") {
      whole.emplace_back(key, json::JsonValue(std::move(changes)));
    } else if (key == "commands") {
      whole.emplace_back(key, json::JsonValue(std::move(allows)));
    } else if (key == "nextCursor") {
      whole.emplace_back(key, json::JsonValue());
    } else {
      whole.emplace_back(key, value);
    }
  }
  return jsonText(json::JsonValue(std::move(whole)));
}

// The commands a change queued: a Command's id, or each of a CommandSequence's.
std::vector<std::int64_t> commandIds(const json::JsonValue& answer) {
  std::vector<std::int64_t> ids;
  if (const json::JsonValue* commands = answer.find("commands"); commands && commands->asArray()) {
    for (const auto& c : *commands->asArray()) {
      if (const json::JsonValue* id = c.find("id"); id && id->asInt()) ids.push_back(*id->asInt());
    }
  } else if (const json::JsonValue* id = answer.find("id");
             id && id->asInt() && answer.find("state")) {
    ids.push_back(*id->asInt());
  }
  return ids;
}

// --wait after a change: each command's state until it ends or time is up. Prints the answer
// with the commands as they ended; exit 0 when all succeeded, 6 when one failed or did not end.
int waitForCommands(protocol::ApiClient& client, const std::string& name,
                    const json::JsonValue& answer, CtlFormat format,
                    std::chrono::steady_clock::time_point give_up) {
  const std::vector<std::int64_t> ids = commandIds(answer);
  json::JsonArray ended;
  int exit_code = kExitOk;
  for (std::int64_t id : ids) {
    while (true) {
      auto response = client.send("GET", "/v1/commands/" + std::to_string(id));
      if (!response) {
        std::cerr << "easgate ctl: no answer: " << response.error() << "\n";
        return kExitUnreachable;
      }
      auto state = json::parseJson(response->body);
      if (response->status != 200 || !state) {
        std::cerr << "easgate ctl: " << response->status << ": " << response->body << "\n";
        return kExitRefused;
      }
      const bool final = isFinalState(response->body);
      if (final || std::chrono::steady_clock::now() >= give_up) {
        const json::JsonValue* s = state->find("state");
        const std::string text = s && s->asString() ? *s->asString() : "";
        if (text == "failed") {
          const json::JsonValue* error = state->find("lastError");
          std::cerr << "easgate ctl: command " << id
                    << " failed: " << (error && error->asString() ? *error->asString() : "")
                    << "\n";
          exit_code = kExitRefused;
        } else if (!final) {
          std::cerr << "easgate ctl: command " << id << " is still " << text
                    << " (see easgate ctl command " << id << ")\n";
          exit_code = kExitRefused;
        }
        ended.push_back(std::move(state).value());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (answer.find("commands")) {
    json::JsonObject out;
    for (const auto& [key, value] : *answer.asObject()) {
      out.emplace_back(key, key == "commands" ? json::JsonValue(ended) : value);
    }
    printAnswer(name, jsonText(json::JsonValue(std::move(out))), format);
  } else if (!ended.empty()) {
    printAnswer(name, jsonText(ended.front()), format);
  }
  return exit_code;
}

}  // namespace

int runCtlCommand(CLI::App& ctl, const CtlOptions& o) {
  const auto chosen = ctl.get_subcommands();
  if (chosen.empty()) return kExitUsage;
  const std::string name = chosen.front()->get_name();
  const auto nested = chosen.front()->get_subcommands();
  const std::string action = nested.empty() ? "" : nested.front()->get_name();
  const CtlFormat format = o.output.empty()
                               ? (isTerminal(stdout) ? CtlFormat::kTable : CtlFormat::kJson)
                               : parseCtlFormat(o.output).value_or(CtlFormat::kJson);
  auto client = protocol::ApiClient::create(o.client);
  if (!client) {
    std::cerr << "easgate ctl: " << client.error() << "\n";
    return kExitUsage;
  }
  Request request = requestFor(name, action, o);
  protocol::Headers headers;
  if (!o.idempotency_key.empty()) headers.emplace_back("Idempotency-Key", o.idempotency_key);
  // `--wait` after a change is ctl's own option; `command`, `events` and `harvest` have
  // theirs, which ctl's stands in for when it is the one given.
  const double wait = request.method == "GET" || name == "harvest"
                          ? (o.wait_seconds > 0 ? o.wait_seconds : o.change_wait_seconds)
                          : o.change_wait_seconds;
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<std::int64_t>(wait * 1000));
  std::string page_member;  // --all: the pages' array, joined
  json::JsonArray joined;
  while (true) {
    auto response = client.value()->send(request.method, request.path, request.body, headers);
    if (!response) {
      std::cerr << "easgate ctl: no answer from " << o.client.base_url << ": " << response.error()
                << "\n";
      return kExitUnreachable;
    }
    if (response->status >= 400) {
      std::cerr << "easgate ctl: " << response->status << ": " << response->body << "\n";
      return kExitRefused;
    }
    if (name == "harvest" && o.wait_seconds > 0) {
      return waitForHarvest(*client.value(), response->body, o.full_harvest, give_up);
    }
    if (request.method != "GET" && o.change_wait_seconds > 0) {
      if (auto answer = json::parseJson(response->body); answer && !commandIds(*answer).empty()) {
        return waitForCommands(*client.value(), name, *answer, format, give_up);
      }
    }
    if (o.all && name == "policy" && action == "plan") {
      int exit_code = kExitOk;
      auto whole = wholePlan(*client.value(), o, response->body, exit_code);
      if (!whole) return exit_code;
      printAnswer(name, *whole, format);
      return kExitOk;
    }
    if (o.all && request.method == "GET") {
      auto answer = json::parseJson(response->body);
      const json::JsonArray* page = answer ? pageOf(*answer) : nullptr;
      if (page) {
        for (const auto& [key, value] : *answer->asObject()) {
          if (value.asArray() == page) page_member = key;
        }
        joined.insert(joined.end(), page->begin(), page->end());
        if (auto next = nextPage(name, action, o, *answer)) {
          request = *next;
          continue;
        }
        json::JsonObject all;
        all.emplace_back(page_member, json::JsonValue(std::move(joined)));
        printAnswer(name, jsonText(json::JsonValue(std::move(all))), format);
        return kExitOk;
      }
    }
    const bool waiting = name == "command" && !isFinalState(response->body) &&
                         std::chrono::steady_clock::now() < give_up;
    if (!waiting) {
      printAnswer(name, response->body, format);
      return kExitOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace easgate::service
