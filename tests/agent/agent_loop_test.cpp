// The agent loop with the in-memory gateway and a manual clock: commands run as they are
// submitted, harvests follow their timers and on-demand requests, and stop() ends it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_loop.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/store/schema.h"
#include "common/threads/priority.h"
#include "tests/support/fake_exchange_gateway.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch.h"
#include "tests/support/store_files.h"

namespace easgate::agent {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace sim = powershell::sim;

// Waits (in real time, bounded) for what another thread is doing.
template <class Predicate>
bool eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::int64_t harvests(InventoryStore& inventory) {
  auto s = inventory.summary();
  EXPECT_TRUE(s.ok());
  return s.ok() ? s->full_count + s->delta_count : -1;
}

TEST(AgentLoop, RunsCommandsHarvestsOnTimersAndOnDemandAndStops) {
  const fs::path file = testing::scratchPath("loop", ".db");
  auto removeFiles = [&] { testing::removeStoreFiles(file); };
  removeFiles();
  {
    auto db = store::openStore(file);
    ASSERT_TRUE(db.ok());
    testing::ManualClock clock(SystemClock().nowMs());
    testing::FakeExchangeGateway gateway(
        sim::Organisation::generate({3, 10, 20, sim::dotNetTicksFromUnixSeconds(1'700'000'000)}));
    AuditLog audit(*db.value());
    CommandJournal journal(*db.value(), audit, clock);
    auto directory_db = store::openStore(file);
    ASSERT_TRUE(directory_db.ok());
    auto directory_file = openDirectory(directoryFile(file));
    ASSERT_TRUE(directory_file.ok());
    MailboxDirectory directory(*directory_file.value(), *directory_db.value());
    CommandExecutor executor(journal, gateway, directory, clock);
    auto harvest_db = store::openStore(file);  // as the agent does: a connection per worker
    ASSERT_TRUE(harvest_db.ok());
    auto harvest_directory = openDirectory(directoryFile(file));
    ASSERT_TRUE(harvest_directory.ok());
    auto inventory = InventoryStore::open(inventoryFile(file));
    ASSERT_TRUE(inventory.ok());
    Harvester harvester(*harvest_directory.value(), *harvest_db.value(), *inventory.value(),
                        gateway, &journal, clock);
    // Harvests are counted as the API sees them, on a connection of their own: the harvester's
    // would show a harvest still reading Exchange (its transaction open), and the test would
    // queue a failure for the commands that the harvest then takes.
    auto reader = InventoryStore::open(inventoryFile(file));
    ASSERT_TRUE(reader.ok());
    AgentLoopOptions options;
    options.full_harvest_every_ms = 3600'000;
    options.delta_harvest_every_ms = 0;  // timers: one full harvest an hour
    options.poll = 10min;                // by the clock, which moves only when the test says
    // The priority of the thread each call to Exchange came from, by cmdlet ("Get-CASMailbox
    // (every mailbox)" for the harvest's listing, whose thread is its own; a command asks for
    // one mailbox).
    std::mutex calls_mutex;
    std::map<std::string, std::set<threads::Priority>> priorities;
    gateway.onCall([&](const powershell::BridgeRequest& request) {
      std::lock_guard lock(calls_mutex);
      std::string called = request.cmdlet;
      if (called == "Get-CASMailbox" && !request.parameter("Identity"))
        called += " (every mailbox)";
      priorities[called].insert(threads::thisThreadPriority());
    });
    auto prioritiesOf = [&](const std::string& cmdlet) {
      std::lock_guard lock(calls_mutex);
      return priorities[cmdlet];
    };
    AgentLoop loop(executor, harvester, clock, options);
    std::thread running([&] { loop.run(); });

    EXPECT_TRUE(eventually([&] { return harvests(*reader.value()) == 1; }))
        << "a full harvest when the agent starts";
    CommandRequest block;
    block.kind = CommandKind::kBlock;
    block.mailbox = gateway.organisation().mailboxes()[0].facts.primarySmtpAddress();
    block.device_id = "X1";
    block.requested_by = "test";
    auto submitted = journal.submit(block, clock.nowMs() + 60'000);
    ASSERT_TRUE(submitted.ok());
    loop.wake();
    EXPECT_TRUE(eventually([&] {
      return journal.get(submitted->command.id).value().state == CommandState::kSucceeded;
    }));
    // Harvests give way to the rest of the agent, their workers included; commands run at the
    // agent's own priority (normal, unless the tests themselves run under `nice`).
    const std::set<threads::Priority> below{threads::Priority::kBelowNormal};
    const std::set<threads::Priority> own{threads::thisThreadPriority()};
    EXPECT_EQ(prioritiesOf("Get-CASMailbox (every mailbox)"), below);
    EXPECT_EQ(prioritiesOf("Get-MobileDevice"), below);
    EXPECT_EQ(prioritiesOf("Get-MobileDeviceStatistics"), below);
    EXPECT_EQ(prioritiesOf("Set-CASMailbox"), own) << "the block";

    // Throttled: the retry is due 30 s later by the loop's clock, and the loop waits for that
    // clock, not for real time.
    gateway.failNext({GatewayErrc::kThrottled, "user load quota exceeded", "", 30'000});
    block.device_id = "X2";
    auto throttled = journal.submit(block, clock.nowMs() + 3600'000);
    ASSERT_TRUE(throttled.ok());
    loop.wake();
    EXPECT_TRUE(eventually([&] {
      return journal.get(throttled->command.id).value().state == CommandState::kRetrying;
    }));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(journal.get(throttled->command.id).value().state, CommandState::kRetrying)
        << "the clock has not moved";
    clock.set(journal.get(throttled->command.id).value().next_attempt_ms);
    EXPECT_TRUE(eventually([&] {
      return journal.get(throttled->command.id).value().state == CommandState::kSucceeded;
    })) << "the clock reached the retry";

    EXPECT_EQ(harvests(*reader.value()), 1) << "the hour has not passed";
    loop.requestHarvest(HarvestKind::kDelta);
    EXPECT_TRUE(eventually([&] { return harvests(*reader.value()) == 2; })) << "on demand";
    clock.advance(3600'000);
    EXPECT_TRUE(eventually([&] { return harvests(*reader.value()) == 3; })) << "the hour passed";

    loop.stop();
    running.join();
  }
  removeFiles();
}

// An agent's parts on a scratch store, with an organisation of `mailboxes` mailboxes the
// directory knows, and commands run one at a time.
struct LoopParts {
  explicit LoopParts(std::size_t mailboxes)
      : file(testing::scratchPath("loop-run", ".db")),
        clock(SystemClock().nowMs()),
        gateway(sim::Organisation::generate(
            {5, mailboxes, mailboxes, sim::dotNetTicksFromUnixSeconds(1'700'000'000)})) {
    removeFiles();
    db = store::openStore(file).value();
    audit = std::make_unique<AuditLog>(*db);
    journal = std::make_unique<CommandJournal>(*db, *audit, clock);
    directory_db = store::openStore(file).value();
    directory_file = openDirectory(directoryFile(file)).value();
    directory = std::make_unique<MailboxDirectory>(*directory_file, *directory_db);
    for (const auto& m : gateway.organisation().mailboxes()) {
      auto e = mailboxEntryFromCasMailbox(*sim::casMailbox(m.facts).asObject());
      EXPECT_TRUE(e && directory->record(*e, clock.nowMs(), /*lists=*/true).ok());
    }
    ExecutorOptions one_at_a_time;
    one_at_a_time.parallelism = 1;
    executor =
        std::make_unique<CommandExecutor>(*journal, gateway, *directory, clock, one_at_a_time);
    harvest_db = store::openStore(file).value();
    harvest_directory = openDirectory(directoryFile(file)).value();
    inventory = InventoryStore::open(inventoryFile(file)).value();
    harvester = std::make_unique<Harvester>(*harvest_directory, *harvest_db, *inventory, gateway,
                                            journal.get(), clock);
    AgentLoopOptions options;
    options.full_harvest_every_ms = 0;
    options.delta_harvest_every_ms = 0;  // commands only
    options.poll = 10min;
    loop = std::make_unique<AgentLoop>(*executor, *harvester, clock, options);
  }
  ~LoopParts() {
    loop.reset();
    harvester.reset();
    inventory.reset();
    harvest_directory.reset();
    harvest_db.reset();
    executor.reset();
    directory.reset();
    directory_file.reset();
    directory_db.reset();
    journal.reset();
    audit.reset();
    db.reset();
    removeFiles();
  }
  void removeFiles() { testing::removeStoreFiles(file); }
  // An allow on each mailbox, as a policy apply queues them: their ids.
  std::vector<std::int64_t> allowOnEachMailbox() {
    std::vector<std::int64_t> ids;
    int n = 0;
    for (const auto& m : gateway.organisation().mailboxes()) {
      CommandRequest allow;
      allow.kind = CommandKind::kAllow;
      allow.mailbox = m.facts.primarySmtpAddress();
      allow.device_id = "KEPT" + std::to_string(n++);
      allow.requested_by = "test";
      ids.push_back(journal->submit(allow, clock.nowMs() + 3600'000).value().command.id);
    }
    return ids;
  }
  std::size_t inState(const std::vector<std::int64_t>& ids, CommandState state) {
    return static_cast<std::size_t>(std::count_if(ids.begin(), ids.end(), [&](std::int64_t id) {
      return journal->get(id).value().state == state;
    }));
  }

  fs::path file;
  testing::ManualClock clock;
  testing::FakeExchangeGateway gateway;
  std::unique_ptr<store::Database> db, directory_db, harvest_db;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<CommandJournal> journal;
  std::unique_ptr<store::Database> directory_file, harvest_directory;
  std::unique_ptr<MailboxDirectory> directory;
  std::unique_ptr<CommandExecutor> executor;
  std::unique_ptr<InventoryStore> inventory;
  std::unique_ptr<Harvester> harvester;
  std::unique_ptr<AgentLoop> loop;
};

TEST(AgentLoop, StopEndsALongRunOfCommandsAfterTheOneRunning) {
  LoopParts agent(30);
  const auto allows = agent.allowOnEachMailbox();
  std::atomic<int> edits{0};
  agent.gateway.onCall([&](const powershell::BridgeRequest& request) {
    if (request.cmdlet == "Set-CASMailbox" && ++edits == 3) agent.loop->stop();
  });
  std::thread running([&] { agent.loop->run(); });
  running.join();  // before the change, only once all thirty had run
  EXPECT_EQ(edits.load(), 3);
  EXPECT_EQ(agent.inState(allows, CommandState::kSucceeded), 3u);
  EXPECT_EQ(agent.inState(allows, CommandState::kQueued), 27u)
      << "journaled: the next start runs them";
}

TEST(AgentLoop, AWipeSubmittedDuringALongRunOfAllowsGoesFirst) {
  LoopParts agent(30);
  const auto allows = agent.allowOnEachMailbox();
  CommandRequest wipe;
  wipe.kind = CommandKind::kWipe;
  // A phone of the last mailbox with one: that mailbox's allow is queued when the wipe comes.
  for (const auto& m : agent.gateway.organisation().mailboxes()) {
    if (!m.devices.empty()) wipe.partnership = sim::partnershipIdentity(m.devices.front());
  }
  wipe.requested_by = "test";
  wipe = normalizeCommand(wipe).value();
  std::atomic<int> edits{0};
  std::atomic<int> edits_before_the_wipe{-1};
  std::optional<std::int64_t> wipe_id;
  agent.gateway.onCall([&](const powershell::BridgeRequest& request) {
    if (request.cmdlet == "Clear-MobileDevice") edits_before_the_wipe = edits.load();
    if (request.cmdlet != "Set-CASMailbox" || ++edits != 3) return;
    // The MDM's wipe, while the third allow runs.
    wipe_id = agent.journal->submit(wipe, agent.clock.nowMs() + 3600'000).value().command.id;
    agent.loop->wake();
  });
  agent.loop->run(/*until_idle=*/true);
  ASSERT_TRUE(wipe_id.has_value());
  EXPECT_EQ(agent.journal->get(*wipe_id).value().state, CommandState::kSucceeded);
  EXPECT_EQ(edits_before_the_wipe.load(), 4)
      << "the wipe ran after its mailbox's allow, not after the twenty-seven allows due before it";
  EXPECT_EQ(agent.inState(allows, CommandState::kSucceeded), 30u);
}

}  // namespace
}  // namespace easgate::agent
