// Harvests against the in-memory gateway (the simulator's semantics) into a real store file:
// what each kind reads, what the store and the event feed then say.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <thread>

#include "agent/commands/command_executor.h"
#include "agent/gateway/bridge_exchange_gateway.h"
#include "agent/harvest/harvester.h"
#include "agent/inventory/inventory_store.h"
#include "agent/inventory/object_text.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/policy/organisation_policy.h"
#include "agent/store/schema.h"
#include "powershell/host/bridge_pool.h"
#include "powershell/host/bridge_process.h"
#include "tests/support/fake_exchange_gateway.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch.h"
#include "tests/support/start_again.h"
#include "tests/support/store_files.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;
namespace sim = powershell::sim;

class Harvests : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = testing::scratchPath("harvest", ".db");
    removeStore();
    auto db = store::openStore(file_);
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
    auto inventory = InventoryStore::open(inventoryFile(file_));
    ASSERT_TRUE(inventory.ok()) << inventory.error().message;
    inventory_ = std::move(inventory).value();
    audit_ = std::make_unique<AuditLog>(*db_);
    journal_ = std::make_unique<CommandJournal>(*db_, *audit_, clock_);
    auto harvest_directory = openDirectory(directoryFile(file_));
    ASSERT_TRUE(harvest_directory.ok()) << harvest_directory.error().message;
    harvest_directory_ = std::move(harvest_directory).value();
    harvester_ = std::make_unique<Harvester>(*harvest_directory_, *db_, *inventory_, gateway_,
                                             journal_.get(), clock_);
    auto directory_db = store::openStore(file_);
    ASSERT_TRUE(directory_db.ok());
    directory_db_ = std::move(directory_db).value();
    auto directory_file = openDirectory(directoryFile(file_));
    ASSERT_TRUE(directory_file.ok());
    directory_file_ = std::move(directory_file).value();
    directory_ = std::make_unique<MailboxDirectory>(*directory_file_, *directory_db_);
    executor_ = std::make_unique<CommandExecutor>(*journal_, gateway_, *directory_, clock_);
  }
  void TearDown() override {
    executor_.reset();
    directory_.reset();
    directory_file_.reset();
    directory_db_.reset();
    harvester_.reset();
    harvest_directory_.reset();
    journal_.reset();
    audit_.reset();
    inventory_.reset();
    db_.reset();
    removeStore();
  }
  void removeStore() { testing::removeStoreFiles(file_); }

  HarvestReport harvest(HarvestKind kind) {
    auto r = harvester_->run(kind);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : HarvestReport{};
  }
  // A harvest of `kind` while `holder` holds its file's write lock all along (until the harvest
  // ends, or 10 s); whether the holder waited that long.
  bool harvestWhileHeld(store::Database& holder, HarvestKind kind, HarvestReport& report) {
    std::mutex m;
    std::condition_variable cv;
    bool holding = false, harvested = false, waited_out = false;
    std::thread writer([&] {
      auto held = holder.transaction([&]() -> Result<void, store::StoreError> {
        std::unique_lock lock(m);
        holding = true;
        cv.notify_all();
        waited_out = !cv.wait_for(lock, std::chrono::seconds(10), [&] { return harvested; });
        return {};
      });
      EXPECT_TRUE(held.ok()) << held.error().message;
    });
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return holding; });
    }
    report = harvest(kind);
    {
      std::lock_guard lock(m);
      harvested = true;
    }
    cv.notify_all();
    writer.join();
    return waited_out;
  }
  std::vector<InventoryEvent> events() {
    return inventory_->eventsAfter(last_event_, 1000).value();
  }
  std::vector<InventoryEvent> newEvents() {
    auto e = events();
    if (!e.empty()) last_event_ = e.back().sequence;
    return e;
  }
  sim::Organisation& org() { return gateway_.organisation(); }
  sim::SimMailbox& firstMailbox() { return const_cast<sim::SimMailbox&>(org().mailboxes()[0]); }
  sim::PartnershipFacts& firstDevice() { return firstMailbox().devices[0]; }
  std::int64_t nowTicks() { return sim::dotNetTicksFromUnixSeconds(clock_.nowMs() / 1000); }

  testing::ManualClock clock_{SystemClock().nowMs()};
  testing::FakeExchangeGateway gateway_{
      sim::Organisation::generate({7, 20, 40, sim::dotNetTicksFromUnixSeconds(1'700'000'000)})};
  fs::path file_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::Database> harvest_directory_;  // the harvester's; db_ its store
  std::unique_ptr<InventoryStore> inventory_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CommandJournal> journal_;
  std::unique_ptr<Harvester> harvester_;
  std::unique_ptr<store::Database> directory_db_, directory_file_;  // the executor's
  std::unique_ptr<MailboxDirectory> directory_;
  std::unique_ptr<CommandExecutor> executor_;
  std::int64_t last_event_ = 0;

  void withDriftCorrection() {
    HarvestOptions options;
    options.correct_drift = true;
    harvester_ = std::make_unique<Harvester>(*harvest_directory_, *db_, *inventory_, gateway_,
                                             journal_.get(), clock_, options);
  }
  std::int64_t submit(CommandKind kind, const std::string& mailbox, const std::string& id,
                      std::vector<std::string> ids = {}) {
    CommandRequest r;
    r.kind = kind;
    r.mailbox = mailbox;
    r.device_id = id;
    r.device_ids = std::move(ids);
    r.requested_by = "CN=mdm";
    auto s = journal_->submit(r, clock_.nowMs() + 86'400'000);
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->command.id : 0;
  }
  // Runs every command due, then lets a second pass, as it would before the next harvest.
  void runCommands() {
    for (int i = 0; i < 50 && executor_->runDue().value() > 0; ++i) {
    }
    clock_.advance(1000);
  }
  std::optional<std::string> storedField(const std::string& identity, const std::string& field) {
    for (const auto& r : inventory_->current().value()) {
      if (r.identity != identity) continue;
      for (const auto& f : deviceFields()) {
        if (f.name == field) return fieldText(r, f);
      }
    }
    return std::nullopt;
  }
  bool statisticsStale(const std::string& identity) {
    // Not in the API: read from the file.
    auto inventory_db = store::Database::open(inventoryFile(file_));
    EXPECT_TRUE(inventory_db.ok());
    auto q = inventory_db.value()->prepare(
        "SELECT statistics_stale_ms IS NOT NULL FROM devices WHERE key = ?");
    EXPECT_TRUE(q.ok());
    q->bind(1, partnershipKey(identity));
    EXPECT_TRUE(q->step().value());
    return q->integer(0) != 0;
  }
};

TEST_F(Harvests, TheFirstHarvestIsFullAndDiscoversEveryPartnership) {
  HarvestReport r = harvest(HarvestKind::kDelta);
  EXPECT_EQ(r.kind, HarvestKind::kFull) << "nothing to take a delta of yet";
  EXPECT_EQ(r.devices, 40u);
  EXPECT_EQ(r.discovered, 40u);
  EXPECT_EQ(r.calls, 2u + 20u + 2u)
      << "devices, mailboxes, each mailbox's statistics, the organisation's settings and rules";
  auto e = newEvents();
  ASSERT_EQ(e.size(), 40u);
  EXPECT_EQ(e[0].kind, "device-discovered");
  auto inventory = inventory_->current().value();
  ASSERT_EQ(inventory.size(), 40u);
  for (const auto& d : inventory) {
    const sim::SimMailbox* mailbox = org().findMailbox(d.mailbox_identity);
    ASSERT_NE(mailbox, nullptr) << d.identity;
    EXPECT_EQ(d.mailbox_address, mailbox->facts.primarySmtpAddress())
        << d.identity << ": its mailbox's address, as the directory holds it";
    EXPECT_TRUE(d.last_success_sync.has_value()) << "from the statistics";
  }

  HarvestReport again = harvest(HarvestKind::kFull);
  EXPECT_EQ(again.discovered, 0u);
  EXPECT_EQ(again.changed, 0u);
  EXPECT_TRUE(newEvents().empty()) << "nothing changed, nothing to say";
}

TEST_F(Harvests, AStoreThatRefusesTheDirectorysWritesFailsTheHarvestAndSaysWhy) {
  // The mailboxes are written to the directory as the listing is read: a write its file
  // refuses ends the harvest, as a store failure, with the store's words, and applies nothing.
  ASSERT_TRUE(harvest_directory_
                  ->execute("CREATE TRIGGER refuse BEFORE INSERT ON mailbox_directory "
                            "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END;")
                  .ok());
  auto r = harvester_->run(HarvestKind::kFull);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HarvestErrc::kStore);
  EXPECT_NE(r.error().message.find("the disk says no"), std::string::npos) << r.error().message;
  EXPECT_TRUE(inventory_->current().value().empty()) << "nothing applied of a failed harvest";

  ASSERT_TRUE(harvest_directory_->execute("DROP TRIGGER refuse").ok());
  EXPECT_EQ(harvest(HarvestKind::kFull).discovered, 40u) << "the next harvest starts afresh";
}

TEST_F(Harvests, AHarvestThatFailsWhileAddingNamesLeavesNoMailboxHalfWritten) {
  // A first harvest adds the names of its new mailboxes after the listing: one that fails then
  // leaves them unfindable by name and not held as they are, so the next one writes them whole.
  ASSERT_TRUE(harvest_directory_
                  ->execute("CREATE TRIGGER refuse BEFORE INSERT ON mailbox_names "
                            "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END;")
                  .ok());
  auto failed = harvester_->run(HarvestKind::kFull);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, HarvestErrc::kStore);
  const sim::MailboxFacts& first = firstMailbox().facts;
  EXPECT_EQ(directory_->lookup(first.primarySmtpAddress()).kind, NameLookup::Kind::kUnknown);

  ASSERT_TRUE(harvest_directory_->execute("DROP TRIGGER refuse").ok());
  EXPECT_EQ(harvest(HarvestKind::kFull).discovered, 40u);
  for (const sim::SimMailbox& m : org().mailboxes()) {
    for (const std::string& name :
         {std::string(m.facts.identity), m.facts.primarySmtpAddress(), m.facts.sam_account_name}) {
      const NameLookup found = directory_->lookup(name);
      EXPECT_EQ(found.kind, NameLookup::Kind::kFound) << name;
    }
  }
  // And the usual harvest after it finds every mailbox as it was: the directory is not written.
  ASSERT_TRUE(harvest_directory_
                  ->execute("CREATE TRIGGER refuse BEFORE UPDATE ON mailbox_directory "
                            "BEGIN SELECT RAISE(ABORT, 'written again'); END;")
                  .ok());
  EXPECT_EQ(harvest(HarvestKind::kFull).discovered, 0u);
}

TEST_F(Harvests, RecordsAccessStateChangesFieldByField) {
  harvest(HarvestKind::kFull);
  newEvents();
  const std::string id = firstDevice().device_id;
  ASSERT_TRUE(org()
                  .changeLists(firstMailbox(), std::nullopt,
                               sim::Organisation::ListChange{std::nullopt, {id}, {}}, nowTicks())
                  .ok());
  HarvestReport r = harvest(HarvestKind::kFull);
  EXPECT_EQ(r.changed, 1u);
  auto e = newEvents();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, "access-state-changed");
  EXPECT_NE(e[0].detail.find("\"to\":\"Blocked\""), std::string::npos) << e[0].detail;
  auto history =
      inventory_->history(partnershipKey(sim::partnershipIdentity(firstDevice()))).value();
  ASSERT_FALSE(history.empty());
  bool state_recorded = false;
  for (const auto& c : history) {
    if (c.field == "accessState") {
      state_recorded = true;
      EXPECT_EQ(c.new_value, "Blocked");
    }
  }
  EXPECT_TRUE(state_recorded);
}

