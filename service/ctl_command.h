#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/client.h"

namespace CLI {
class App;
}

namespace easgate::service {

struct CtlOptions {
  protocol::ClientOptions client;
  std::string idempotency_key;
  std::string output;  // table, json or csv; empty: a table on a terminal, JSON otherwise
  bool all = false;    // every page of devices, events, audit entries or a plan's changes
  double change_wait_seconds = 0;  // after a change: wait this long for its commands
  // Arguments of the subcommand chosen.
  std::string mailbox;
  std::string device_id;
  std::vector<std::string> device_ids;
  std::string partnership;
  std::string identity;
  bool account_only = false;
  std::int64_t id = 0;
  double wait_seconds = 0;
  // Inventory and events filters.
  std::string access_state;
  std::string device_type;
  std::string search;  // devices --search
  std::string seen_since;
  std::string cursor;
  int limit = 0;
  std::int64_t after = 0;
  bool full_harvest = false;  // ctl harvest --full
  // ctl audit.
  std::string since, until, actor, audit_action, target;
  std::int64_t before = 0;
  // ctl policy.
  std::string access_level;                 // plan: Quarantine or Block
  std::string grandfather = "allowed";      // plan: none, allowed, or "listed" with `partnerships`
  std::vector<std::string> partnerships;    // plan --keep
  std::string plan_id;                      // apply
  bool remove_grandfathered = false;        // rollback
  std::string rule_query;                   // set-rule; remove-rule: the rule's name
  std::string rule_characteristic;          // set-rule
  std::vector<std::string> recipients;      // recipients
  std::vector<std::string> plan_set_rules;  // plan --set-rule: query, characteristic, level, ...
  std::vector<std::string> plan_remove_rules;  // plan --remove-rule: names
};

// Adds `easgate ctl`: a client of the 9090 protocol for administrators and scripts.
CLI::App* addCtlCommand(CLI::App& app, CtlOptions& options);

// Runs the ctl subcommand that was parsed; prints the agent's answer on stdout, as a table on a
// terminal and as the agent's JSON when piped (or as -o says).
int runCtlCommand(CLI::App& ctl, const CtlOptions& options);

}  // namespace easgate::service
