// A store an earlier release wrote, opened by this one: the schema migrates, nothing the
// journal or the audit trail held is lost, and the lists that release kept under whatever name
// the MDM used end up under the mailbox's key, with the newest decision.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "agent/audit/audit_log.h"
#include "agent/commands/command_executor.h"
#include "agent/commands/command_journal.h"
#include "agent/harvest/harvester.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/policy/policy_plan.h"
#include "agent/store/schema.h"
#include "common/text/ascii.h"
#include "tests/support/command_printers.h"
#include "tests/support/fake_exchange_gateway.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;
namespace sim = powershell::sim;

const fs::path kRelease010 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "release-0.1.0";

// How many entries the audit trail holds, its hash chain checked whole: -1, and a failure, when
// it cannot be read or is broken. Every release's trail must survive its migrations.
std::int64_t entriesOfWholeChain(AuditLog& audit) {
  auto verified = audit.verify();
  if (!verified) {
    ADD_FAILURE() << "the audit trail cannot be read: " << verified.error().message;
    return -1;
  }
  if (!verified->intact) {
    ADD_FAILURE() << "the audit chain is broken at " << verified->first_bad_sequence << ": "
                  << verified->problem;
    return -1;
  }
  return verified->entries;
}

sim::Organisation organisationOf(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return sim::Organisation::fromJson(text.str()).value();
}

std::int64_t count(store::Database& db, const char* sql) {
  auto q = db.prepare(sql);
  EXPECT_TRUE(q.ok());
  EXPECT_TRUE(q->step().value());
  return q->integer(0);
}

// The mailbox directory's file beside `store_file`, opened (and migrated) as the agent does.
std::unique_ptr<store::Database> directoryOf(const fs::path& store_file) {
  auto opened = openDirectory(directoryFile(store_file));
  EXPECT_TRUE(opened.ok()) << opened.error().message;
  return opened.ok() ? std::move(opened).value() : nullptr;
}

// The mailbox directory an executor reads beside the store `file`, as the agent opens it: the
// directory's own file, and a connection of its own to the store (the MDM's lists).
struct ExecutorDirectory {
  std::unique_ptr<store::Database> store;
  std::unique_ptr<store::Database> file;
  std::unique_ptr<MailboxDirectory> directory;  // null when either could not be opened
};
ExecutorDirectory executorDirectoryOf(const fs::path& store_file) {
  ExecutorDirectory out;
  auto opened = store::openStore(store_file);
  EXPECT_TRUE(opened.ok()) << opened.error().message;
  if (!opened) return out;
  out.store = std::move(opened).value();
  out.file = directoryOf(store_file);
  if (out.file) out.directory = std::make_unique<MailboxDirectory>(*out.file, *out.store);
  return out;
}

// How many rows of `devices` hold an indexed column that is not what their record says.
std::int64_t columnsApartFromRecords(store::Database& db) {
  return count(db,
               "SELECT count(*) FROM devices WHERE "
               "mailbox_address <> coalesce(json_extract(record, '$.mailboxAddress'), '') "
               "OR device_id <> coalesce(json_extract(record, '$.deviceId'), '') "
               "OR access_state <> coalesce(json_extract(record, '$.accessState'), '') "
               "OR device_type <> coalesce(json_extract(record, '$.deviceType'), '') "
               "OR first_sync_time <> coalesce(json_extract(record, '$.firstSyncTime'), '') "
               "OR last_success_sync <> coalesce(json_extract(record, '$.lastSuccessSync'), '')");
}

// A fresh copy of a fixture's `file` in a scratch folder `scratch` of its own; returns its path.
fs::path copyOfFixtureFile(const fs::path& fixture, const char* file, const char* scratch) {
  const fs::path dir = testing::scratchPath(scratch);
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(fixture / file, dir / file);
  return dir / file;
}

// A fresh copy of a fixture's store; returns the store's path.
fs::path copyOfStore(const fs::path& fixture) {
  return copyOfFixtureFile(fixture, "easgate.db", "migration");
}

// A fresh copy of a fixture's store, inventory and mailbox directory (store schema 13 on);
// returns the store's path.
fs::path copyOfStoreAndItsFiles(const fs::path& fixture) {
  const fs::path file = copyOfStore(fixture);
  fs::copy_file(fixture / "easgate-inventory.db", inventoryFile(file));
  fs::copy_file(fixture / "easgate-mailboxes.db", directoryFile(file));
  return file;
}

// A fresh copy of a fixture's inventory in a scratch folder `name` of its own; returns its path.
fs::path copyOfInventory(const fs::path& fixture, const char* name) {
  return copyOfFixtureFile(fixture, "easgate-inventory.db", name);
}