// Every synchronisation changes a device's sync times, so its history grows with every harvest:
// a full harvest deletes what is older than the options keep; a delta harvest deletes nothing.
TEST_F(Harvests, AFullHarvestForgetsHistoryOlderThanItKeeps) {
  constexpr std::int64_t kDay = 86'400'000;
  HarvestOptions options;
  options.keep_history_ms = 10 * kDay;
  harvester_ = std::make_unique<Harvester>(*harvest_directory_, *db_, *inventory_, gateway_,
                                           journal_.get(), clock_, options);
  const std::string key = partnershipKey(sim::partnershipIdentity(firstDevice()));
  const std::string id = firstDevice().device_id;
  auto toggle = [&](bool block) {
    sim::Organisation::ListChange change{std::nullopt, {}, {}};
    (block ? change.add : change.remove).push_back(id);
    ASSERT_TRUE(org().changeLists(firstMailbox(), std::nullopt, change, nowTicks()).ok());
  };
  harvest(HarvestKind::kFull);  // day 0: discovered, no history yet
  clock_.advance(kDay);
  toggle(true);
  EXPECT_EQ(harvest(HarvestKind::kFull).history_forgotten, 0u);  // day 1: blocked
  const std::size_t day_one = inventory_->history(key).value().size();
  ASSERT_GT(day_one, 0u);

  clock_.advance(19 * kDay);
  toggle(false);
  EXPECT_EQ(harvest(HarvestKind::kDelta).history_forgotten, 0u) << "a delta harvest keeps all";
  EXPECT_GT(inventory_->history(key).value().size(), day_one) << "day 20: unblocked";
  HarvestReport r = harvest(HarvestKind::kFull);
  EXPECT_EQ(r.history_forgotten, day_one) << "day 1 is older than 10 days";
  auto history = inventory_->history(key).value();
  ASSERT_FALSE(history.empty()) << "day 20's changes are kept";
  for (const auto& c : history) {
    EXPECT_GE(c.at_ms, clock_.nowMs() - 10 * kDay) << c.field;
    if (c.field == "accessState") {
      EXPECT_EQ(c.old_value, "Blocked") << "the unblocking, kept";
    }
  }
}

