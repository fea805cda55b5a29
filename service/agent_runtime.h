#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "agent/harvest/harvester.h"
#include "common/result.h"
#include "service/exchange_options.h"

namespace easgate::agent {
class AgentLoop;
class Clock;
class CommandJournal;
class InventoryStore;
}  // namespace easgate::agent
namespace easgate::agent::store {
class Database;
}
namespace easgate::powershell {
class BridgePool;
}

namespace easgate::agent {
class CommandExecutor;
}

namespace easgate::service {

// What the agent engine needs, whoever starts it (`easgate agent`, `easgate run`, the service).
struct RuntimeOptions {
  std::filesystem::path data_directory;
  ExchangeOptions exchange;
  double full_harvest_minutes = 360;
  double delta_harvest_minutes = 15;
  double first_retry_seconds = 5;  // the first retry's delay, doubling after each
  double max_retry_seconds = 900;  // the longest delay between two attempts
  bool correct_drift = false;
  // Days of field history kept (every synchronisation changes a device's sync times, so it grows
  // with every harvest); older changes are deleted after each full harvest. 0: kept for ever.
  double history_days = 90;
};

// Opens (creating or migrating) the store in `data_directory`. Refuses, with the fix, when root
// would create files in a directory of the service's account (see foreignOwnerProblem).
Result<std::unique_ptr<agent::store::Database>, std::string> openDataStore(
    const std::filesystem::path& data_directory);
// Why there is no store to read in `data_directory`, with the fix: --data-dir, and the demo's
// folder when `easgate demo` left one in the current directory.
std::string noStoreMessage(const std::filesystem::path& data_directory);

// Opens (creating or migrating) the inventory beside the store; open the store first (its
// migration may move an inventory an earlier release kept in it).
Result<std::unique_ptr<agent::InventoryStore>, std::string> openInventoryStore(
    const std::filesystem::path& data_directory);

// The agent's engine, wired in one place for every command that needs it (`run`, `agent`,
// `export --live`): store, audit log, journal, bridge pool, gateway, executor, harvester, the
// loop that drives them, and the one clock they all read.
class AgentRuntime {
 public:
  // Opens the store and prepares the bridge pool (bridges start on first use). The error is a
  // message for the administrator.
  static Result<std::unique_ptr<AgentRuntime>, std::string> open(RuntimeOptions options);
  ~AgentRuntime();

  agent::AgentLoop& loop();
  agent::CommandJournal& journal();
  agent::CommandExecutor& executor();
  powershell::BridgePool& pool();
  const agent::Clock& clock() const;
  // A harvest now, outside the loop (export --live); the loop's would wait for it.
  Result<agent::HarvestReport, agent::HarvestError> harvest(
      agent::HarvestKind kind, const agent::HarvestProgressCallback& progress = {});
  const RuntimeOptions& options() const;
  std::filesystem::path storeFile() const;
  // Called after each successful harvest; set it before the loop runs.
  void onHarvest(std::function<void()> callback);

 private:
  struct Parts;
  explicit AgentRuntime(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace easgate::service