TEST(StoreMigration, AStoreOfRelease010KeepsItsJournalAndAuditAndItsListsFindTheirMailbox) {
  const fs::path file = copyOfStore(kRelease010);
  const fs::path dir = file.parent_path();
  {
    // A command that release took with an idempotency key, as its MDM client sent it.
    auto raw = store::Database::open(file);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.value()
                    ->execute("UPDATE commands SET idempotency_key = 'mdm-key-1' WHERE id = 1")
                    .ok());
  }

  {
    // Everything that holds the files open ends here: Windows removes no file that is open.
    auto db = store::openStore(file);
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(store::schemaVersion(*db.value()).value(), store::currentSchemaVersion());

    testing::ManualClock clock(SystemClock().nowMs());
    AuditLog audit(*db.value());
    EXPECT_EQ(entriesOfWholeChain(audit), 8)
        << "four commands accepted and succeeded, the chain intact";
    CommandJournal journal(*db.value(), audit, clock);
    auto set = journal.get(3);
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(set->request.kind, CommandKind::kSetAllowed);
    EXPECT_EQ(set->request.mailbox, "contoso.com/Users/Anya Chen 19");
    EXPECT_EQ(set->state, CommandState::kSucceeded);
    EXPECT_TRUE(journal.unfinished().value().empty());
    // The client that sent the keyed command, retrying it, still gets it back.
    CommandRequest retry = journal.get(1)->request;
    ASSERT_EQ(retry.idempotency_key, "mdm-key-1");
    auto replayed = journal.submit(retry, clock.nowMs() + 3600'000);
    ASSERT_TRUE(replayed.ok()) << replayed.error().message;
    EXPECT_TRUE(replayed->repeated);
    EXPECT_EQ(replayed->command.id, 1);

    // Exchange as that release left it.
    // The inventory that release kept in the store is in a file of its own now, whole.
    auto inventory = InventoryStore::open(inventoryFile(file));
    ASSERT_TRUE(inventory.ok()) << inventory.error().message;
    EXPECT_EQ(inventory.value()->current()->size(), 40u);
    EXPECT_EQ(inventory.value()->eventsAfter(0, 1000)->size(), 40u);
    EXPECT_EQ(inventory.value()->summary()->full_count, 1);

    testing::FakeExchangeGateway gateway(organisationOf(kRelease010 / "organisation.json"));
    HarvestOptions options;
    options.correct_drift = true;
    auto directory_file = directoryOf(file);
    ASSERT_NE(directory_file, nullptr);
    Harvester harvester(*directory_file, *db.value(), *inventory.value(), gateway, &journal, clock,
                        options);
    auto harvest = harvester.run(HarvestKind::kFull);
    ASSERT_TRUE(harvest.ok()) << harvest.error().message;
    EXPECT_EQ(harvest->drifted, 0u) << "the newest decision is what Exchange holds";
    EXPECT_EQ(harvest->corrections, 0u) << "nothing is queued that would undo it";

    MailboxDirectory directory(*directory_file, *db.value());
    const auto by_address = directory.lookup("anya.chen.19@contoso.com");
    ASSERT_EQ(by_address.kind, NameLookup::Kind::kFound);
    EXPECT_EQ(directory.lookup("contoso.com/Users/Anya Chen 19").key, by_address.key);
    using Source = MailboxDirectory::Source;
    EXPECT_EQ(directory.list(by_address.key, "allowed", Source::kDesired).value(),
              (std::vector<std::string>{"D2", "D3"}));
    EXPECT_EQ(directory.list(by_address.key, "blocked", Source::kDesired).value(),
              std::vector<std::string>{"06C239F14F64E194"});
    EXPECT_EQ(count(*db.value(), "SELECT count(*) FROM managed_lists"), 2)
        << "one allowed and one blocked list, both under the key";
    for (const auto& [key, list] : directory.managedLists().value()) {
      EXPECT_TRUE(directory.entry(key).value().has_value()) << key << " is a mailbox's key";
    }
    EXPECT_EQ(entriesOfWholeChain(audit), 8) << "a harvest adds no audit entry";
    EXPECT_EQ(harvest->discovered, 0u) << "the partnerships that release found are known";
  }
  fs::remove_all(dir);
}

const fs::path kSchema6 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "schema-6";