TEST_F(Harvests, FollowTheWipeFromRequestedToAcknowledged) {
  harvest(HarvestKind::kFull);
  newEvents();
  auto ref = org().findDevice(firstDevice().guid.text());
  ASSERT_TRUE(ref);
  org().wipe(*ref, false, false, nowTicks());
  harvest(HarvestKind::kFull);
  auto requested = newEvents();
  ASSERT_EQ(requested.size(), 1u);
  EXPECT_EQ(requested[0].kind, "wipe-status-changed");
  EXPECT_NE(requested[0].detail.find("DeviceWipePending"), std::string::npos);
  EXPECT_NE(requested[0].detail.find("\"sent\":\"\""), std::string::npos) << "not sent yet";

  org().syncAll(nowTicks());  // the device checks in: the wipe is sent
  harvest(HarvestKind::kFull);
  bool sent = false;
  for (const auto& e : newEvents()) {
    if (e.kind == "wipe-status-changed") sent = e.detail.find("\"sent\":\"\"") == std::string::npos;
  }
  EXPECT_TRUE(sent);
  org().syncAll(nowTicks());  // and acknowledged
  harvest(HarvestKind::kFull);
  bool acknowledged = false;
  for (const auto& e : newEvents()) {
    if (e.kind == "wipe-status-changed")
      acknowledged = e.detail.find("DeviceWipeSucceeded") != std::string::npos;
  }
  EXPECT_TRUE(acknowledged);
}

TEST_F(Harvests, OnlyAFullHarvestSeesARemovedPartnership) {
  harvest(HarvestKind::kFull);
  newEvents();
  const std::string identity = sim::partnershipIdentity(firstDevice());
  org().removeDevice(*org().findDevice(firstDevice().guid.text()));
  EXPECT_EQ(harvest(HarvestKind::kDelta).removed, 0u);
  HarvestReport full = harvest(HarvestKind::kFull);
  EXPECT_EQ(full.removed, 1u);
  auto e = newEvents();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, "partnership-removed");
  EXPECT_EQ(inventory_->current().value().size(), 39u);
}

