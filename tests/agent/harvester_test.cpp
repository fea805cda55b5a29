// Harvests against the in-memory gateway (the simulator's semantics) into a real store file:
// what each kind reads, what the store and the event feed then say.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <thread>

#include "agent/harvest/harvester.h"
#include "agent/harvest/inventory_queries.h"
#include "agent/store/schema.h"
#include "tests/support/fake_exchange_gateway.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch.h"

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
    audit_ = std::make_unique<AuditLog>(*db_);
    journal_ = std::make_unique<CommandJournal>(*db_, *audit_, clock_);
    harvester_ = std::make_unique<Harvester>(*db_, gateway_, journal_.get(), clock_);
  }
  void TearDown() override {
    harvester_.reset();
    journal_.reset();
    audit_.reset();
    db_.reset();
    removeStore();
  }
  void removeStore() {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(file_.string() + suffix);
  }

  HarvestReport harvest(HarvestKind kind) {
    auto r = harvester_->run(kind);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : HarvestReport{};
  }
  std::vector<InventoryEvent> events() { return eventsAfter(*db_, last_event_, 1000).value(); }
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
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CommandJournal> journal_;
  std::unique_ptr<Harvester> harvester_;
  std::int64_t last_event_ = 0;
};

TEST_F(Harvests, TheFirstHarvestIsFullAndDiscoversEveryPartnership) {
  HarvestReport r = harvest(HarvestKind::kDelta);
  EXPECT_EQ(r.kind, HarvestKind::kFull) << "nothing to take a delta of yet";
  EXPECT_EQ(r.devices, 40u);
  EXPECT_EQ(r.discovered, 40u);
  EXPECT_EQ(r.calls, 2u + 20u) << "devices, mailboxes, and each mailbox's statistics";
  auto e = newEvents();
  ASSERT_EQ(e.size(), 40u);
  EXPECT_EQ(e[0].kind, "device-discovered");
  auto inventory = currentInventory(*db_).value();
  ASSERT_EQ(inventory.size(), 40u);
  for (const auto& d : inventory) {
    EXPECT_FALSE(d.mailbox_address.empty()) << d.identity;
    EXPECT_TRUE(d.last_success_sync.has_value()) << "from the statistics";
  }

  HarvestReport again = harvest(HarvestKind::kFull);
  EXPECT_EQ(again.discovered, 0u);
  EXPECT_EQ(again.changed, 0u);
  EXPECT_TRUE(newEvents().empty()) << "nothing changed, nothing to say";
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
  auto history = deviceHistory(*db_, sim::partnershipIdentity(firstDevice())).value();
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

TEST_F(Harvests, FollowTheWipeFromRequestedToAcknowledged) {
  harvest(HarvestKind::kFull);
  newEvents();
  auto ref = org().findDevice(firstDevice().guid);
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
  org().removeDevice(*org().findDevice(firstDevice().guid));
  EXPECT_EQ(harvest(HarvestKind::kDelta).removed, 0u);
  HarvestReport full = harvest(HarvestKind::kFull);
  EXPECT_EQ(full.removed, 1u);
  auto e = newEvents();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, "partnership-removed");
  EXPECT_EQ(currentInventory(*db_).value().size(), 39u);
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
  EXPECT_EQ(delta.calls, 2u) << "changed devices, then one mailbox's statistics";
  EXPECT_EQ(gateway_.requests().size() - before, 2u);
  EXPECT_GE(delta.devices, 1u);
  EXPECT_LT(delta.devices, 40u);
  EXPECT_EQ(delta.changed, 1u) << "the mailbox's other partnerships are untouched";
  for (const auto& d : currentInventory(*db_).value()) {
    EXPECT_FALSE(d.device_model.empty()) << d.identity << " lost its MobileDevice fields";
  }
  const auto* filter = gateway_.requests()[before].parameter("Filter");
  ASSERT_NE(filter, nullptr);
  EXPECT_EQ(std::get<std::string>(*filter).rfind("WhenChangedUTC -gt '", 0), 0u);
  auto e = newEvents();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, "access-state-changed");
  EXPECT_NE(e[0].detail.find("Individual"), std::string::npos);
}

TEST_F(Harvests, ReportsListDriftAndQueuesOneCorrection) {
  harvester_ = std::make_unique<Harvester>(*db_, gateway_, journal_.get(), clock_,
                                           HarvestOptions{4, /*correct_drift=*/true, 300'000});
  const std::string address = firstMailbox().facts.primary_smtp_address;
  const std::string id = firstDevice().device_id;
  CommandRequest allow;
  allow.kind = CommandKind::kAllow;
  allow.mailbox = address;
  allow.device_id = id;
  allow.requested_by = "CN=mdm";
  ASSERT_TRUE(journal_->submit(allow, clock_.nowMs() + 86'400'000).ok());
  // The command has not run: Exchange's allowed list is still empty.
  HarvestReport r = harvest(HarvestKind::kFull);
  EXPECT_EQ(r.drifted, 1u);
  EXPECT_EQ(r.corrections, 1u);
  bool drift = false, allowed_by_mdm = false;
  for (const auto& e : newEvents()) {
    if (e.kind == "list-drift") drift = e.detail.find(id) != std::string::npos;
    if (e.kind == "device-discovered" && e.detail.find(id) != std::string::npos)
      allowed_by_mdm = e.detail.find("\"allowedByMdm\":true") != std::string::npos;
  }
  EXPECT_TRUE(drift);
  EXPECT_TRUE(allowed_by_mdm) << "the MDM had allowed this device before it was discovered";
  EXPECT_EQ(harvest(HarvestKind::kFull).corrections, 0u) << "one is already queued";
  EXPECT_EQ(journal_->unfinished().value().size(), 2u) << "the allow and one set-allowed";

  org().findMailbox(address)->facts.allowed_device_ids = {id};  // Exchange catches up
  EXPECT_EQ(harvest(HarvestKind::kFull).drifted, 0u);
}

TEST_F(Harvests, AFailedHarvestChangesNothing) {
  gateway_.failNext({GatewayErrc::kOther, "Active Directory is unreachable", "", 0});
  auto r = harvester_->run(HarvestKind::kFull);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, HarvestErrc::kExchange);
  EXPECT_NE(r.error().message.find("Active Directory"), std::string::npos);
  EXPECT_TRUE(currentInventory(*db_).value().empty());
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(harvest(HarvestKind::kDelta).kind, HarvestKind::kFull) << "no harvest was recorded";
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

}  // namespace
}  // namespace easgate::agent
