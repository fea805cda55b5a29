#include "service/audit_command.h"

#include <iostream>

#include <CLI/CLI.hpp>

#include "agent/api/api_json.h"
#include "agent/audit/audit_log.h"
#include "agent/store/schema.h"
#include "common/json/json_value.h"
#include "common/time/utc_time.h"
#include "protocol/requests.h"
#include "service/agent_runtime.h"
#include "service/cli.h"
#include "service/console.h"
#include "service/table_output.h"

namespace easgate::service {
namespace {

// The store in `data_directory`, which must be there already; null, and why on stderr, if not.
std::unique_ptr<agent::store::Database> openExistingStore(
    const std::filesystem::path& data_directory) {
  const auto file = agent::store::storeFile(data_directory);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    std::cerr << "easgate: " << noStoreMessage(data_directory) << "\n";
    return nullptr;
  }
  auto store = openDataStore(data_directory);
  if (!store) {
    std::cerr << "easgate: " << store.error() << "\n";
    return nullptr;
  }
  return std::move(store).value();
}

}  // namespace

AuditCommands addAuditCommand(CLI::App& app, AuditCommandOptions& options) {
  CLI::App* audit =
      app.add_subcommand("audit", "Read and check the audit trail in the agent's store");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand(
      "verify", "Verify that no audit entry was changed, removed or reordered");
  verify->footer(
      "Every entry's SHA-256 covers the entry before it, so any change breaks the chain from\n"
      "there on. Removing the newest entries leaves a valid but shorter chain: note the head\n"
      "hash this prints, and pass it to --expect-head next time to catch that too.\n\n"
      "Exit codes: 0 intact, 3 the store cannot be opened, 4 the log was tampered with.");
  options.data_directory = defaultDataDirectory();
  verify->add_option("--data-dir", options.data_directory, "The agent's data directory")
      ->capture_default_str();
  verify->add_option("--expect-head", options.expect_head,
                     "A head hash printed by an earlier verify; it must still be in the log");

  CLI::App* list = audit->add_subcommand(
      "list", "Who asked for what, from which certificate, when, and how it ended");
  list->footer(
      "Newest first. Every command is there when it was accepted and when it ended, and every\n"
      "refused request (a reader's wipe) with why. Filters combine; --actor and --target match\n"
      "part of the text in any case. Over 9090 the same is GET /v1/audit (admin).\n\n"
      "Examples:\n"
      "  easgate audit list --action wipe --since 2026-12-01T00:00:00Z\n"
      "  easgate audit list --actor mdm.example.com --format csv > audit.csv\n"
      "  easgate audit list --target ann.berg@contoso.com --limit 20\n\n"
      "Exit codes: 0 listed, 2 a bad option, 3 the store cannot be opened.");
  list->add_option("--data-dir", options.data_directory, "The agent's data directory")
      ->capture_default_str();
  list->add_option("--since", options.since, "Entries at or after this UTC time (ISO 8601)");
  list->add_option("--until", options.until, "Entries before this UTC time (ISO 8601)");
  list->add_option("--actor", options.actor, "Entries whose client contains this");
  list->add_option("--action", options.action, "Entries of this action (allow, wipe, ...)");
  list->add_option("--target", options.target,
                   "Entries whose mailbox or partnership contains this");
  list->add_option("--limit", options.limit, "Entries at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  list->add_option("--before", options.before,
                   "Only entries older than this sequence (the next page)");
  list->add_option("--format", options.format, "table, json (as GET /v1/audit) or csv")
      ->capture_default_str()
      ->transform(CLI::IsMember({"table", "json", "csv"}, CLI::ignore_case));
  return {verify, list};
}

int runAuditVerify(const AuditCommandOptions& options) {
  std::optional<agent::Sha256> expected;
  if (!options.expect_head.empty()) {
    expected = agent::sha256FromHex(options.expect_head);
    if (!expected) {
      std::cerr << "easgate: --expect-head needs 64 hex digits\n";
      return kExitUsage;
    }
  }
  auto store = openExistingStore(options.data_directory);
  if (!store) return kExitInputUnreadable;
  agent::AuditLog log(*store);
  auto verified = log.verify();
  if (!verified) {
    std::cerr << "easgate: " << verified.error().message << "\n";
    return kExitInputUnreadable;
  }
  if (!verified->intact) {
    std::cout << "audit log TAMPERED: " << verified->problem << " (" << verified->entries
              << " entries read)\n";
    return kExitInputInvalid;
  }
  if (expected && *expected != verified->head) {
    auto at = log.sequenceOf(*expected);
    if (!at) {
      std::cerr << "easgate: " << at.error().message << "\n";
      return kExitInputUnreadable;
    }
    if (!at.value()) {
      std::cout << "audit log TAMPERED: the expected head " << options.expect_head
                << " is not in the log: entries after it were removed, or the log was "
                   "rewritten\n";
      return kExitInputInvalid;
    }
    std::cout << "the expected head is entry " << *at.value() << "; the log has grown since\n";
  }
  std::cout << "audit log intact: " << verified->entries << " entries, head "
            << agent::toHex(verified->head) << "\n";
  return kExitOk;
}

int runAuditList(const AuditCommandOptions& options) {
  // The query is the API's: one validation, one meaning for each filter.
  protocol::QueryParameters parameters;
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) parameters.emplace_back(name, value);
  };
  add("since", options.since);
  add("until", options.until);
  add("actor", options.actor);
  add("action", options.action);
  add("target", options.target);
  add("limit", std::to_string(options.limit));
  if (options.before != 0) add("before", std::to_string(options.before));
  auto query = protocol::parseAuditQuery(parameters);
  if (!query) {
    std::cerr << "easgate audit list: --" << query.error().field << ": " << query.error().message
              << "\n";
    return kExitUsage;
  }
  auto store = openExistingStore(options.data_directory);
  if (!store) return kExitInputUnreadable;
  auto entries = agent::AuditLog(*store).list(query.value());
  if (!entries) {
    std::cerr << "easgate: " << entries.error().message << "\n";
    return kExitInputUnreadable;
  }
  if (options.format == "json") {
    std::cout << agent::api::auditPageJson(entries.value(), query->limit) << "\n";
    return kExitOk;
  }
  Table table;
  table.header = {"SEQ", "AT (UTC)", "ACTOR", "ACTION", "TARGET", "OUTCOME", "COMMAND"};
  for (const auto& e : entries.value()) {
    const auto& r = e.record;
    const std::string at = utc::formatUnixMs(r.at_ms);
    std::string command;
    if (auto detail = json::parseJson(r.detail, 16); detail && detail->isObject()) {
      if (const json::JsonValue* id = detail->find("command"); id && id->asInt()) {
        command = std::to_string(*id->asInt());
      }
    }
    table.rows.push_back({std::to_string(e.sequence),
                          options.format == "csv" ? at : at.substr(0, 19) + "Z", r.actor, r.action,
                          r.target, r.outcome, command});
  }
  if (options.format == "csv") {
    std::cout.flush();
    writeStdoutAsBytes();
    printCsv(std::cout, table);
  } else if (table.rows.empty()) {
    std::cout << "easgate audit list: no entry matches\n";
  } else {
    printTable(std::cout, table);
    if (table.rows.size() == query->limit) {
      std::cout << "(more: --before " << entries->back().sequence << ")\n";
    }
  }
  return kExitOk;
}

}  // namespace easgate::service