// A partnership the listing missed (made again between Get-MobileDevice and the statistics) but
// its mailbox's statistics name was read by this harvest: a full harvest does not remove it.
TEST_F(Harvests, APartnershipOnlyTheStatisticsNamedIsNotRemoved) {
  harvest(HarvestKind::kFull);
  newEvents();
  // Of a mailbox with another partnership, listed as ever.
  const auto& mailboxes = org().mailboxes();
  auto with_two = std::find_if(mailboxes.begin(), mailboxes.end(),
                               [](const sim::SimMailbox& m) { return m.devices.size() >= 2; });
  ASSERT_NE(with_two, mailboxes.end());
  const sim::PartnershipFacts missed = with_two->devices.front();
  const std::string mailbox = with_two->facts.identity;
  std::atomic<bool> back{false};
  gateway_.onCall([&](const powershell::BridgeRequest& r) {
    if (r.cmdlet == "Get-MobileDevice") {
      gateway_.withOrganisation([&](sim::Organisation& o) {
        if (auto d = o.findDevice(missed.guid.text())) o.removeDevice(*d);
      });
    } else if (r.cmdlet == "Get-MobileDeviceStatistics" && !back.exchange(true)) {
      gateway_.withOrganisation(
          [&](sim::Organisation& o) { o.addDevice(*o.findMailbox(mailbox), missed); });
    }
  });
  HarvestReport full = harvest(HarvestKind::kFull);
  EXPECT_TRUE(back);
  EXPECT_EQ(full.removed, 0u);
  EXPECT_EQ(full.devices, 40u);
  for (const auto& e : newEvents()) EXPECT_NE(e.kind, "partnership-removed") << e.device_key;
  EXPECT_EQ(inventory_->current().value().size(), 40u);
}

TEST_F(Harvests, ADeltaReadsOnlyWhatChangedAndItsMailboxesStatistics) {
  harvest(HarvestKind::kFull);
  newEvents();
  // A mailbox with more than one partnership: the delta reads all of its statistics.
  sim::SimMailbox* busy = nullptr;
  for (const auto& m : org().mailboxes()) {
    if (m.devices.size() >= 2) busy = org().findMailbox(m.facts.identity);
  }
  ASSERT_NE(busy, nullptr);
  ASSERT_TRUE(org()
                  .changeLists(
                      *busy,
                      sim::Organisation::ListChange{std::nullopt, {busy->devices[0].device_id}, {}},
                      std::nullopt, nowTicks())
                  .ok());
  const std::size_t before = gateway_.requests().size();
  clock_.advance(60'000);
  HarvestReport delta = harvest(HarvestKind::kDelta);
  EXPECT_EQ(delta.kind, HarvestKind::kDelta);
  EXPECT_EQ(delta.calls, 2u + 2u)
      << "changed devices, one mailbox's statistics, the organisation's settings and rules";
  EXPECT_EQ(gateway_.requests().size() - before, 4u);
  EXPECT_GE(delta.devices, 1u);
  EXPECT_LT(delta.devices, 40u);
  EXPECT_EQ(delta.changed, 1u) << "the mailbox's other partnerships are untouched";
  for (const auto& d : inventory_->current().value()) {
    EXPECT_FALSE(d.device_model.empty()) << d.identity << " lost its MobileDevice fields";
  }
  const auto* filter = gateway_.requests()[before + 2].parameter("Filter");  // after the policy
  ASSERT_NE(filter, nullptr);
  EXPECT_EQ(std::get<std::string>(*filter).rfind("WhenChangedUTC -gt '", 0), 0u);
  auto e = newEvents();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, "access-state-changed");
  EXPECT_NE(e[0].detail.find("Individual"), std::string::npos);
}

TEST_F(Harvests, ReportsListDriftAndQueuesOneCorrection) {
  withDriftCorrection();
  const std::string address = firstMailbox().facts.primarySmtpAddress();
  const std::string id = firstDevice().device_id;
  submit(CommandKind::kAllow, address, id);
  runCommands();
  HarvestReport first = harvest(HarvestKind::kFull);
  EXPECT_EQ(first.drifted, 0u) << "Exchange holds what the MDM set";
  bool allowed_by_mdm = false;
  for (const auto& e : newEvents()) {
    if (e.kind == "device-discovered" && e.detail.find(id) != std::string::npos)
      allowed_by_mdm = e.detail.find("\"allowedByMdm\":true") != std::string::npos;
  }
  EXPECT_TRUE(allowed_by_mdm) << "the MDM had allowed this device before it was discovered";

  // An administrator takes the ID off the list in Exchange, behind the agent's back.
  org().findMailbox(address)->facts.allowed_device_ids.clear();
  HarvestReport r = harvest(HarvestKind::kFull);
  EXPECT_EQ(r.drifted, 1u);
  EXPECT_EQ(r.corrections, 1u);
  bool drift = false;
  for (const auto& e : newEvents()) {
    if (e.kind == "list-drift") drift = e.detail.find(id) != std::string::npos;
  }
  EXPECT_TRUE(drift);
  EXPECT_EQ(harvest(HarvestKind::kFull).corrections, 0u) << "one is already queued";
  EXPECT_EQ(journal_->unfinished().value().size(), 1u) << "one set-allowed";
  runCommands();
  EXPECT_EQ(org().findMailbox(address)->facts.allowed_device_ids, std::vector<std::string>{id});
  EXPECT_EQ(harvest(HarvestKind::kFull).drifted, 0u);
}

