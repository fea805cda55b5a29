// The inventory's own file: a harvest's transaction there holds no lock the journal needs, and
// readers see the harvest before it or after it, never a part.
#include "agent/inventory/inventory_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "agent/audit/audit_log.h"
#include "agent/commands/command_journal.h"
#include "agent/inventory/object_text.h"
#include "agent/store/schema.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch.h"
#include "tests/support/sql_value.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;
using store::StoreError;
using StoreResult = Result<void, StoreError>;

DeviceRecord device(const std::string& mailbox, const std::string& id, const char* state) {
  DeviceRecord r;
  r.mailbox_identity = "contoso.com/Users/" + mailbox;
  r.mailbox_address = mailbox + "@contoso.com";
  r.device_id = id;
  r.device_type = "iPhone";
  r.access_state = state;
  r.identity = r.mailbox_identity + "/ExchangeActiveSyncDevices/iPhone\xc2\xa7" + id;
  return r;
}

std::string keyOf(const DeviceRecord& r) { return partnershipKey(r.identity); }

// Saves `r` as a harvest does: compared with what is stored for it, read first.
StoreResult saveAsRead(HarvestWrite& w, const DeviceRecord& r) {
  auto stored = w.stored(keyOf(r));
  if (!stored) return stored.error();
  return w.save(keyOf(r), stored.value(), r.mailbox_identity, fieldTextsOf(r), false,
                HarvestWrite::Source::kStatisticsOnly);
}

// "A0", "A1", ...: appended, not "A" + std::to_string(i), on which mingw-w64's GCC 12 warns
// falsely (-Wrestrict) where it inlines.
std::string numbered(std::string_view prefix, int i) {
  std::string out(prefix);
  out += std::to_string(i);
  return out;
}

class InventoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::scratchPath("inventory");
    fs::remove_all(dir_);
    store_ = store::openStore(store::storeFile(dir_)).value();
    inventory_ = InventoryStore::open(inventoryFile(store::storeFile(dir_))).value();
  }
  void TearDown() override {
    inventory_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  // The devices `filter` finds, kept (what a page is written from, row by row).
  std::vector<StoredDevice> devices(const DeviceFilter& filter) {
    std::vector<StoredDevice> out;
    EXPECT_TRUE(inventory_
                    ->forEachDevice(filter,
                                    [&](const StoredDeviceView& d) {
                                      out.push_back({std::string(d.key), std::string(d.record),
                                                     d.first_seen_ms, d.last_seen_ms});
                                    })
                    .ok());
    return out;
  }
  // One full harvest, begun at `at_ms`, that read exactly `records`.
  StoreResult harvest(const std::vector<DeviceRecord>& records, std::int64_t at_ms) {
    return inventory_->applyHarvest(
        {"full", at_ms, at_ms + 10, static_cast<std::int64_t>(records.size()), 1, 0},
        [&](HarvestWrite& w) -> StoreResult {
          for (const auto& r : records) {
            if (auto x = saveAsRead(w, r); !x) {
              return x;
            }
          }
          return w.removeUnseen([&](const std::string& key, const DeviceFieldTexts&) {
            return w.event("partnership-removed", "", key, "{}");
          });
        });
  }
  fs::path dir_;
  std::unique_ptr<store::Database> store_;
  std::unique_ptr<InventoryStore> inventory_;
};

