#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/store/database.h"

// What each policy apply keeps in the store (table policy_applies, store schema 9), in the same
// transaction as its commands: the settings before it and the device IDs it added, so that one
// rollback restores them and removes only what the apply added.
namespace easgate::agent::policy {

// A rule the apply made, set or removed, with what it was before.
struct AppliedRuleChange {
  bool remove = false;
  std::string query_string;
  std::string characteristic;
  std::string level;           // after (set), or before (remove)
  std::string previous_level;  // before; empty for a rule the apply made
  bool operator==(const AppliedRuleChange&) const = default;
};

struct PolicyApply {
  std::int64_t id = 0;  // the command that sets the default
  std::string plan;
  std::int64_t at_ms = 0;
  std::string requested_by;
  std::string previous_level;                              // DefaultAccessLevel before
  std::string level;                                       // and after
  std::vector<std::pair<std::string, std::string>> added;  // (mailbox, device ID) it allowed
  std::vector<AppliedRuleChange> rule_changes;
  std::optional<std::int64_t> rolled_back_by;  // the rollback's command
};

Result<void, store::StoreError> recordApply(store::Database& db, const PolicyApply& apply);
// One apply by id; without an id, the last one not rolled back. nullopt when there is none.
Result<std::optional<PolicyApply>, store::StoreError> findApply(store::Database& db,
                                                                std::optional<std::int64_t> id);
Result<void, store::StoreError> markRolledBack(store::Database& db, std::int64_t id,
                                               std::int64_t rollback_command);

}  // namespace easgate::agent::policy