// Issue 11, case 1: the MDM names one mailbox two ways. The agent must see one mailbox, so a
// full harvest finds no drift and queues nothing that would undo the MDM's last decision.
TEST_F(Harvests, AMailboxNamedTwoWaysHasNoFalseDriftAndNoCorrectionUndoesTheMdm) {
  withDriftCorrection();
  const sim::MailboxFacts facts = firstMailbox().facts;
  submit(CommandKind::kAllow, facts.primarySmtpAddress(), "D1");
  submit(CommandKind::kRevoke, facts.primarySmtpAddress(), "D2");
  submit(CommandKind::kSetAllowed, facts.identity, "", {"D2", "D3"});
  runCommands();
  ASSERT_EQ(org().findMailbox(facts.identity)->facts.allowed_device_ids,
            (std::vector<std::string>{"D2", "D3"}));
  for (int i = 0; i < 2; ++i) {
    HarvestReport r = harvest(HarvestKind::kFull);
    EXPECT_EQ(r.drifted, 0u) << "harvest " << i;
    EXPECT_EQ(r.corrections, 0u) << "harvest " << i;
    runCommands();
  }
  EXPECT_EQ(org().findMailbox(facts.identity)->facts.allowed_device_ids,
            (std::vector<std::string>{"D2", "D3"}))
      << "the MDM's latest decision stands";
}

// Issue 11, case 4: blocking an allowed device, then a full harvest with drift correction:
// the block must stand.
TEST_F(Harvests, ABlockOfAnAllowedDeviceIsNotUndoneByDriftCorrection) {
  withDriftCorrection();
  const std::string address = firstMailbox().facts.primarySmtpAddress();
  const std::string id = firstDevice().device_id;
  submit(CommandKind::kAllow, address, id);
  submit(CommandKind::kBlock, address, id);
  runCommands();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(harvest(HarvestKind::kFull).corrections, 0u);
    runCommands();
  }
  const auto& facts = org().findMailbox(address)->facts;
  EXPECT_EQ(facts.blocked_device_ids, std::vector<std::string>{id});
  EXPECT_TRUE(facts.allowed_device_ids.empty());
  EXPECT_EQ(firstDevice().access_state, "Blocked");
}

// Issue 11, case 3: Exchange versions type statistics differently. Whatever the type, the
// harvest stores the sync time and follows the wipe.
TEST_F(Harvests, StatisticsAreReadWhateverTypeThisExchangeGivesThem) {
  for (const char* type : sim::kStatisticsTypeNames) {
    SCOPED_TRACE(type);
    org().statistics_type = type;
    harvest(HarvestKind::kFull);
    newEvents();
    const std::string identity = sim::partnershipIdentity(firstDevice());
    EXPECT_NE(storedField(identity, "lastSuccessSync").value_or(""), "");
    auto wiped = org().findDevice(identity);
    ASSERT_TRUE(wiped);
    org().wipe(*wiped, false, false, nowTicks());
    harvest(HarvestKind::kFull);
    bool wipe_event = false;
    for (const auto& e : newEvents()) wipe_event |= e.kind == "wipe-status-changed";
    EXPECT_TRUE(wipe_event);
    EXPECT_EQ(storedField(identity, "wipeStatus").value_or(""), "DeviceWipePending");
    org().wipe(*org().findDevice(identity), false, true, nowTicks());  // cancel, for the next
    harvest(HarvestKind::kFull);
  }
}

// Issue 11, case 5: one mailbox whose statistics fail does not sink the harvest.
TEST_F(Harvests, AMailboxWhoseStatisticsFailIsSkippedAndTheHarvestCompletes) {
  HarvestOptions options;
  options.statistics_retry_ms = 0;
  harvester_ = std::make_unique<Harvester>(*harvest_directory_, *db_, *inventory_, gateway_,
                                           journal_.get(), clock_, options);
  harvest(HarvestKind::kFull);
  newEvents();
  const sim::MailboxFacts broken = firstMailbox().facts;
  const std::string identity = sim::partnershipIdentity(firstDevice());
  const std::string last_sync = storedField(identity, "lastSuccessSync").value();
  org().statistics_offline = {broken.identity};
  const std::size_t before = gateway_.requests().size();

  HarvestReport r = harvest(HarvestKind::kFull);
  EXPECT_EQ(r.failed_mailboxes, 1u);
  EXPECT_TRUE(r.partial());
  EXPECT_EQ(r.devices, 40u) << "every partnership is still there";
  std::size_t tries = 0;
  for (std::size_t i = before; i < gateway_.requests().size(); ++i) {
    const auto& q = gateway_.requests()[i];
    const auto* m = q.parameter("Mailbox");
    tries += q.cmdlet == "Get-MobileDeviceStatistics" && m &&
             std::get<std::string>(*m) == broken.identity;
  }
  EXPECT_EQ(tries, 3u) << "retried within the harvest, then skipped";
  EXPECT_EQ(storedField(identity, "lastSuccessSync").value_or(""), last_sync)
      << "the last known statistics are kept";
  EXPECT_TRUE(statisticsStale(identity));
  EXPECT_FALSE(statisticsStale(sim::partnershipIdentity(org().mailboxes()[1].devices[0])));
  bool said = false;
  for (const auto& e : newEvents()) {
    if (e.kind == "mailbox-statistics-failed") {
      said = e.detail.find("MdbOffline") != std::string::npos && e.mailbox == broken.identity;
    }
  }
  EXPECT_TRUE(said) << "an event names the mailbox and why";
  EXPECT_EQ(inventory_->summary()->last_full->failed_mailboxes, 1);

  org().statistics_offline.clear();  // the database is mounted again
  EXPECT_FALSE(harvest(HarvestKind::kFull).partial());
  EXPECT_FALSE(statisticsStale(identity));
}