TEST_F(InventoryStoreTest, AHarvestInProgressHoldsNoLockTheJournalNeedsAndReadersSeeTheOneBefore) {
  ASSERT_TRUE(harvest({device("Ann", "D1", "Allowed")}, 1'000).ok());
  auto reader = InventoryStore::open(inventoryFile(store::storeFile(dir_))).value();
  testing::ManualClock clock(2'000);
  AuditLog audit(*store_);
  CommandJournal journal(*store_, audit, clock);

  bool journaled = false;
  std::size_t seen_midway = 0;
  auto applied = inventory_->applyHarvest(
      {"full", 1'900, 2'000, 2, 1, 0}, [&](HarvestWrite& w) -> StoreResult {
        for (const auto& r : {device("Ann", "D1", "Blocked"), device("Bo", "D2", "Allowed")}) {
          if (auto x = saveAsRead(w, r); !x) return x;
        }
        // Midway through the harvest's write transaction, the MDM sends a command: it is
        // journaled at once, and a reader sees the inventory as the last harvest left it.
        CommandRequest block;
        block.kind = CommandKind::kBlock;
        block.mailbox = "ann@contoso.com";
        block.device_id = "D9";
        block.requested_by = "CN=mdm";
        auto submitted = journal.submit(block, 10'000);
        journaled = submitted.ok();
        EXPECT_TRUE(journaled) << submitted.error().message;
        auto now = reader->current();
        EXPECT_TRUE(now.ok());
        seen_midway = now->size();
        if (now.ok() && !now->empty()) {
          EXPECT_EQ(now->front().access_state, "Allowed");
        }
        return {};
      });
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_TRUE(journaled);
  EXPECT_EQ(seen_midway, 1u) << "the harvest before, whole";
  auto after = reader->current().value();
  ASSERT_EQ(after.size(), 2u) << "the harvest after, whole";
  EXPECT_EQ(after[0].access_state, "Blocked");
}

// A harvest begun at `at_ms` that records `count` changes of D1's deviceOS.
StoreResult recordChanges(InventoryStore& inventory, std::int64_t at_ms, int count) {
  return inventory.applyHarvest({"delta", at_ms, at_ms, 0, 1, 0}, [&](HarvestWrite& w) {
    const auto r = device("Ann", "D1", "Allowed");
    for (int i = 0; i < count; ++i) {
      if (auto x = w.change(keyOf(r), "deviceOS", "iOS " + std::to_string(i),
                            "iOS " + std::to_string(i + 1));
          !x) {
        return x;
      }
    }
    return StoreResult{};
  });
}

TEST_F(InventoryStoreTest, ForgettingHistoryDeletesOnlyWhatIsOlderThanTheCutoff) {
  ASSERT_TRUE(harvest({device("Ann", "D1", "Allowed")}, 500).ok());
  const std::string d1 = keyOf(device("Ann", "D1", "Allowed"));
  ASSERT_TRUE(recordChanges(*inventory_, 1'000, 3).ok());
  ASSERT_TRUE(recordChanges(*inventory_, 5'000, 2).ok());
  EXPECT_EQ(inventory_->forgetChangesBefore(1'000).value(), 0u) << "nothing is older";
  EXPECT_EQ(inventory_->forgetChangesBefore(5'000).value(), 3u);
  auto left = inventory_->history(d1).value();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].at_ms, 5'000);
  EXPECT_EQ(left[1].at_ms, 5'000);
  EXPECT_EQ(inventory_->forgetChangesBefore(5'000).value(), 0u) << "done once";
}

TEST_F(InventoryStoreTest, ForgettingHistoryGoesOnPastOneTransactionsWorth) {
  ASSERT_TRUE(harvest({device("Ann", "D1", "Allowed")}, 500).ok());
  ASSERT_TRUE(recordChanges(*inventory_, 1'000, 12'345).ok());
  ASSERT_TRUE(recordChanges(*inventory_, 9'000, 1).ok());
  EXPECT_EQ(inventory_->forgetChangesBefore(9'000).value(), 12'345u);
  auto left = inventory_->history(keyOf(device("Ann", "D1", "Allowed"))).value();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].at_ms, 9'000);
}

TEST_F(InventoryStoreTest, ChangesRecordedAfterTheClockWasSetBackWaitForTheOnesBefore) {
  ASSERT_TRUE(harvest({device("Ann", "D1", "Allowed")}, 500).ok());
  ASSERT_TRUE(recordChanges(*inventory_, 5'000, 1).ok());
  ASSERT_TRUE(recordChanges(*inventory_, 2'000, 1).ok());  // the clock was set back
  EXPECT_EQ(inventory_->forgetChangesBefore(3'000).value(), 0u)
      << "the change of 5,000 is younger: nothing after it is deleted before it";
  EXPECT_EQ(inventory_->forgetChangesBefore(6'000).value(), 2u);
}

// A harvest begun at `at_ms` that writes `count` events.
StoreResult recordEvents(InventoryStore& inventory, std::int64_t at_ms, int count) {
  return inventory.applyHarvest({"delta", at_ms, at_ms, 0, 1, 0}, [&](HarvestWrite& w) {
    for (int i = 0; i < count; ++i) {
      if (auto x = w.event("device-changed", "Ann", "key " + std::to_string(i), "{}"); !x) {
        return x;
      }
    }
    return StoreResult{};
  });
}

std::vector<std::int64_t> sequences(const std::vector<InventoryEvent>& events) {
  std::vector<std::int64_t> out;
  for (const auto& e : events) out.push_back(e.sequence);
  return out;
}

TEST_F(InventoryStoreTest, ForgettingEventsKeepsTheNewestSoTheFeedGoesOn) {
  ASSERT_TRUE(recordEvents(*inventory_, 1'000, 3).ok());  // 1, 2, 3
  ASSERT_TRUE(recordEvents(*inventory_, 2'000, 2).ok());  // 4, 5
  EXPECT_EQ(inventory_->forgetEventsBefore(1'500).value(), 3u);
  EXPECT_EQ(sequences(inventory_->eventsAfter(0, 10).value()), (std::vector<std::int64_t>{4, 5}));
  EXPECT_EQ(inventory_->forgetEventsBefore(10'000).value(), 1u) << "all are older: 5 is kept";
  EXPECT_EQ(sequences(inventory_->eventsAfter(0, 10).value()), std::vector<std::int64_t>{5});
  ASSERT_TRUE(recordEvents(*inventory_, 11'000, 1).ok());
  EXPECT_EQ(sequences(inventory_->eventsAfter(5, 10).value()), std::vector<std::int64_t>{6})
      << "the next event follows the newest, not 1 again (behind every reader's cursor)";
}

TEST_F(InventoryStoreTest, AReaderBehindForgottenEventsIsToldWhereToReadOn) {
  ASSERT_TRUE(recordEvents(*inventory_, 1'000, 3).ok());  // 1, 2, 3
  ASSERT_TRUE(recordEvents(*inventory_, 2'000, 2).ok());  // 4, 5
  EXPECT_EQ(inventory_->eventsForgottenAfter(1).value(), std::nullopt) << "nothing forgotten yet";
  ASSERT_EQ(inventory_->forgetEventsBefore(1'500).value(), 3u);
  EXPECT_EQ(inventory_->eventsForgottenAfter(1).value(), 3) << "2 and 3 are missed";
  EXPECT_EQ(inventory_->eventsForgottenAfter(2).value(), 3);
  EXPECT_EQ(inventory_->eventsForgottenAfter(3).value(), std::nullopt) << "its next is 4, kept";
  EXPECT_EQ(inventory_->eventsForgottenAfter(5).value(), std::nullopt);
  EXPECT_EQ(inventory_->eventsForgottenAfter(0).value(), std::nullopt)
      << "a reader starting out has missed nothing";

  // What the feed answers, read at one moment.
  const EventsRead behind = inventory_->readEvents(1, 10).value();
  EXPECT_EQ(behind.forgotten_cursor, 3);
  EXPECT_TRUE(behind.events.empty()) << "no events past a gap";
  const EventsRead on = inventory_->readEvents(3, 10).value();
  EXPECT_EQ(on.forgotten_cursor, std::nullopt);
  EXPECT_EQ(sequences(on.events), (std::vector<std::int64_t>{4, 5}));
}

TEST_F(InventoryStoreTest, AFailedHarvestChangesNothing) {
  ASSERT_TRUE(harvest({device("Ann", "D1", "Allowed")}, 1'000).ok());
  auto failed = inventory_->applyHarvest({"full", 1'900, 2'000, 0, 1, 0}, [&](HarvestWrite& w) {
    auto r = device("Bo", "D2", "Allowed");
    EXPECT_TRUE(saveAsRead(w, r).ok());
    return StoreResult(StoreError{store::StoreErrc::kSql, "the harvest failed midway"});
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(inventory_->current()->size(), 1u);
  EXPECT_EQ(inventory_->summary()->full_count, 1) << "not even the harvest is recorded";
  EXPECT_EQ(inventory_->lastHarvestStart().value(), 1'000);
}

TEST_F(InventoryStoreTest, AFullHarvestRemovesWhatItDidNotReadAndKeepsItKnown) {
  const auto ann = device("Ann", "D1", "Allowed"), bo = device("Bo", "D2", "Allowed");
  ASSERT_TRUE(harvest({ann, bo}, 1'000).ok());
  // The same clock reading twice (a manual clock): removal goes by harvest, not by time.
  ASSERT_TRUE(harvest({ann}, 1'000).ok());
  auto current = inventory_->current().value();
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].device_id, "D1");
  EXPECT_TRUE(inventory_->known(keyOf(bo)).value()) << "a cursor on it stays valid";
  EXPECT_FALSE(inventory_->device(keyOf(bo)).value().has_value());
  auto events = inventory_->eventsAfter(0, 10).value();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].device_key, keyOf(bo));
  // Found again: current again, its first sighting kept.
  ASSERT_TRUE(harvest({ann, bo}, 3'000).ok());
  auto back = inventory_->device(keyOf(bo)).value();
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->first_seen_ms, 1'000);
  EXPECT_EQ(back->last_seen_ms, 3'010) << "a current partnership was seen by the last full harvest";
}

TEST_F(InventoryStoreTest, PagesFilterByMailboxStateTypeAndSyncTimeInKeyOrder) {
  std::vector<DeviceRecord> records;
  for (int i = 0; i < 5; ++i) {
    records.push_back(device("Ann", numbered("A", i), i % 2 ? "Blocked" : "Allowed"));
    records.push_back(device("Bo", numbered("B", i), "Quarantined"));
  }
  records[0].device_type = "Android";
  records[0].last_success_sync = timestampFromDotNetTicks(639'000'000'000'000'000);
  ASSERT_TRUE(harvest(records, 1'000).ok());

  DeviceFilter all;
  all.limit = 4;
  auto first = devices(all);
  ASSERT_EQ(first.size(), 4u);
  all.after_key = first.back().key;
  auto second = devices(all);
  ASSERT_EQ(second.size(), 4u);
  EXPECT_LT(first.back().key, second.front().key);

  DeviceFilter f;
  f.mailbox = "ANN@contoso.com";
  EXPECT_EQ(devices(f).size(), 5u) << "by address, in any case";
  f.mailbox = "contoso.com/users/bo";
  EXPECT_EQ(devices(f).size(), 5u) << "by Identity, in any case";
  f = {};
  f.access_state = "Blocked";
  EXPECT_EQ(devices(f).size(), 2u);
  f = {};
  f.device_type = "android";
  EXPECT_EQ(devices(f).size(), 1u);
  f = {};
  f.synced_since = "2025-01-01T00:00:00";
  ASSERT_EQ(devices(f).size(), 1u);
  f.synced_since = "2027-01-01T00:00:00";
  EXPECT_EQ(devices(f).size(), 0u);
}

// A partnership that changed is found by what it has now, by every filter, search and count,
// and no longer by what it had; one found as it was keeps what it had. (The indexed fields are
// columns of their own beside the record, which a save sets only when they change.)
TEST_F(InventoryStoreTest, AChangedPartnershipIsFoundByWhatItHasNowNotByWhatItHad) {
  DeviceRecord ann = device("Ann Berg", "A1", "Quarantined");
  ann.first_sync_time = timestampFromDotNetTicks(638'000'000'000'000'000);
  ann.last_success_sync = timestampFromDotNetTicks(638'500'000'000'000'000);
  const DeviceRecord bo = device("Bo Lund", "B1", "Allowed");
  ASSERT_TRUE(harvest({ann, bo}, 1'000).ok());

  DeviceRecord changed = ann;  // the same partnership (Identity), everything indexed changed
  changed.mailbox_identity = "contoso.com/Users/Ann Lind";
  changed.mailbox_address = "ann.lind@fabrikam.com";
  changed.device_id = "ZED1";
  changed.device_type = "Android";
  changed.access_state = "Blocked";
  changed.first_sync_time = timestampFromDotNetTicks(638'100'000'000'000'000);
  changed.last_success_sync = timestampFromDotNetTicks(639'000'000'000'000'000);
  ASSERT_TRUE(harvest({changed, bo}, 2'000).ok());

  auto keys = [&](DeviceFilter f) {
    std::vector<std::string> out;
    for (const auto& d : devices(f)) out.push_back(d.key);
    return out;
  };
  const std::vector<std::string> just_ann = {keyOf(ann)}, nobody;
  DeviceFilter f;
  f.search = "ann.lind@";
  EXPECT_EQ(keys(f), just_ann) << "by its address now";
  f.search = "zed";
  EXPECT_EQ(keys(f), just_ann) << "by its device ID now";
  f.search = "ann lind";
  EXPECT_EQ(keys(f), just_ann) << "by its mailbox's name now";
  for (const char* old : {"ann berg", "a1"}) {
    f.search = old;
    EXPECT_EQ(keys(f), nobody) << old;
  }
  f = {};
  f.mailbox = "ANN.LIND@fabrikam.com";
  EXPECT_EQ(keys(f), just_ann);
  f.mailbox = "ann berg@contoso.com";
  EXPECT_EQ(keys(f), nobody);
  f = {};
  f.access_state = "Blocked";
  EXPECT_EQ(keys(f), just_ann);
  f.access_state = "Quarantined";
  EXPECT_EQ(keys(f), nobody);
  f = {};
  f.device_type = "android";
  EXPECT_EQ(keys(f), just_ann);
  f = {};
  f.synced_since = "2025-01-01T00:00:00";
  EXPECT_EQ(keys(f), just_ann) << "its last sync now";

  using Counts = std::vector<std::pair<std::string, std::int64_t>>;
  auto overview = inventory_->overview("2025-01-01T00:00:00", 10).value();
  EXPECT_EQ(overview.by_access_state, (Counts{{"Allowed", 1}, {"Blocked", 1}}));
  EXPECT_EQ(overview.by_device_type, (Counts{{"Android", 1}, {"iPhone", 1}}));
  EXPECT_TRUE(overview.quarantined.empty());
  ASSERT_EQ(overview.stalest.size(), 1u) << "Bo, who never synced";
  EXPECT_EQ(overview.stalest[0].device_id, "B1");

  // Found as it was, then gone and found again: current again, every filter as before.
  ASSERT_TRUE(harvest({changed, bo}, 3'000).ok());
  ASSERT_TRUE(harvest({bo}, 4'000).ok());
  f = {};
  f.access_state = "Blocked";
  EXPECT_EQ(keys(f), nobody) << "removed";
  ASSERT_TRUE(harvest({changed, bo}, 5'000).ok());
  EXPECT_EQ(keys(f), just_ann) << "found again";
  f = {};
  f.search = "zed";
  EXPECT_EQ(keys(f), just_ann);
}

TEST_F(InventoryStoreTest, SearchFindsTheStartOfANameAnAddressOrADeviceIdThroughItsIndexes) {
  std::vector<DeviceRecord> records;
  for (int i = 0; i < 3; ++i) records.push_back(device("Ann Berg", numbered("A", i), "Allowed"));
  records.push_back(device("Annika Lund", "X1", "Allowed"));
  records.push_back(device("Bo Ann", "B1", "Allowed"));  // "ann" only inside the name
  records.push_back(device("Carl", "ANNDROID1", "Quarantined"));
  records.back().mailbox_address = "carl.svensson@contoso.com";
  ASSERT_TRUE(harvest(records, 1'000).ok());

  auto found = [&](const std::string& text) {
    DeviceFilter f;
    f.search = text;
    std::set<std::string> ids;
    for (const auto& d : devices(f)) {
      ids.insert(recordFromFieldTexts(fieldTextsFromRecord(d.record).value()).device_id);
    }
    return ids;
  };
  EXPECT_EQ(found("ann"), (std::set<std::string>{"A0", "A1", "A2", "X1", "ANNDROID1"}));
  EXPECT_EQ(found("annika"), (std::set<std::string>{"X1"}));
  EXPECT_EQ(found("carl.s"), (std::set<std::string>{"ANNDROID1"})) << "by address";
  EXPECT_EQ(found("bo ann@"), (std::set<std::string>{"B1"}));
  EXPECT_TRUE(found("berg").empty()) << "the start of a name, not a word inside it";

  // Pages of a search follow on in key order.
  DeviceFilter f;
  f.search = "ann";
  f.limit = 2;
  std::vector<std::string> keys;
  for (int page = 0; page < 4; ++page) {
    const auto page_devices = devices(f);
    for (const auto& d : page_devices) keys.push_back(d.key);
    if (page_devices.empty()) break;
    f.after_key = page_devices.back().key;
  }
  EXPECT_EQ(keys.size(), 5u);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));

  // SQLite reads the indexes of the searched expressions, not every device.
  f = {};
  f.search = "ann";
  const std::string plan = inventory_->devicesPlan(f).value();
  EXPECT_NE(plan.find("devices_by_mailbox_name"), std::string::npos) << plan;
  EXPECT_NE(plan.find("devices_by_address"), std::string::npos) << plan;
  EXPECT_NE(plan.find("devices_by_device_id"), std::string::npos) << plan;

  // A partnership a later harvest did not find is not found either.
  records.erase(records.begin() + 3);  // Annika's
  ASSERT_TRUE(harvest(records, 2'000).ok());
  EXPECT_TRUE(found("annika").empty());
}

// The first harvest builds the search and status-page indexes once, at its end: afterwards
// they are the ones the migrations wrote, and a first harvest that fails leaves them so.
TEST_F(InventoryStoreTest, AFirstHarvestLeavesTheIndexesAsTheMigrationsWroteThemEvenWhenItFails) {
  auto other = store::Database::open(inventoryFile(store::storeFile(dir_))).value();
  auto indexes = [&] {
    std::vector<std::string> out;
    auto q = other->prepare(
        "SELECT name || ': ' || sql FROM sqlite_master WHERE type = 'index' "
        "AND tbl_name = 'devices' AND sql IS NOT NULL ORDER BY name");
    EXPECT_TRUE(q.ok());
    while (q->step().value()) out.push_back(q->text(0));
    return out;
  };
  const auto before = indexes();
  ASSERT_EQ(before.size(), 7u) << "devices_current and the six of search and the status page";

  auto failed = inventory_->applyHarvest({"full", 1'000, 1'010, 1, 1, 0}, [&](HarvestWrite& w) {
    auto r = device("Ann", "D1", "Allowed");
    EXPECT_TRUE(saveAsRead(w, r).ok());
    EXPECT_EQ(indexes(), before) << "a reader sees the indexes it had while the harvest runs";
    return StoreResult(StoreError{store::StoreErrc::kSql, "the first harvest failed midway"});
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(indexes(), before);

  ASSERT_TRUE(harvest({device("Ann", "D1", "Allowed"), device("Bo", "D2", "Blocked")}, 2'000).ok());
  EXPECT_EQ(indexes(), before);
  DeviceFilter blocked;
  blocked.access_state = "Blocked";
  const auto found = devices(blocked);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].key, keyOf(device("Bo", "D2", "Blocked")));
  const auto overview = inventory_->overview("2000-01-01T00:00:00", 10).value();
  EXPECT_EQ(overview.by_access_state,
            (std::vector<std::pair<std::string, std::int64_t>>{{"Allowed", 1}, {"Blocked", 1}}));
}

TEST_F(InventoryStoreTest, StagedPartnershipsComeBackWholeOncePerKeyAsLastListed) {
  // A listing is staged as it arrives and read back mailbox by mailbox: every field as it was
  // (bytes of any kind, a time to its last tick, an empty time), and a partnership listed twice
  // (a page of Get-MobileDevice repeated, or listed again while reading) as it was listed last.
  DeviceRecord ann = device("ann", "A1", "Allowed");
  ann.friendly_name = std::string("Ann's \"phone\"\t\x01\x1f\0 ", 18) + "\xe5\xb0\x8f\xe7\xb1\xb3";
  ann.last_success_sync = timestampFromDotNetTicks(638553491981234567);
  ann.wipe_ack_time = timestampFromDotNetTicks(1);
  ann.device_user_agent = std::string(300, 'u');  // a length of two bytes
  DeviceRecord ann_again = ann;
  ann_again.access_state = "Blocked";
  ann_again.last_success_sync = std::nullopt;
  DeviceRecord bob = device("bob", "B1", "Quarantined");
  DeviceRecord orphan = device("", "O1", "Allowed");
  auto staged = inventory_->applyHarvest(
      {"full", 1'000, 1'010, 3, 1, 0}, [&](HarvestWrite& w) -> StoreResult {
        for (const auto* r : {&ann, &bob, &ann_again, &orphan}) {
          const std::string mailbox = r == &orphan ? "" : r->mailbox_identity;
          if (auto x = w.stage(keyOf(*r), mailbox, "cn=" + mailbox, *r); !x) return x;
        }
        auto count = w.stagedMailboxCount();
        EXPECT_TRUE(count.ok());
        EXPECT_EQ(count.value(), 3u) << "ann, bob and none";
        auto mailboxes = w.stagedMailboxes("", 10);
        EXPECT_TRUE(mailboxes.ok());
        EXPECT_EQ(mailboxes.value(),
                  (std::vector<std::string>{ann.mailbox_identity, bob.mailbox_identity}))
            << "after none";
        auto read = w.staged(ann.mailbox_identity, bob.mailbox_identity);
        EXPECT_TRUE(read.ok());
        if (!read.ok() || read.value().size() != 2) {
          ADD_FAILURE() << "one partnership each for ann and bob";
          return {};
        }
        EXPECT_EQ(read.value()[0].key, keyOf(ann));
        EXPECT_EQ(read.value()[0].mailbox, ann.mailbox_identity);
        EXPECT_EQ(read.value()[0].mailbox_dn, "cn=" + ann.mailbox_identity);
        EXPECT_EQ(recordText(read.value()[0].record), recordText(ann_again)) << "listed last";
        EXPECT_EQ(read.value()[0].record.friendly_name, ann.friendly_name);
        EXPECT_EQ(read.value()[0].record.wipe_ack_time, ann.wipe_ack_time);
        EXPECT_FALSE(read.value()[0].record.last_success_sync.has_value());
        EXPECT_EQ(recordText(read.value()[1].record), recordText(bob));
        // Listed again once reading has begun: still one, the last.
        DeviceRecord ann_third = ann;
        ann_third.device_os = "iOS 18";
        if (auto x = w.stage(keyOf(ann), ann.mailbox_identity, "", ann_third); !x) return x;
        auto again = w.staged(ann.mailbox_identity, ann.mailbox_identity);
        EXPECT_TRUE(again.ok());
        EXPECT_EQ(again.value().size(), 1u);
        if (!again.value().empty()) {
          EXPECT_EQ(recordText(again.value()[0].record), recordText(ann_third));
          EXPECT_EQ(again.value()[0].record.last_success_sync, ann.last_success_sync);
        }
        auto none = w.staged("", "");
        EXPECT_TRUE(none.ok());
        EXPECT_EQ(none.value().size(), 1u) << "the partnership without a mailbox";
        return {};
      });
  ASSERT_TRUE(staged.ok()) << staged.error().message;
  // The next harvest stages from nothing.
  ASSERT_TRUE(inventory_
                  ->applyHarvest({"full", 2'000, 2'010, 0, 1, 0},
                                 [&](HarvestWrite& w) -> StoreResult {
                                   auto count = w.stagedMailboxCount();
                                   EXPECT_TRUE(count.ok());
                                   EXPECT_EQ(count.value(), 0u);
                                   if (auto x = w.stage(keyOf(bob), bob.mailbox_identity, "", bob);
                                       !x) {
                                     return x;
                                   }
                                   auto read = w.staged(bob.mailbox_identity, bob.mailbox_identity);
                                   EXPECT_TRUE(read.ok());
                                   EXPECT_EQ(read.value().size(), 1u);
                                   return {};
                                 })
                  .ok());
}

// What a harvest stages lives in a file of its own, opened when the harvest begins and gone
// when it ends, whether it committed or failed. Kept in the connection's temporary file (which
// lives as long as the connection), the pages of 200,000 staged partnerships went to the disk
// half a minute after the file was first written, for nothing: emptying the file did not make it
// young again for Linux's write-back, so the next harvest's staging was written while it ran, and
// the journal's fsyncs (an MDM's 202 waits for them) waited behind it (tests/bench/README.md).
TEST_F(InventoryStoreTest, AHarvestStagesInAFileOfItsOwnThatIsGoneWhenItEnds) {
  // More than SQLite keeps in memory for a database (2 MB): pages in the file.
  std::vector<DeviceRecord> listed;
  for (int i = 0; i < 3'000; ++i) {
    const std::string mailbox = std::string("mailbox") + std::to_string(i % 300);
    DeviceRecord r = device(mailbox, std::string("D") + std::to_string(i), "Allowed");
    r.device_user_agent = std::string(1'500, 'u');
    listed.push_back(std::move(r));
  }
  std::int64_t staging_pages = 0;
  std::int64_t temporary_pages = 0;
  auto stage = [&](HarvestWrite& w) -> StoreResult {
    for (const auto& r : listed) {
      if (auto x = w.stage(keyOf(r), r.mailbox_identity, "", r); !x) return x;
    }
    auto read = w.staged("", "~");  // read back once, as a harvest does: indexed
    if (!read) return read.error();
    EXPECT_EQ(read.value().size(), listed.size());
    auto pages = inventory_->stagingPages();
    if (!pages) return pages.error();
    staging_pages = pages.value();
    auto temporary = inventory_->temporaryPages();
    if (!temporary) return temporary.error();
    temporary_pages = temporary.value();
    return {};
  };
  auto stagingPagesNow = [&] {
    auto pages = inventory_->stagingPages();
    EXPECT_TRUE(pages.ok()) << pages.error().message;
    return pages.ok() ? pages.value() : -1;
  };
  EXPECT_EQ(stagingPagesNow(), 0) << "no staging file before a harvest";
  ASSERT_TRUE(inventory_->applyHarvest({"full", 1'000, 1'010, 0, 1, 0}, stage).ok());
  EXPECT_GT(staging_pages, 200) << "the staged partnerships were in the harvest's file";
  EXPECT_LT(temporary_pages, 10) << "and not in the connection's temporary file";
  EXPECT_EQ(stagingPagesNow(), 0) << "after a harvest that committed";

  staging_pages = 0;
  auto failed = inventory_->applyHarvest(
      {"full", 2'000, 2'010, 0, 1, 0}, [&](HarvestWrite& w) -> StoreResult {
        if (auto x = stage(w); !x) return x;
        return store::StoreError{store::StoreErrc::kSql, "Exchange went away"};
      });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "Exchange went away");
  EXPECT_GT(staging_pages, 200);
  EXPECT_EQ(stagingPagesNow(), 0) << "after a harvest that failed";

  // The next harvest opens a file of its own again, and finds nothing of the failed one's.
  staging_pages = 0;
  std::int64_t pages_at_start = -1;
  ASSERT_TRUE(inventory_
                  ->applyHarvest({"full", 3'000, 3'010, 0, 1, 0},
                                 [&](HarvestWrite& w) -> StoreResult {
                                   pages_at_start = stagingPagesNow();
                                   return stage(w);
                                 })
                  .ok());
  EXPECT_GE(pages_at_start, 0);
  EXPECT_LT(pages_at_start, 10) << "a new file: nothing of the failed harvest's staging";
  EXPECT_GT(staging_pages, 200);
  EXPECT_EQ(stagingPagesNow(), 0);
}

TEST(StoredRecords, ReadBackEveryTextAsWritten) {
  // Whatever a device calls itself comes back as it was: quotes, backslashes (Exchange Online's
  // Identities), control characters (written as \u escapes), other scripts, nothing at all. The
  // second record has no \u escape, so it is read by the quick reader alone, backslashes before
  // a closing quote and all.
  const DeviceFieldTexts records[] = {
      {{"friendlyName", "Ann's \"work\" phone\t\x01\x1f"},
       {"identity", "Ann\\ExchangeActiveSyncDevices\\REST\xc2\xa7Outlook"},
       {"deviceModel", "\xe5\xb0\x8f\xe7\xb1\xb3 14 / Pro\r\n"},
       {"deviceOs", ""}},
      {{"deviceType", "ends in a backslash\\"},
       {"deviceUserAgent", "a backslash, then a quote: \\\"x\\\\\""},
       {"identity", "Ann\\ExchangeActiveSyncDevices\\REST\xc2\xa7Outlook"}}};
  for (const DeviceFieldTexts& fields : records) {
    const std::string text = recordText(fields);
    auto back = fieldTextsFromRecord(text);
    ASSERT_TRUE(back.ok()) << text;
    EXPECT_EQ(back.value(), fields) << text;
    EXPECT_EQ(fieldTextsOf(recordFromText(text).value()),
              fieldTextsOf(recordFromFieldTexts(fields)))
        << "straight into a record, the same";
  }
  EXPECT_FALSE(fieldTextsFromRecord("{\"deviceId\":\"A1\"").ok()) << "truncated";
  EXPECT_FALSE(recordFromText("{\"deviceId\":\"A1\"").ok()) << "truncated";
  EXPECT_FALSE(fieldTextsFromRecord("[\"A1\"]").ok()) << "not an object";
}

TEST(StoredRecords, ARecordWritesTheTextItsFieldsWrite) {
  // A harvest compares what it read with what is stored by this text alone: the two ways of
  // writing it must agree to the byte, or every partnership would look changed.
  DeviceRecord r;
  r.identity = "Ann\\ExchangeActiveSyncDevices\\REST\xc2\xa7Outlook";
  r.device_id = "D1";
  r.friendly_name = "Ann's \"work\" phone\t\x01";
  r.device_model = "ends in a backslash \\";  // its stored content ends \\ before the quote
  r.is_managed = "True";
  r.last_success_sync = timestampFromDotNetTicks(638553491981234567);
  EXPECT_EQ(recordText(r), recordText(fieldTextsOf(r)));
  EXPECT_EQ(recordText(DeviceRecord{}), recordText(fieldTextsOf(DeviceRecord{})));
  DeviceRecord other = r;
  other.device_os_language = "de-DE";
  EXPECT_NE(recordText(other), recordText(r));
}

TEST(StoredRecords, ARecordIsFoundAsStoredExactlyWhenItWritesTheStoredText) {
  // A harvest writes nothing for a partnership whose record is the stored text: recordTextIs
  // must say so exactly when recordText would write that text, or a change would go unrecorded
  // (or every partnership be written again).
  DeviceRecord plain;
  plain.identity =
      "Ann\\ExchangeActiveSyncDevices\\iPhone\xc2\xa7"
      "A1";
  plain.device_id = "A1";
  plain.device_type = "iPhone";
  plain.last_success_sync = timestampFromDotNetTicks(638553491981234567);
  plain.first_sync_time = timestampFromDotNetTicks(638553491980000000);  // a whole second
  DeviceRecord escaped = plain;
  escaped.friendly_name = "Ann's \"work\" phone\t\x01 \\ end\\";
  escaped.device_model = "\xe5\xb0\x8f\xe7\xb1\xb3 14\xe2\x80\xa8";  // U+2028: escaped
  DeviceRecord broken = plain;
  broken.device_os = "iOS \xff 17";  // not UTF-8: written as U+FFFD
  std::vector<DeviceRecord> records = {DeviceRecord{}, plain, escaped, broken};
  // Each field changed alone (a time set, or moved by one tick), and a time gone.
  for (const DeviceField& field : deviceFields()) {
    DeviceRecord changed = escaped;
    if (field.text) {
      (changed.*field.text) += "x";
    } else {
      changed.*field.time = timestampFromDotNetTicks(638553491981234568);
    }
    records.push_back(changed);
  }
  DeviceRecord no_time = plain;
  no_time.last_success_sync.reset();
  records.push_back(no_time);
  for (const DeviceRecord& a : records) {
    for (const DeviceRecord& b : records) {
      const std::string text = recordText(b);
      EXPECT_EQ(recordTextIs(a, text), recordText(a) == text) << recordText(a) << "\n" << text;
    }
  }
  // Texts recordText never writes, though they hold the same fields: not found as stored.
  const std::string text = recordText(plain);
  ASSERT_TRUE(recordTextIs(plain, text));
  const std::string not_written[] = {
      text.substr(0, text.size() - 1),                    // truncated
      text.substr(0, text.size() - 1) + ",\"zz\":\"\"}",  // a member more
      "{" + text.substr(text.find(',') + 1),              // the first member missing
      " " + text,                                         // space before
      R"({"deviceId":"A1"})",                             // fewer members
      "{}"};
  for (const std::string& t : not_written) EXPECT_FALSE(recordTextIs(plain, t)) << t;
}

TEST(StoredRecords, AStoredDeviceIsServedAsItsRecordIsWritten) {
  // A page copies each stored field without parsing it into a record: whatever order the members
  // come in (this release's, an earlier one's with fewer fields, a name no field has), the JSON
  // must be the record's own.
  DeviceRecord r;
  r.identity = "Ann\\ExchangeActiveSyncDevices\\REST\xc2\xa7Outlook";
  r.device_id = "D1";
  r.friendly_name = "Ann's \"work\" phone\t\x01";
  r.device_model = "ends in a backslash \\";
  r.last_success_sync = timestampFromDotNetTicks(638553491981234567);
  DeviceRecord earlier;
  earlier.device_os = "iOS 17";
  earlier.device_id = "D2";
  earlier.friendly_name = "B\"s";
  const std::pair<std::string, DeviceRecord> cases[] = {
      {recordText(r), r},
      {R"({"deviceOs":"iOS 17","zzRetired":"x","deviceId":"D2","friendlyName":"B\"s"})", earlier},
      {"{}", DeviceRecord{}}};
  for (const auto& [text, record] : cases) {
    const StoredDevice stored{"k1", text, 1'700'000'000'000, 1'700'000'100'000};
    std::string served;
    appendStoredDeviceJson(served, stored.view());
    std::string expected;
    appendDeviceJson(expected, record,
                     {{"firstSeen", stored.first_seen_ms}, {"lastSeen", stored.last_seen_ms}});
    EXPECT_EQ(served, expected) << text;
    EXPECT_EQ(recordText(recordFromText(text).value()), recordText(record)) << text;
  }
}

TEST(StoredRecords, FieldsWithNoContentAreNull) {
  std::string empty_record;
  appendDeviceJson(empty_record, DeviceRecord{});
  std::string no_contents;
  appendDeviceJson(no_contents, std::span<const std::string_view>(), {});
  EXPECT_EQ(no_contents, empty_record);
  EXPECT_NE(no_contents.find("\"deviceId\":null"), std::string::npos) << no_contents;
}

// A new inventory is written in pages of 16 KiB (rows of 1.3-1.9 KB left a third of each 4 KiB
// page empty); one an earlier release wrote keeps its own (StoreMigration's tests).
TEST_F(InventoryStoreTest, ANewInventoryIsWrittenInPagesOf16KiB) {
  inventory_.reset();
  auto raw = store::Database::openToRead(inventoryFile(store::storeFile(dir_))).value();
  EXPECT_EQ(easgate::testing::sqlValue(*raw, "PRAGMA page_size"), "16384");
}

TEST_F(InventoryStoreTest, AFileWrittenByANewerReleaseIsRefused) {
  inventory_.reset();
  {
    auto raw = store::Database::open(inventoryFile(store::storeFile(dir_))).value();
    ASSERT_TRUE(raw->execute("PRAGMA user_version = 999").ok());
  }
  auto newer = InventoryStore::open(inventoryFile(store::storeFile(dir_)));
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.error().code, store::StoreErrc::kVersion);
  EXPECT_NE(newer.error().message.find("newer release"), std::string::npos);
}

}  // namespace
}  // namespace easgate::agent
