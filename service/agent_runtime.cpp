#include "service/agent_runtime.h"

#include "agent/agent_loop.h"
#include "agent/audit/audit_log.h"
#include "agent/commands/command_executor.h"
#include "agent/commands/command_journal.h"
#include "agent/gateway/bridge_exchange_gateway.h"
#include "agent/harvest/harvester.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/store/schema.h"
#include "service/console.h"

namespace easgate::service {
namespace {

std::int64_t minutesToMs(double minutes) { return static_cast<std::int64_t>(minutes * 60'000); }

// A fresh file for the simulators' shared organisation, in the data directory; or why not.
Result<std::filesystem::path, std::string> simulatorStateFile(
    const std::filesystem::path& data_directory) {
  const auto dir = data_directory / "simulator";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return "cannot create " + dir.string() + ": " + ec.message();
  const auto file = dir / "organisation.json";
  for (const auto& stale : {file, std::filesystem::path(file.string() + ".lock")}) {
    std::filesystem::remove(stale, ec);
    if (ec) return "cannot remove " + stale.string() + ": " + ec.message();
  }
  return file;
}

// What a part that works beside the others keeps the mailbox directory over: connections of its
// own to the directory's file and to the store (the MDM's lists). The directory's commits need
// not wait for the disk (agent/mailboxes/directory_file.h).
struct MailboxConnections {
  std::unique_ptr<agent::store::Database> store;
  std::unique_ptr<agent::store::Database> directory;
};

// Opens them; the store first (its migration moves the directory an earlier release kept in it).
Result<MailboxConnections, std::string> openMailboxConnections(
    const std::filesystem::path& data_directory) {
  MailboxConnections c;
  auto store = openDataStore(data_directory);
  if (!store) return store.error();
  c.store = std::move(store).value();
  auto directory =
      agent::openDirectory(agent::directoryFile(agent::store::storeFile(data_directory)));
  if (!directory) return directory.error().message;
  c.directory = std::move(directory).value();
  return c;
}

}  // namespace

struct AgentRuntime::Parts {
  RuntimeOptions options;
  agent::SystemClock clock;
  std::unique_ptr<powershell::BridgePool> pool;
  std::unique_ptr<agent::store::Database> store;
  MailboxConnections harvest_mailboxes;
  std::unique_ptr<agent::InventoryStore> inventory;
  MailboxConnections executor_mailboxes;
  std::unique_ptr<agent::MailboxDirectory> directory;
  std::unique_ptr<agent::AuditLog> audit;
  std::unique_ptr<agent::CommandJournal> journal;
  std::unique_ptr<agent::BridgeExchangeGateway> gateway;
  std::unique_ptr<agent::CommandExecutor> executor;
  std::unique_ptr<agent::Harvester> harvester;
  std::unique_ptr<agent::AgentLoop> loop;
  std::function<void()> after_harvest;
};

std::string noStoreMessage(const std::filesystem::path& data_directory) {
  std::string message =
      "no store at " + agent::store::storeFile(data_directory).string() + " (see --data-dir)";
  // The demo's folder, as `easgate demo` makes it by default.
  const std::filesystem::path demo = std::filesystem::path("easgate-demo") / "data";
  std::error_code ec;
  if (std::filesystem::is_regular_file(agent::store::storeFile(demo), ec) &&
      !std::filesystem::equivalent(demo, data_directory, ec)) {
    message += "; easgate demo's store is here: --data-dir " + demo.string();
  }
  return message;
}

Result<std::unique_ptr<agent::store::Database>, std::string> openDataStore(
    const std::filesystem::path& data_directory) {
  if (auto problem = foreignOwnerProblem(data_directory); !problem.empty()) return problem;
  auto store = agent::store::openStore(agent::store::storeFile(data_directory));
  if (!store) return store.error().message;
  return std::move(store).value();
}

Result<std::unique_ptr<agent::InventoryStore>, std::string> openInventoryStore(
    const std::filesystem::path& data_directory) {
  if (auto problem = foreignOwnerProblem(data_directory); !problem.empty()) return problem;
  auto inventory =
      agent::InventoryStore::open(agent::inventoryFile(agent::store::storeFile(data_directory)));
  if (!inventory) return inventory.error().message;
  return std::move(inventory).value();
}

AgentRuntime::AgentRuntime(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
AgentRuntime::~AgentRuntime() = default;

Result<std::unique_ptr<AgentRuntime>, std::string> AgentRuntime::open(RuntimeOptions options) {
  auto p = std::make_unique<Parts>();
  p->options = std::move(options);
  auto store = openDataStore(p->options.data_directory);
  if (!store) return store.error();
  p->store = std::move(store).value();
  if (p->options.exchange.exchange == "simulator") {
    // Every bridge of a pool is a session of one Exchange organisation: the simulators share
    // one, kept beside the store for as long as this agent runs.
    auto shared = simulatorStateFile(p->options.data_directory);
    if (!shared) return shared.error();
    p->options.exchange.simulator_arguments.push_back("--shared-state=" + shared->string());
  }
  const RuntimeOptions& o = p->options;
  auto pool = makeBridgePool(o.exchange);
  if (!pool) return pool.error();
  p->pool = std::move(pool).value();
  // The harvester works beside the executor: connections of its own, to the mailbox directory
  // and to the inventory, which only it writes.
  auto harvest_mailboxes = openMailboxConnections(o.data_directory);
  if (!harvest_mailboxes) return harvest_mailboxes.error();
  p->harvest_mailboxes = std::move(harvest_mailboxes).value();
  auto inventory = openInventoryStore(o.data_directory);
  if (!inventory) return inventory.error();
  p->inventory = std::move(inventory).value();
  // And the executor's mailbox directory, which it writes from its worker threads.
  auto executor_mailboxes = openMailboxConnections(o.data_directory);
  if (!executor_mailboxes) return executor_mailboxes.error();
  p->executor_mailboxes = std::move(executor_mailboxes).value();
  p->directory = std::make_unique<agent::MailboxDirectory>(*p->executor_mailboxes.directory,
                                                           *p->executor_mailboxes.store);

  const std::size_t pool_size = o.exchange.poolSize();
  p->audit = std::make_unique<agent::AuditLog>(*p->store);
  p->journal = std::make_unique<agent::CommandJournal>(*p->store, *p->audit, p->clock);
  p->gateway = std::make_unique<agent::BridgeExchangeGateway>(*p->pool);
  agent::ExecutorOptions executor_options;
  executor_options.parallelism = pool_size;
  executor_options.first_retry_ms = static_cast<std::int64_t>(o.first_retry_seconds * 1000);
  executor_options.max_retry_ms = static_cast<std::int64_t>(o.max_retry_seconds * 1000);
  p->executor = std::make_unique<agent::CommandExecutor>(*p->journal, *p->gateway, *p->directory,
                                                         p->clock, executor_options);
  agent::HarvestOptions harvest_options;
  harvest_options.parallelism = pool_size;
  harvest_options.correct_drift = o.correct_drift;
  harvest_options.keep_history_ms = static_cast<std::int64_t>(o.history_days * 86'400'000);
  p->harvester = std::make_unique<agent::Harvester>(
      *p->harvest_mailboxes.directory, *p->harvest_mailboxes.store, *p->inventory, *p->gateway,
      p->journal.get(), p->clock, harvest_options);
  agent::AgentLoopOptions loop_options;
  loop_options.full_harvest_every_ms = minutesToMs(o.full_harvest_minutes);
  loop_options.delta_harvest_every_ms = minutesToMs(o.delta_harvest_minutes);
  Parts* raw = p.get();
  loop_options.after_harvest = [raw] {
    if (raw->after_harvest) raw->after_harvest();
  };
  p->loop = std::make_unique<agent::AgentLoop>(*p->executor, *p->harvester, p->clock, loop_options);
  return std::unique_ptr<AgentRuntime>(new AgentRuntime(std::move(p)));
}

agent::AgentLoop& AgentRuntime::loop() { return *parts_->loop; }
agent::CommandJournal& AgentRuntime::journal() { return *parts_->journal; }
powershell::BridgePool& AgentRuntime::pool() { return *parts_->pool; }
const agent::Clock& AgentRuntime::clock() const { return parts_->clock; }
agent::CommandExecutor& AgentRuntime::executor() { return *parts_->executor; }
Result<agent::HarvestReport, agent::HarvestError> AgentRuntime::harvest(
    agent::HarvestKind kind, const agent::HarvestProgressCallback& progress) {
  return parts_->harvester->run(kind, progress);
}
const RuntimeOptions& AgentRuntime::options() const { return parts_->options; }
std::filesystem::path AgentRuntime::storeFile() const {
  return agent::store::storeFile(parts_->options.data_directory);
}
void AgentRuntime::onHarvest(std::function<void()> callback) {
  parts_->after_harvest = std::move(callback);
}

}  // namespace easgate::service