TEST_F(Harvests, MailboxesThrottledTogetherWaitOnceAndAreAskedAgainTogether) {
  // Exchange throttles the first five statistics calls and asks for 1.5 s: the lot waits once,
  // not once per mailbox (7.5 s), and none of them is skipped.
  std::atomic<int> throttled{0};
  gateway_.onCall([&](const powershell::BridgeRequest& r) {
    if (r.cmdlet == "Get-MobileDeviceStatistics" && throttled < 5) {
      ++throttled;
      gateway_.failNext({GatewayErrc::kThrottled, "Micro delay applied", "", 1500});
    }
  });
  const auto started = std::chrono::steady_clock::now();
  HarvestReport r = harvest(HarvestKind::kFull);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(throttled, 5);
  EXPECT_EQ(r.failed_mailboxes, 0u);
  EXPECT_EQ(r.devices, 40u);
  EXPECT_GE(took, std::chrono::milliseconds(1500)) << "Exchange's wait is kept";
  EXPECT_LT(took, std::chrono::milliseconds(6000)) << "one wait for the lot, not one each";
}

TEST_F(Harvests, AMailboxDeletedBetweenListingAndStatisticsIsNoError) {
  org().deleted_after_listing = {firstMailbox().facts.primarySmtpAddress()};
  HarvestReport r = harvest(HarvestKind::kFull);
  EXPECT_FALSE(r.partial());
  EXPECT_EQ(r.failed_mailboxes, 0u);
}

TEST_F(Harvests, EveryHarvestKeepsTheOrganisationsPolicyAsExchangeHasIt) {
  harvest(HarvestKind::kFull);
  auto first = inventory_->policy();
  ASSERT_TRUE(first.ok() && first.value().has_value());
  auto read = policy::policyFromJson(first.value()->document);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->access.default_level, powershell::exchange::AccessLevel::kAllow);
  EXPECT_TRUE(read->access.rules.empty());

  org().policy.default_level = powershell::exchange::AccessLevel::kQuarantine;
  org().policy.rules.push_back({powershell::exchange::Characteristic::kDeviceModel, "iPhone15C2",
                                powershell::exchange::AccessLevel::kAllow});
  org().admin_mail_recipients = {"helpdesk@contoso.com"};
  harvest(HarvestKind::kDelta);
  read = policy::policyFromJson(inventory_->policy().value()->document);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->access.default_level, powershell::exchange::AccessLevel::kQuarantine);
  ASSERT_EQ(read->access.rules.size(), 1u);
  EXPECT_EQ(read->access.rules[0].name(), "iPhone15C2 (DeviceModel)");
  EXPECT_EQ(read->admin_mail_recipients, std::vector<std::string>{"helpdesk@contoso.com"});

  // A policy Exchange will not give (a role without the cmdlet, say) costs only its freshness:
  // the harvest completes and the policy read before stays.
  const std::string kept = inventory_->policy().value()->document;
  org().policy.default_level = powershell::exchange::AccessLevel::kBlock;
  gateway_.failNext(
      {GatewayErrc::kOther, "Access denied to Get-ActiveSyncOrganizationSettings", "", 0});
  clock_.advance(60'000);
  auto delta = harvester_->run(HarvestKind::kDelta);
  ASSERT_TRUE(delta.ok()) << delta.error().message;
  EXPECT_EQ(inventory_->policy().value()->document, kept);
}

TEST_F(Harvests, AFailedHarvestChangesNothing) {
  // Either listing may fail; the two are read at once, each on a thread of its own.
  gateway_.failNextOf("Get-CASMailbox",
                      {GatewayErrc::kOther, "Active Directory is unreachable", "", 0});
  auto r = harvester_->run(HarvestKind::kFull);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HarvestErrc::kExchange);
  EXPECT_NE(r.error().message.find("Active Directory"), std::string::npos);
  EXPECT_TRUE(inventory_->current().value().empty());
  EXPECT_TRUE(events().empty());

  gateway_.failNextOf("Get-MobileDevice",
                      {GatewayErrc::kOther, "The global catalog is unreachable", "", 0});
  r = harvester_->run(HarvestKind::kFull);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HarvestErrc::kExchange);
  EXPECT_NE(r.error().message.find("global catalog"), std::string::npos);
  EXPECT_TRUE(inventory_->current().value().empty());
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(harvest(HarvestKind::kDelta).kind, HarvestKind::kFull) << "no harvest was recorded";
}