// The store main wrote before the inventory had a file of its own: the inventory moves out
// whole (devices, their history, the event feed with its sequence numbers, the harvests), the
// store keeps the journal, the audit trail and the directory, and the next harvest carries on
// from what was there.
TEST(StoreMigration, TheInventoryAStoreOfSchema6HeldMovesIntoItsOwnFileWhole) {
  const fs::path file = copyOfStore(kSchema6);
  const fs::path dir = file.parent_path();

  {
    // Everything that holds the files open ends here: Windows removes no file that is open.
    auto db = store::openStore(file);
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(store::schemaVersion(*db.value()).value(), store::currentSchemaVersion());
    EXPECT_EQ(count(*db.value(),
                    "SELECT count(*) FROM sqlite_master WHERE name IN ('devices', "
                    "'device_changes', 'events', 'harvests')"),
              0)
        << "the store no longer holds the inventory";
    AuditLog audit(*db.value());
    EXPECT_EQ(entriesOfWholeChain(audit), 8);
    EXPECT_EQ(count(*db.value(), "SELECT count(*) FROM commands"), 4);
    auto directory_file = directoryOf(file);
    ASSERT_NE(directory_file, nullptr);
    EXPECT_EQ(count(*directory_file, "SELECT count(*) FROM mailbox_directory"), 20)
        << "the directory, in a file of its own";

    auto inventory = InventoryStore::open(inventoryFile(file));
    ASSERT_TRUE(inventory.ok()) << inventory.error().message;
    InventoryStore& inv = *inventory.value();
    EXPECT_EQ(inv.current()->size(), 40u);
    {
      auto raw = store::Database::open(inventoryFile(file));
      ASSERT_TRUE(raw.ok());
      EXPECT_EQ(columnsApartFromRecords(*raw.value()), 0) << "the indexed columns filled";
    }
    auto events = inv.eventsAfter(0, 1000).value();
    ASSERT_EQ(events.size(), 41u);
    EXPECT_EQ(events.back().sequence, 41) << "a consumer's place in the feed stays valid";
    EXPECT_EQ(events.back().kind, "access-state-changed");
    auto history = inv.history(events.back().device_key).value();
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].field, "accessState");
    EXPECT_EQ(history[0].new_value, "Blocked");
    EXPECT_EQ(inv.summary()->full_count, 2);
    auto last = inv.lastHarvestStart().value();
    ASSERT_TRUE(last.has_value());

    // Opening again imports nothing twice.
    ASSERT_TRUE(store::openStore(file).ok());
    ASSERT_TRUE(importInventoryFromStore(file).ok());
    EXPECT_EQ(inv.eventsAfter(0, 1000)->size(), 41u);

    // The next harvest, of the organisation as it was left, finds nothing new.
    testing::ManualClock clock(SystemClock().nowMs());
    CommandJournal journal(*db.value(), audit, clock);
    testing::FakeExchangeGateway gateway(organisationOf(kSchema6 / "organisation.json"));
    Harvester harvester(*directory_file, *db.value(), inv, gateway, &journal, clock);
    auto harvest = harvester.run(HarvestKind::kDelta);
    ASSERT_TRUE(harvest.ok()) << harvest.error().message;
    EXPECT_EQ(harvest->kind, HarvestKind::kDelta) << "there were harvests before";
    EXPECT_EQ(harvest->discovered, 0u);
  }
  fs::remove_all(dir);
}

const fs::path kSchema8 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "schema-8";

// The release before the organisation's policy: its journal, audit trail and inventory carry
// on; its commands read with no access level and nothing to wait for, and one it had not
// finished runs as before; the first harvest reads the policy, and a plan can be made.
TEST(StoreMigration, AStoreOfSchema8TakesThePolicyAndItsCommandsRunAsBefore) {
  const fs::path file = copyOfStore(kSchema8);
  const fs::path dir = file.parent_path();
  fs::copy_file(kSchema8 / "easgate-inventory.db", inventoryFile(file));
  {
    // A command that release had not finished when it stopped.
    auto raw = store::Database::open(file);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.value()->execute("UPDATE commands SET state = 'queued' WHERE id = 1").ok());
  }
  {
    auto db = store::openStore(file);
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(store::schemaVersion(*db.value()).value(), store::currentSchemaVersion());
    AuditLog audit(*db.value());
    EXPECT_EQ(entriesOfWholeChain(audit), 6) << "the audit chain is whole";
    testing::ManualClock clock(SystemClock().nowMs());
    CommandJournal journal(*db.value(), audit, clock);
    auto failed = journal.get(3);
    ASSERT_TRUE(failed.ok());
    EXPECT_EQ(failed->state, CommandState::kFailed);
    EXPECT_TRUE(failed->request.access_level.empty());
    EXPECT_FALSE(failed->request.after.has_value());

    auto inventory = InventoryStore::open(inventoryFile(file));
    ASSERT_TRUE(inventory.ok()) << inventory.error().message;
    InventoryStore& inv = *inventory.value();
    EXPECT_EQ(inv.current()->size(), 40u);
    EXPECT_EQ(inv.eventsAfter(0, 1000)->size(), 40u);
    EXPECT_FALSE(inv.policy()->has_value()) << "that release never read the policy";
    // Its devices are found by search: the indexes were built on what it wrote.
    {
      const DeviceRecord first = inv.current()->front();
      DeviceFilter by_id;
      by_id.search = text::lowerAscii(first.device_id.substr(0, 6));
      std::size_t found = 0;
      auto read = inv.forEachDevice(by_id, [&](const StoredDeviceView&) { ++found; });
      ASSERT_TRUE(read.ok()) << read.error().message;
      EXPECT_GE(found, 1u) << by_id.search;
      EXPECT_NE(inv.devicesPlan(by_id)->find("devices_by_device_id"), std::string::npos);
    }

    testing::FakeExchangeGateway gateway(organisationOf(kSchema8 / "organisation.json"));
    ExecutorDirectory directory = executorDirectoryOf(file);
    ASSERT_NE(directory.directory, nullptr);
    CommandExecutor executor(journal, gateway, *directory.directory, clock);
    ASSERT_TRUE(executor.runDue().ok());
    EXPECT_EQ(journal.get(1)->state, CommandState::kSucceeded) << journal.get(1)->last_error;

    auto harvest_directory = directoryOf(file);
    ASSERT_NE(harvest_directory, nullptr);
    Harvester harvester(*harvest_directory, *db.value(), inv, gateway, &journal, clock);
    auto harvest = harvester.run(HarvestKind::kFull);
    ASSERT_TRUE(harvest.ok()) << harvest.error().message;
    EXPECT_EQ(harvest->discovered, 0u);
    protocol::PolicyPlanRequest target;
    target.default_access_level = "Quarantine";
    target.grandfather = protocol::PolicyPlanRequest::Grandfather::kNone;
    auto planned =
        policy::planFromInventory(inv, *directory.file, *db.value(), target, {{}, 1000, false});
    ASSERT_TRUE(planned.ok() && planned.value().has_value());
    const policy::Plan& plan = *planned.value();
    EXPECT_EQ(plan.changes.size(), 38u) << "all but the allowed and the blocked device";
    for (const auto& c : plan.changes) {
      EXPECT_NE(c.device.device_id, "ANDROIDC04CEAC5AE7AC74EE");
      EXPECT_NE(c.device.device_id, "FE4A1EAAC4ECFCE1");
    }
  }
  fs::remove_all(dir);
}