TEST_F(Harvests, AStopEndsTheHarvestRunningWithNothingOfItKept) {
  // The agent stops while the first statistics are read (a full harvest of a large organisation
  // has minutes to go then): the harvest ends, as one that failed, and so does the next.
  gateway_.onCall([&](const powershell::BridgeRequest& request) {
    if (request.cmdlet == "Get-MobileDeviceStatistics") harvester_->requestStop();
  });
  auto r = harvester_->run(HarvestKind::kFull);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HarvestErrc::kStopped);
  EXPECT_TRUE(inventory_->current().value().empty());
  EXPECT_TRUE(events().empty());
  r = harvester_->run(HarvestKind::kFull);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HarvestErrc::kStopped) << "stopping is for good";

  // The agent started again: its first harvest is a full one, as if none had begun.
  gateway_.onCall({});
  harvester_ = std::make_unique<Harvester>(*harvest_directory_, *db_, *inventory_, gateway_,
                                           journal_.get(), clock_);
  EXPECT_EQ(harvest(HarvestKind::kDelta).kind, HarvestKind::kFull);
  EXPECT_EQ(inventory_->current().value().size(), 40u);
}

TEST_F(Harvests, TheDirectorysPageCacheIsLargerWhileAHarvestRunsAndGivenBackAfter) {
  // A full harvest looks every mailbox up in the directory (and a first one writes each): in a
  // larger cache while it runs; between harvests the connection keeps SQLite's default.
  std::vector<std::int64_t> while_listing;
  gateway_.onCall([&](const powershell::BridgeRequest& r) {
    if (r.cmdlet == "Get-CASMailbox") {
      auto kib = harvest_directory_->pageCacheKiB();
      ASSERT_TRUE(kib.ok()) << kib.error().message;
      while_listing.push_back(kib.value());
    }
  });
  harvest(HarvestKind::kFull);
  ASSERT_EQ(while_listing.size(), 1u);
  EXPECT_GT(while_listing.front(), store::kDefaultPageCacheKiB);
  EXPECT_EQ(harvest_directory_->pageCacheKiB().value(), store::kDefaultPageCacheKiB);

  gateway_.failNextOf("Get-MobileDevice",
                      {GatewayErrc::kOther, "The global catalog is unreachable", "", 0});
  ASSERT_FALSE(harvester_->run(HarvestKind::kFull).ok());
  EXPECT_EQ(harvest_directory_->pageCacheKiB().value(), store::kDefaultPageCacheKiB)
      << "a failed harvest gives it back too";
}

TEST_F(Harvests, AFullHarvestListsMailboxesAndPartnershipsAtOnceWhenItMayCallTwice) {
  // Get-CASMailbox is held until Get-MobileDevice has been asked for (`wait` at most): read one
  // after the other, the partnerships would only be asked for once the mailboxes were read.
  auto overlapped = [&](std::size_t parallelism, std::chrono::milliseconds wait) {
    HarvestOptions options;
    options.parallelism = parallelism;
    harvester_ = std::make_unique<Harvester>(*harvest_directory_, *db_, *inventory_, gateway_,
                                             journal_.get(), clock_, options);
    std::mutex m;
    std::condition_variable cv;
    bool partnerships_asked = false;
    bool asked_while_mailboxes_held = false;
    gateway_.onCall([&](const powershell::BridgeRequest& r) {
      std::unique_lock lock(m);
      if (r.cmdlet == "Get-MobileDevice") {
        partnerships_asked = true;
        cv.notify_all();
      } else if (r.cmdlet == "Get-CASMailbox") {
        asked_while_mailboxes_held = cv.wait_for(lock, wait, [&] { return partnerships_asked; });
      }
    });
    HarvestReport report = harvest(HarvestKind::kFull);
    gateway_.onCall({});
    EXPECT_EQ(report.devices, 40u);
    EXPECT_FALSE(report.partial());
    return asked_while_mailboxes_held;
  };
  // Generous where the other call must come (a sanitizer's build, a busy machine); short where
  // it never can.
  EXPECT_TRUE(overlapped(2, std::chrono::seconds(5)))
      << "two bridge calls at once: both listings together";
  EXPECT_FALSE(overlapped(1, std::chrono::milliseconds(200)))
      << "one bridge call at a time: mailboxes first";
  // What the listing read beside the partnerships went into the directory.
  EXPECT_EQ(directory_->lookup(firstMailbox().facts.primarySmtpAddress()).kind,
            NameLookup::Kind::kFound);
}

TEST_F(Harvests, AHarvestThatFindsEveryMailboxAsItWasNeverWaitsForTheDirectorysWriteLock) {
  harvest(HarvestKind::kFull);  // the first learns every mailbox
  // Another writer of the directory's file (a command's thread recording a name Exchange
  // resolved) holds its write lock all along: the usual harvest, which has nothing to write
  // there, must not wait for it.
  HarvestReport again;
  EXPECT_FALSE(harvestWhileHeld(*directory_file_, HarvestKind::kFull, again))
      << "the harvest waited for the write lock the other writer held";
  EXPECT_EQ(again.devices, 40u);
  EXPECT_EQ(again.discovered, 0u);
  EXPECT_EQ(again.changed, 0u);
}