const fs::path kSchema9 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "schema-9";
const fs::path kSchema10 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "schema-10";
const fs::path kSchema11 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "schema-11";
const fs::path kSchema12 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "schema-12";

// A store of `fixture`'s release opened by this one: the directory moves into a file of its own
// (store migration 13) with the lists as Exchange held them, the MDM's lists stay in the store,
// every name leads where it led, the names are in a table without a rowid (store migration 11)
// and no index by key (10), what a harvest asks of every mailbox has its index (12), the first
// harvest after the upgrade rewrites no mailbox that did not change, and a renamed mailbox loses
// the names it no longer has.
void expectItFindsItsMailboxesByEveryNameAndForgetsTheOldOnes(const fs::path& fixture) {
  const fs::path file = copyOfStore(fixture);
  const fs::path dir = file.parent_path();
  fs::copy_file(fixture / "easgate-inventory.db", inventoryFile(file));
  std::vector<std::pair<std::string, std::string>> names;  // (name, key) as that release kept them
  std::int64_t harvested_ids = 0;                          // on the lists as Exchange held them
  {
    auto raw = store::Database::open(file);
    ASSERT_TRUE(raw.ok());
    auto q = raw.value()->prepare("SELECT name, key FROM mailbox_names ORDER BY name");
    ASSERT_TRUE(q.ok());
    while (q->step().value()) names.emplace_back(q->text(0), q->text(1));
    harvested_ids =
        count(*raw.value(), "SELECT count(*) FROM mailbox_lists WHERE source = 'harvested'");
  }
  ASSERT_EQ(names.size(), 180u);
  ASSERT_GT(harvested_ids, 0);
  {
    auto db = store::openStore(file);
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(store::schemaVersion(*db.value()).value(), store::currentSchemaVersion());
    AuditLog audit(*db.value());
    EXPECT_EQ(entriesOfWholeChain(audit), 6) << "the audit chain is whole";
    EXPECT_EQ(count(*db.value(), "SELECT count(*) FROM commands"), 3);
    // The directory is in a file of its own (store migration 13), whole; the store keeps the
    // MDM's lists only.
    EXPECT_EQ(count(*db.value(),
                    "SELECT count(*) FROM sqlite_master WHERE name IN ('mailbox_directory', "
                    "'mailbox_names', 'mailbox_directory_held')"),
              0);
    EXPECT_EQ(count(*db.value(), "SELECT count(*) FROM mailbox_lists WHERE source = 'harvested'"),
              0);
    auto dir_db = directoryOf(file);
    ASSERT_NE(dir_db, nullptr);
    EXPECT_EQ(count(*dir_db, "SELECT count(*) FROM harvested_lists"), harvested_ids);
    ASSERT_TRUE(importDirectoryFromStore(file).ok()) << "opening again imports nothing twice";
    EXPECT_EQ(count(*dir_db, "SELECT count(*) FROM mailbox_directory"), 20);
    EXPECT_EQ(
        count(*dir_db, "SELECT count(*) FROM sqlite_master WHERE name = 'mailbox_names_by_key'"),
        0);
    EXPECT_EQ(count(*dir_db,
                    "SELECT count(*) FROM sqlite_master WHERE name = 'mailbox_names' "
                    "AND sql LIKE '%WITHOUT ROWID%'"),
              1)
        << "each name is written once, in its key";
    EXPECT_EQ(
        count(*dir_db, "SELECT count(*) FROM sqlite_master WHERE name = 'mailbox_directory_held'"),
        1);
    EXPECT_EQ(count(*dir_db, "SELECT count(*) FROM mailbox_names"),
              static_cast<std::int64_t>(names.size()));
    EXPECT_EQ(count(*dir_db,
                    "SELECT count(*) FROM mailbox_directory d WHERE json_array_length(d.names) "
                    "<> (SELECT count(*) FROM mailbox_names n WHERE n.key = d.key)"),
              0)
        << "each row holds its names";
    MailboxDirectory directory(*dir_db, *db.value());
    for (const auto& [name, key] : names) {
      const NameLookup found = directory.lookup(name);
      EXPECT_EQ(found.kind, NameLookup::Kind::kFound) << name;
      EXPECT_EQ(found.key, key) << name;
    }
    // The lists of the two commands that succeeded: as the MDM wants them (in the store) and as
    // Exchange held them after (in the directory's file), under each mailbox's key.
    using Source = MailboxDirectory::Source;
    for (const auto& [name, which, id] :
         {std::tuple<std::string, std::string, std::string>{"ann.ivanova.16@contoso.com", "allowed",
                                                            "8B77F25B9A2C0A75"},
          {"contoso.com/Users/Anya Mensah 18", "blocked", "ANDROIDCEDC66A1F135DC5EF"}}) {
      const std::string key = directory.lookup(name).key;
      EXPECT_EQ(directory.list(key, which, Source::kDesired).value(), std::vector<std::string>{id})
          << name;
      EXPECT_TRUE(directory.managed(key, which).value()) << name;
      const auto held = directory.list(key, which, Source::kHarvested).value();
      EXPECT_NE(std::find(held.begin(), held.end(), id), held.end()) << name;
    }

    // The first harvest after the upgrade finds every mailbox as the directory holds it (the
    // commands' lists included): it writes none of them.
    testing::ManualClock clock(SystemClock().nowMs() + 3600'000);
    CommandJournal journal(*db.value(), audit, clock);
    auto inventory = InventoryStore::open(inventoryFile(file));
    ASSERT_TRUE(inventory.ok()) << inventory.error().message;
    testing::FakeExchangeGateway gateway(organisationOf(fixture / "organisation.json"));
    auto harvest_directory = directoryOf(file);
    ASSERT_NE(harvest_directory, nullptr);
    Harvester harvester(*harvest_directory, *db.value(), *inventory.value(), gateway, &journal,
                        clock);
    auto harvest = harvester.run(HarvestKind::kFull);
    ASSERT_TRUE(harvest.ok()) << harvest.error().message;
    EXPECT_EQ(harvest->discovered, 0u);
    auto written = dir_db->prepare("SELECT count(*) FROM mailbox_directory WHERE seen_ms = ?");
    ASSERT_TRUE(written.ok());
    written->bind(1, clock.nowMs());
    ASSERT_TRUE(written->step().value());
    EXPECT_EQ(written->integer(0), 0);

    // Renamed: the old address leads nowhere, the new one and the names it kept to it.
    const NameLookup ann = directory.lookup("ann.ivanova.16@contoso.com");
    ASSERT_EQ(ann.kind, NameLookup::Kind::kFound);
    MailboxEntry renamed;
    renamed.key = ann.key;
    renamed.identity = "contoso.com/Users/Ann Ivanova 16";
    renamed.address = "ann.lund@contoso.com";
    renamed.names = {renamed.identity, renamed.address};
    ASSERT_TRUE(
        dir_db
            ->transaction([&] { return directory.record(renamed, clock.nowMs(), /*lists=*/false); })
            .ok());
    EXPECT_EQ(directory.lookup("ann.ivanova.16@contoso.com").kind, NameLookup::Kind::kUnknown);
    EXPECT_EQ(directory.lookup("ANN.LUND@contoso.com").key, ann.key);
    EXPECT_EQ(directory.lookup("contoso.com/Users/Ann Ivanova 16").key, ann.key);
    EXPECT_EQ(count(*dir_db, "SELECT count(*) FROM mailbox_names"), 180 - 9 + 2);
  }
  fs::remove_all(dir);
}

// The release before each mailbox's names were kept in its directory row (store migration 10).
TEST(StoreMigration, AStoreOfSchema9FindsItsMailboxesByEveryNameAndForgetsTheOldOnes) {
  expectItFindsItsMailboxesByEveryNameAndForgetsTheOldOnes(kSchema9);
}

// The release before mailbox_names lost its rowid (store migration 11).
TEST(StoreMigration, AStoreOfSchema10FindsItsMailboxesByEveryNameAndForgetsTheOldOnes) {
  expectItFindsItsMailboxesByEveryNameAndForgetsTheOldOnes(kSchema10);
}

// The release before the directory's index of what a harvest asks of every mailbox (store
// migration 12).
TEST(StoreMigration, AStoreOfSchema11FindsItsMailboxesByEveryNameAndForgetsTheOldOnes) {
  expectItFindsItsMailboxesByEveryNameAndForgetsTheOldOnes(kSchema11);
}

// The release before the mailbox directory had a file of its own (store migration 13).
TEST(StoreMigration, AStoreOfSchema12FindsItsMailboxesByEveryNameAndForgetsTheOldOnes) {
  expectItFindsItsMailboxesByEveryNameAndForgetsTheOldOnes(kSchema12);
}

const fs::path kSchema13 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "schema-13";

// The release before the executor asked the journal for what runs next (store migration 14),
// stopped partway through a policy apply: some of its allows run, some resolved to their
// mailbox and queued, some not yet resolved, the default waiting for them all. This one takes up
// the rest in journal order, a share at a time, through the new indexes, the default last.
TEST(StoreMigration, AStoreOfSchema13TakesUpThePolicyApplyItHadNotFinished) {
  const fs::path file = copyOfStoreAndItsFiles(kSchema13);
  const fs::path dir = file.parent_path();
  sim::Organisation organisation = organisationOf(kSchema13 / "organisation.json");
  organisation.policy.default_level = powershell::exchange::AccessLevel::kAllow;  // before it
  {
    // Commands 4 to 32 are the apply's allows, 33 its default (as that release wrote them).
    auto raw = store::Database::open(file);
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(count(*raw.value(),
                    "SELECT count(*) FROM commands WHERE id BETWEEN 4 AND 32 AND "
                    "kind = 'allow' AND after_ids = '[]'"),
              29);
    ASSERT_EQ(count(*raw.value(),
                    "SELECT json_array_length(after_ids) FROM commands WHERE id = "
                    "33 AND kind = 'set-default-access-level'"),
              29);
    ASSERT_TRUE(raw.value()
                    ->execute("UPDATE commands SET state = 'queued', attempts = 0 WHERE id >= 10; "
                              "UPDATE commands SET mailbox_key = NULL WHERE id >= 21 AND id < 33")
                    .ok());
  }
  {
    // Every connection closed before the files go (Windows removes no file that is open).
    auto db = store::openStore(file);
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(store::schemaVersion(*db.value()).value(), store::currentSchemaVersion());
    EXPECT_EQ(count(*db.value(),
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                    "('commands_open', 'commands_open_by_mailbox', 'commands_open_by_kind')"),
              3);
    EXPECT_EQ(
        count(*db.value(), "SELECT count(*) FROM sqlite_master WHERE name = 'commands_unfinished'"),
        0);
    AuditLog audit(*db.value());
    EXPECT_EQ(entriesOfWholeChain(audit), 66) << "the audit chain is whole";
    testing::ManualClock clock(SystemClock().nowMs());
    CommandJournal journal(*db.value(), audit, clock);
    ASSERT_TRUE(journal.queryPlans().ok()) << "the new indexes answer its questions";

    testing::FakeExchangeGateway gateway(std::move(organisation));
    ExecutorDirectory directory = executorDirectoryOf(file);
    ASSERT_NE(directory.directory, nullptr);
    ExecutorOptions options;
    options.commands_per_run = 4;
    CommandExecutor executor(journal, gateway, *directory.directory, clock, options);
    // At most four mailboxes a run, each one's allows in one call.
    auto edits = [&] {
      return std::count_if(gateway.requests().begin(), gateway.requests().end(),
                           [](const auto& r) { return r.cmdlet == "Set-CASMailbox"; });
    };
    std::size_t runs = 0;
    for (std::size_t ran = 1; ran > 0 && runs < 50; ++runs) {
      const auto before = edits();
      auto r = executor.runDue();
      ASSERT_TRUE(r.ok()) << r.error().message;
      ran = r.value();
      EXPECT_LE(edits() - before, 4);
    }
    EXPECT_EQ(edits(), count(*db.value(),
                             "SELECT count(DISTINCT mailbox_key) FROM commands WHERE "
                             "id BETWEEN 10 AND 32"))
        << "one call a mailbox";
    EXPECT_GE(runs, 5u) << "16 mailboxes and the default, at most four a run";
    for (std::int64_t id = 10; id <= 33; ++id) {
      EXPECT_EQ(journal.get(id)->state, CommandState::kSucceeded)
          << id << journal.get(id)->last_error;
      EXPECT_FALSE(journal.get(id)->mailbox_key.empty() && id < 33) << id;
    }
    EXPECT_EQ(journal.get(3)->state, CommandState::kFailed) << "as that release left it";
    EXPECT_EQ(gateway.organisation().policy.default_level,
              powershell::exchange::AccessLevel::kQuarantine);
    ASSERT_FALSE(gateway.requests().empty());
    EXPECT_EQ(gateway.requests().back().cmdlet, "Set-ActiveSyncOrganizationSettings")
        << "the default after every allow";
    EXPECT_GT(entriesOfWholeChain(audit), 66);
  }
  fs::remove_all(dir);
}

const fs::path kSchema14 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "schema-14";

// The release before what a command waits for was a range of ids (store migration 15): its
// apply's default waited for a list of every allow, its rollback's revokes for the rollback's
// default. This one reads both as ranges and, the rollback put back in the queue as a stop before
// it ran would have left it, runs it as that release would have: the default first, then the
// revokes, each once the default succeeded.
TEST(StoreMigration, AStoreOfSchema14KeepsWhatItsPolicyCommandsWaitForAsRanges) {
  const fs::path file = copyOfStoreAndItsFiles(kSchema14);
  const fs::path dir = file.parent_path();
  sim::Organisation organisation = organisationOf(kSchema14 / "organisation.json");
  organisation.policy.default_level = powershell::exchange::AccessLevel::kQuarantine;  // before
  std::vector<std::pair<std::string, std::string>> revoked;  // (mailbox key, device ID)
  {
    auto raw = store::Database::open(file);
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(count(*raw.value(), "PRAGMA user_version"), 14);
    ASSERT_EQ(count(*raw.value(),
                    "SELECT json_array_length(after_ids) FROM commands WHERE id = 33 AND kind = "
                    "'set-default-access-level'"),
              29);
    ASSERT_EQ(count(*raw.value(),
                    "SELECT count(*) FROM commands WHERE id BETWEEN 35 AND 63 AND kind = 'revoke' "
                    "AND after_ids = '[34]'"),
              29);
    auto q = raw.value()->prepare("SELECT mailbox_key, device_id FROM commands WHERE id >= 35");
    ASSERT_TRUE(q.ok());
    while (q->step().value()) revoked.emplace_back(q->text(0), q->text(1));
    ASSERT_TRUE(raw.value()
                    ->execute("UPDATE commands SET state = 'queued', attempts = 0, result = '' "
                              "WHERE id >= 34")
                    .ok());
  }
  // Exchange as it was before the rollback: every ID the apply added on its mailbox's list.
  for (const auto& [key, device_id] : revoked) {
    sim::SimMailbox* m = organisation.findMailbox(key);
    ASSERT_NE(m, nullptr) << key;
    ASSERT_TRUE(organisation
                    .changeLists(*m, sim::Organisation::ListChange{std::nullopt, {device_id}, {}},
                                 std::nullopt, 1)
                    .ok());
  }
  {
    auto db = store::openStore(file);
    ASSERT_TRUE(db.ok()) << db.error().message;
    EXPECT_EQ(store::schemaVersion(*db.value()).value(), store::currentSchemaVersion());
    EXPECT_EQ(count(*db.value(),
                    "SELECT count(*) FROM pragma_table_info('commands') WHERE name = 'after_ids'"),
              0);
    AuditLog audit(*db.value());
    EXPECT_EQ(entriesOfWholeChain(audit), 126) << "the audit chain is whole";
    testing::ManualClock clock(SystemClock().nowMs());
    CommandJournal journal(*db.value(), audit, clock);
    EXPECT_EQ(journal.get(33)->request.after, (CommandRange{4, 32})) << "the apply's default";
    EXPECT_FALSE(journal.get(34)->request.after.has_value()) << "the rollback's default";
    for (std::int64_t id = 35; id <= 63; ++id) {
      EXPECT_EQ(journal.get(id)->request.after, (CommandRange{34, 34})) << id;
    }
    for (std::int64_t id = 1; id <= 32; ++id) {
      EXPECT_FALSE(journal.get(id)->request.after.has_value()) << id;
    }

    testing::FakeExchangeGateway gateway(std::move(organisation));
    ExecutorDirectory directory = executorDirectoryOf(file);
    ASSERT_NE(directory.directory, nullptr);
    CommandExecutor executor(journal, gateway, *directory.directory, clock);
    for (int runs = 0; runs < 20; ++runs) {
      auto r = executor.runDue();
      ASSERT_TRUE(r.ok()) << r.error().message;
      if (r.value() == 0) break;
    }
    for (std::int64_t id = 34; id <= 63; ++id) {
      EXPECT_EQ(journal.get(id)->state, CommandState::kSucceeded)
          << id << " " << journal.get(id)->last_error;
    }
    const auto& requests = gateway.requests();
    const auto set_default = std::find_if(requests.begin(), requests.end(), [](const auto& r) {
      return r.cmdlet == "Set-ActiveSyncOrganizationSettings";
    });
    const auto first_edit = std::find_if(requests.begin(), requests.end(), [](const auto& r) {
      return r.cmdlet == "Set-CASMailbox";
    });
    ASSERT_NE(set_default, requests.end());
    ASSERT_NE(first_edit, requests.end());
    EXPECT_LT(set_default, first_edit) << "the default restored before any ID is revoked";
    EXPECT_EQ(gateway.organisation().policy.default_level,
              powershell::exchange::AccessLevel::kAllow);
    for (const auto& [key, device_id] : revoked) {
      const sim::SimMailbox* m = gateway.organisation().findMailbox(key);
      ASSERT_NE(m, nullptr);
      const auto& allowed = m->facts.allowed_device_ids;
      EXPECT_EQ(std::find(allowed.begin(), allowed.end(), device_id), allowed.end()) << device_id;
    }
    EXPECT_GT(entriesOfWholeChain(audit), 126);
  }
  fs::remove_all(dir);
}

const fs::path kInventory3 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "inventory-3";

// The status page of the inventory that `easgate demo --mailboxes 30` made in its first harvest
// (the inventory-3 and inventory-4 fixtures), counted and listed from indexes.
void expectTheDemosOverview(InventoryStore& inventory) {
  auto overview = inventory.overview("2026-11-02T00:00:00.000Z", 50);
  ASSERT_TRUE(overview.ok()) << overview.error().message;
  using Counts = std::vector<std::pair<std::string, std::int64_t>>;
  EXPECT_EQ(overview->by_access_state,
            (Counts{{"Allowed", 54}, {"Quarantined", 5}, {"Blocked", 1}}));
  EXPECT_EQ(
      overview->by_device_type,
      (Counts{
          {"Outlook", 21}, {"iPhone", 17}, {"Android", 12}, {"SAMSUNGSMA546B", 7}, {"iPad", 3}}));
  EXPECT_EQ(overview->stale, 3);
  EXPECT_EQ(overview->quarantined.size(), 5u);
  for (const DeviceRecord& r : overview->quarantined) EXPECT_EQ(r.access_state, "Quarantined");
  ASSERT_EQ(overview->stalest.size(), 3u);
  EXPECT_TRUE(std::is_sorted(overview->stalest.begin(), overview->stalest.end(),
                             [](const DeviceRecord& a, const DeviceRecord& b) {
                               return a.last_success_sync < b.last_success_sync;
                             }))
      << "the longest without a sync first";

  const std::string plan = inventory.overviewPlan().value();
  for (const char* index :
       {"devices_by_access_state", "devices_by_device_type", "devices_by_last_sync"}) {
    EXPECT_NE(plan.find(index), std::string::npos) << index << "\n" << plan;
  }
  // Grouped and listed in the indexes' order: nothing sorted but the handful of groups.
  EXPECT_EQ(plan.find("FOR GROUP BY"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("quarantined: USE TEMP B-TREE"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("stalest: USE TEMP B-TREE"), std::string::npos) << plan;
}

// The inventory of the release before the status page's indexes: it gains them (migration 4),
// the status page counts and lists what it did, and reads the indexes, not every record.
TEST(StoreMigration, AnInventoryOfSchema3CountsAsBeforeFromItsNewIndexes) {
  const fs::path file = copyOfInventory(kInventory3, "migration-inventory");
  const fs::path dir = file.parent_path();
  {
    auto opened = InventoryStore::open(file);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    InventoryStore& inventory = *opened.value();
    expectTheDemosOverview(inventory);
    EXPECT_EQ(inventory.current()->size(), 60u) << "every partnership kept";
    EXPECT_EQ(inventory.eventsAfter(0, 1000)->size(), 60u) << "and the event feed";
  }
  fs::remove_all(dir);
}

const fs::path kInventory4 = fs::path(EASGATE_TEST_DATA_DIR) / "store" / "inventory-4";

// The inventory of the release whose indexes were expressions over the record: migration 5
// copies the indexed fields into columns, builds the indexes on them, and search, filters and
// the status page find and count what they did; the next harvest keeps the columns as its
// records say.
TEST(StoreMigration, AnInventoryOfSchema4FindsAndCountsFromColumnsAsItDidFromItsRecords) {
  const fs::path file = copyOfInventory(kInventory4, "migration-inventory-4");
  const fs::path dir = file.parent_path();
  {
    auto opened = InventoryStore::open(file);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    InventoryStore& inventory = *opened.value();
    auto raw = store::Database::open(file);
    ASSERT_TRUE(raw.ok());
    store::Database& db = *raw.value();
    EXPECT_EQ(count(db, "PRAGMA user_version"), InventoryStore::currentSchemaVersion());
    EXPECT_EQ(count(db, "PRAGMA page_size"), 4096) << "the file keeps the pages it was written in";
    EXPECT_EQ(count(db, "SELECT count(*) FROM devices"), 60);
    EXPECT_EQ(columnsApartFromRecords(db), 0) << "every column filled from its record";
    EXPECT_EQ(count(db,
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                    "tbl_name = 'devices' AND sql LIKE '%json_extract%'"),
              0)
        << "no index reads the record any more";

    expectTheDemosOverview(inventory);

    // Found by search through the new indexes, by address and by device ID.
    auto found = [&](const std::string& search) {
      DeviceFilter f;
      f.search = search;
      std::set<std::string> keys;
      EXPECT_TRUE(
          inventory
              .forEachDevice(f, [&](const StoredDeviceView& d) { keys.insert(std::string(d.key)); })
              .ok());
      return keys;
    };
    const std::string quarantined_key =
        "contoso.com/users/ann ivanova 16/exchangeactivesyncdevices/iphone\xc2\xa7"
        "84f059cac837569f";
    EXPECT_EQ(found("ann.ivanova.16@").size(), 3u) << "the mailbox's three partnerships";
    EXPECT_EQ(found("84f059"), (std::set<std::string>{quarantined_key}));
    DeviceFilter search;
    search.search = "84f059";
    const std::string plan = inventory.devicesPlan(search).value();
    EXPECT_NE(plan.find("devices_by_address"), std::string::npos) << plan;
    EXPECT_NE(plan.find("devices_by_device_id"), std::string::npos) << plan;

    // The MDM blocks the quarantined device; the next harvest finds it Blocked, and only there.
    testing::ManualClock clock(SystemClock().nowMs());
    testing::FakeExchangeGateway gateway(organisationOf(kInventory4 / "organisation.json"));
    sim::SimMailbox* ann = gateway.organisation().findMailbox("ann.ivanova.16@contoso.com");
    ASSERT_NE(ann, nullptr);
    ASSERT_TRUE(
        gateway.organisation()
            .changeLists(*ann, std::nullopt,
                         sim::Organisation::ListChange{std::nullopt, {"84F059CAC837569F"}, {}},
                         sim::dotNetTicksFromUnixSeconds(clock.nowMs() / 1000))
            .ok());
    auto store_db = store::openStore(dir / "easgate.db");
    ASSERT_TRUE(store_db.ok()) << store_db.error().message;
    auto directory_file = directoryOf(dir / "easgate.db");
    ASSERT_NE(directory_file, nullptr);
    Harvester harvester(*directory_file, *store_db.value(), inventory, gateway, nullptr, clock);
    auto harvest = harvester.run(HarvestKind::kFull);
    ASSERT_TRUE(harvest.ok()) << harvest.error().message;
    EXPECT_EQ(harvest->discovered, 0u);
    EXPECT_GE(harvest->changed, 1u);
    EXPECT_EQ(columnsApartFromRecords(db), 0) << "the harvest kept the columns as its records";
    DeviceFilter blocked;
    blocked.access_state = "Blocked";
    std::set<std::string> blocked_keys;
    ASSERT_TRUE(inventory
                    .forEachDevice(
                        blocked,
                        [&](const StoredDeviceView& d) { blocked_keys.insert(std::string(d.key)); })
                    .ok());
    EXPECT_EQ(blocked_keys.size(), 2u);
    EXPECT_EQ(blocked_keys.count(quarantined_key), 1u);
    EXPECT_EQ(inventory.overview("2026-11-02T00:00:00.000Z", 50)->quarantined.size(), 4u);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace easgate::agent