TEST_F(Harvests, AFirstHarvestNeverWaitsForTheStoresWriteLock) {
  // The journal holds the store's write lock all along (an MDM's command being journaled): a
  // first harvest writes every mailbox it learns to the directory's own file (store migration
  // 13), and must not wait for it.
  auto journal_db = store::openStore(file_);
  ASSERT_TRUE(journal_db.ok()) << journal_db.error().message;
  HarvestReport first;
  EXPECT_FALSE(harvestWhileHeld(*journal_db.value(), HarvestKind::kFull, first))
      << "the harvest waited for the write lock the journal held";
  EXPECT_EQ(first.devices, 40u);
  EXPECT_EQ(first.discovered, 40u);
  EXPECT_EQ(directory_->lookup(firstMailbox().facts.primarySmtpAddress()).kind,
            NameLookup::Kind::kFound)
      << "the directory learned the mailboxes";
}

TEST_F(Harvests, NeverOverlap) {
  std::mutex m;
  std::condition_variable cv;
  bool first_call = false, release = false;
  gateway_.onCall([&](const powershell::BridgeRequest&) {
    std::unique_lock lock(m);
    if (first_call) return;
    first_call = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  std::thread running([&] { EXPECT_TRUE(harvester_->run(HarvestKind::kFull).ok()); });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return first_call; });
  }
  auto second = harvester_->run(HarvestKind::kFull);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, HarvestErrc::kBusy);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  running.join();
}

// Against simulator bridges, where statistics are asked for many mailboxes in one request: a
// mailbox that fails among them fails alone, and a bridge that crashes in the middle of one
// loses no mailbox (each one not answered is asked again, on the bridge started in its place).
TEST(HarvestOverBridges, AFailureInsideARequestForManyMailboxesCostsOnlyThatMailbox) {
  const std::vector<std::string> org = {"--mailboxes", "200", "--devices", "400", "--seed", "3"};
  auto start = [&](std::vector<std::string> faults) {
    powershell::BridgeCommand command{EASGATE_SIM_BINARY, org, {}};
    command.arguments.insert(command.arguments.end(), faults.begin(), faults.end());
    powershell::BridgeProcessOptions options;
    options.on_stderr = [](std::string_view) {};  // its crash report is expected
    return powershell::BridgeProcess::start(command, options);
  };
  // A mailbox in the middle of the organisation, whose database will be offline.
  std::string offline;
  {
    // (A bridge pool starts another bridge on the next request when one did not start; this
    // probe has no pool.)
    auto probe = testing::startTryingAgain("the simulator", [&] { return start({}); });
    ASSERT_TRUE(probe.ok()) << probe.error().message;
    auto read = probe.value()->run(
        powershell::BridgeRequest{"Get-CASMailbox", {}}.with("ResultSize", std::int64_t{100}));
    ASSERT_TRUE(read.ok() && read->objects.size() == 100u);
    offline = *read->objects.back().asObject()->property("Identity")->display();
  }
  // The first bridge crashes on its 20th request: its first statistics request (for 32
  // mailboxes, after the four calls that read mailboxes, partnerships and the policy) is in
  // flight. The one started in its place does not.
  std::atomic<int> started{0};
  powershell::BridgePool pool(
      [&]() -> Result<std::unique_ptr<powershell::Bridge>, powershell::BridgeError> {
        std::vector<std::string> faults = {"--statistics-offline", offline};
        if (started++ == 0) faults.insert(faults.end(), {"--crash-after", "20"});
        auto b = start(faults);
        if (!b) return b.error();
        return std::unique_ptr<powershell::Bridge>(std::move(b).value());
      },
      2);
  BridgeExchangeGateway gateway(pool);

  const fs::path file = testing::scratchPath("harvest-bridges", ".db");
  {
    auto db = store::openStore(file);
    ASSERT_TRUE(db.ok()) << db.error().message;
    auto directory = openDirectory(directoryFile(file));
    ASSERT_TRUE(directory.ok()) << directory.error().message;
    auto inventory = InventoryStore::open(inventoryFile(file));
    ASSERT_TRUE(inventory.ok()) << inventory.error().message;
    testing::ManualClock clock{SystemClock().nowMs()};
    HarvestOptions options;
    options.parallelism = 2;
    options.statistics_retry_ms = 0;
    Harvester harvester(*directory.value(), *db.value(), *inventory.value(), gateway, nullptr,
                        clock, options);

    auto r = harvester.run(HarvestKind::kFull);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->devices, 400u);
    EXPECT_EQ(r->failed_mailboxes, 1u) << "only the offline mailbox";
    EXPECT_EQ(pool.stats().replaced, 1u) << "the first bridge did crash";
    // The wipe status comes from the statistics alone.
    std::size_t others = 0, with_statistics = 0;
    for (const auto& d : inventory.value()->current().value()) {
      if (d.mailbox_identity == offline) continue;
      ++others;
      with_statistics += !d.wipe_status.empty();
    }
    EXPECT_LT(others, 400u) << "the offline mailbox has partnerships";
    EXPECT_EQ(with_statistics, others) << "every other mailbox's statistics were read";
    std::size_t failure_events = 0;
    for (const auto& e : inventory.value()->eventsAfter(0, 1000).value()) {
      if (e.kind == "mailbox-statistics-failed") {
        ++failure_events;
        EXPECT_EQ(e.mailbox, offline);
      }
    }
    EXPECT_EQ(failure_events, 1u);
  }  // the harvester, then its stores, closed before their files go
  testing::removeStoreFiles(file);
}

}  // namespace
}  // namespace easgate::agent
