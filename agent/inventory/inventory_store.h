#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/inventory/device_record.h"
#include "agent/store/database.h"

// The inventory: every partnership harvests found, its history field by field, the event feed
// and the harvests themselves. It has a file of its own beside the store (easgate.db keeps the
// journal and the audit trail; the mailbox directory has its own), so that a harvest, which writes
// the whole inventory in one transaction, never holds the lock the MDM's commands need, and readers
// see one harvest or the other, never a mix (SQLite's WAL snapshots). All SQL on these tables is
// here.
namespace easgate::agent {

// The inventory's file, beside the store's: easgate.db -> easgate-inventory.db.
inline std::filesystem::path inventoryFile(const std::filesystem::path& store_file) {
  return store_file.parent_path() / (store_file.stem().string() + "-inventory.db");
}

DeviceFieldTexts fieldTextsOf(const DeviceRecord& record);
DeviceRecord recordFromFieldTexts(const DeviceFieldTexts& fields);
// The stored form of a partnership's fields (a JSON object of texts), and back: equal fields
// give equal text, so a partnership that did not change is found so without parsing.
std::string recordText(const DeviceFieldTexts& fields);
// The same text straight from a record (fieldTextsOf() then recordText(), without the map).
std::string recordText(const DeviceRecord& record);
// recordText(record) == text, without writing the text: how a harvest finds a partnership as
// it was stored (writing each record's text took a twentieth of a usual full harvest).
bool recordTextIs(const DeviceRecord& record, std::string_view text);
Result<DeviceFieldTexts, store::StoreError> fieldTextsFromRecord(const std::string& record);
// A record from its stored form (recordFromFieldTexts(fieldTextsFromRecord()), without the map).
Result<DeviceRecord, store::StoreError> recordFromText(const std::string& record);

// A row of InventoryStore::forEachDevice as SQLite holds it: valid during the call that gets it.
struct StoredDeviceView {
  std::string_view key;     // partnershipKey() of its Identity
  std::string_view record;  // its fields in the stored form (recordText)
  std::int64_t first_seen_ms = 0;
  std::int64_t last_seen_ms = 0;
};

// The same, kept.
struct StoredDevice {
  std::string key;
  std::string record;
  std::int64_t first_seen_ms = 0;
  std::int64_t last_seen_ms = 0;

  StoredDeviceView view() const { return {key, record, first_seen_ms, last_seen_ms}; }
};

// A stored partnership as the API writes it (appendDeviceJson's members, read straight from the
// stored form, then when the agent first and last saw it).
void appendStoredDeviceJson(std::string& out, const StoredDeviceView& device);

// How many of a partnership's fields an inventory index reads, each kept in a column of its own
// beside the record (inventory migration 5; which ones: kIndexedColumns in inventory_store.cpp).
inline constexpr std::size_t kIndexedFieldCount = 6;

// What a harvest finds stored for a partnership.
struct StoredPartnership {
  std::string record;             // recordText() of its fields
  bool removed = false;           // a full harvest stopped finding it
  bool statistics_stale = false;  // its statistics are kept from an earlier harvest
  // What its row holds beside the record, for HarvestWrite::save to write only what changed:
  // the mailbox part of its Identity and the indexed columns, in kIndexedColumns' order.
  std::string mailbox;
  std::array<std::string, kIndexedFieldCount> indexed;
};

struct InventoryEvent {
  std::int64_t sequence = 0;
  std::int64_t at_ms = 0;
  std::string kind;  // device-discovered, access-state-changed, wipe-status-changed,
                     // partnership-removed, list-drift, mailbox-statistics-failed
  std::string mailbox;
  std::string device_key;
  std::string detail;  // JSON
};

// A reader's page of the event feed: the events after its cursor, or, when some of those were
// forgotten, where to read on from instead (InventoryStore::eventsForgottenAfter).
struct EventsRead {
  std::vector<InventoryEvent> events;
  std::optional<std::int64_t> forgotten_cursor;
};

struct FieldChange {
  std::int64_t at_ms = 0;
  std::string field;
  std::string old_value;
  std::string new_value;
};

// The organisation's policy as a full harvest stored it.
struct StoredPolicy {
  std::string document;  // JSON (agent/policy/organisation_policy.h)
  std::int64_t harvested_ms = 0;
};

struct HarvestRun {
  std::string kind;  // full, delta
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::int64_t devices = 0;
  std::int64_t calls = 0;
  std::int64_t failed_mailboxes = 0;
};

struct InventorySummary {
  std::int64_t devices = 0;  // current partnerships
  std::optional<HarvestRun> last_full;
  std::optional<HarvestRun> last_delta;
  std::int64_t full_count = 0;
  std::int64_t delta_count = 0;
  double full_seconds = 0;  // all full harvests together
  double delta_seconds = 0;
};

// The inventory at a glance, for a person (the status page): counts, and the devices that want
// attention first.
struct InventoryOverview {
  std::vector<std::pair<std::string, std::int64_t>> by_access_state;  // most first
  std::vector<std::pair<std::string, std::int64_t>> by_device_type;   // most first
  std::int64_t stale = 0;                 // no successful sync since the cutoff
  std::vector<DeviceRecord> quarantined;  // waiting for a decision, longest waiting first
  std::vector<DeviceRecord> stalest;      // the longest without a successful sync
};

// A page of current partnerships, in key order. Empty members do not filter.
struct DeviceFilter {
  std::string after_key;     // the page starts after this partnership
  std::string mailbox;       // the mailbox's Identity or primary SMTP address, any case
  std::string access_state;  // exactly as Exchange gives it
  std::string device_type;   // any case
  // The start of the mailbox's name (its Identity's last part), of its primary SMTP address or
  // of the device ID, lower case (ASCII letters fold; SQLite's lower()). Indexed.
  std::string search;
  std::string synced_since;  // "YYYY-MM-DDTHH:MM:SS": last successful sync at or after
  std::size_t limit = 100;
};

// A partnership as a harvest listed it, kept aside until its mailbox's statistics are read.
struct StagedPartnership {
  std::string key;
  std::string mailbox_dn;  // the mailbox's distinguished name, lower case, when Exchange gave one
  DeviceRecord record;
  std::string mailbox;  // as staged: the mailbox part of its Identity
  // What the inventory holds for it (nullopt: nothing), read with it when `stored_read`.
  bool stored_read = false;
  std::optional<StoredPartnership> stored;
};

class InventoryStore;

// One harvest's writes, inside its transaction (InventoryStore::applyHarvest).
class HarvestWrite {
 public:
  using StoreResult = Result<void, store::StoreError>;

  // What is stored for a partnership; nullopt when it never was.
  Result<std::optional<StoredPartnership>, store::StoreError> stored(const std::string& key);
  // Where a partnership this harvest read came from: staged (the listing gave it; removeUnseen
  // counts every staged partnership as seen) or only named by its mailbox's statistics.
  enum class Source { kStaged, kStatisticsOnly };
  // Stores a partnership this harvest read (new, found again, or changed). `stored`: what
  // stored() or staged() read for it in this harvest (nullopt: nothing), from which only the
  // columns whose value changed are written. `statistics_stale`: its statistics are kept from
  // an earlier harvest.
  StoreResult save(const std::string& key, const std::optional<StoredPartnership>& stored,
                   const std::string& mailbox, const DeviceFieldTexts& fields,
                   bool statistics_stale, Source source);
  // A partnership this harvest read as it was stored: nothing is written, unless `touch` (a
  // delta harvest) updates when it was last seen. (A current partnership was seen by the last
  // full harvest at least: that is its last sighting unless a later one is stored.)
  StoreResult unchanged(const std::string& key, bool touch, Source source);
  StoreResult change(const std::string& key, const std::string& field, const std::string& old_value,
                     const std::string& new_value);
  StoreResult event(std::string_view kind, const std::string& mailbox, const std::string& key,
                    const std::string& detail);
  // The organisation's policy as this harvest read it (a document of
  // agent/policy/organisation_policy.h), replacing the one before.
  StoreResult policy(const std::string& document);
  // What the harvest amounted to, when it ended (the last thing it writes).
  StoreResult finished(const HarvestRun& run);

  // Partnerships as the harvest's listing (Get-MobileDevice) gave them, kept until their
  // mailbox's statistics are read: in the harvest's staging file on disk, never in the inventory,
  // so a harvest's memory does not grow with the organisation. Staging a key again replaces it.
  StoreResult stage(const std::string& key, const std::string& mailbox,
                    const std::string& mailbox_dn, const DeviceRecord& record);
  // How many mailboxes the staged partnerships name.
  Result<std::size_t, store::StoreError> stagedMailboxCount();
  // The mailboxes of staged partnerships (as their Identity names them) after `after`, in
  // order, at most `limit`; partnerships without one are staged under "".
  Result<std::vector<std::string>, store::StoreError> stagedMailboxes(const std::string& after,
                                                                      std::size_t limit);
  // The staged partnerships of the mailboxes from `first` to `last` (a run of what
  // stagedMailboxes() gave), in mailbox then key order, each with what is stored for it.
  Result<std::vector<StagedPartnership>, store::StoreError> staged(const std::string& first,
                                                                   const std::string& last);
  // Full harvests: marks every current partnership this harvest did not read as removed, and
  // calls `removed` with each (its key and stored fields).
  StoreResult removeUnseen(
      const std::function<StoreResult(const std::string&, const DeviceFieldTexts&)>& removed);

 private:
  friend class InventoryStore;
  HarvestWrite(store::Database& database, std::int64_t harvest, std::int64_t now_ms)
      : database_(database), statements_(database), harvest_(harvest), now_ms_(now_ms) {}
  // Records a partnership removeUnseen must not remove; a staged one needs nothing.
  StoreResult seen(const std::string& key, Source source);
  // Indexes what was staged and keeps one row per key, before the staged rows are first read.
  StoreResult indexStaged();

  store::Database& database_;
  store::StatementCache statements_;
  std::vector<std::uint8_t> staged_record_;  // stage()'s buffer, kept for the next
  bool staged_indexed_ = false;
  std::int64_t harvest_;  // its row in harvests
  std::int64_t now_ms_;
};

// One connection to the inventory file. Not thread-safe: one caller at a time; open one per
// thread that needs it (the harvester, each API reader).
class InventoryStore {
 public:
  // Opens or creates the file and brings its schema up to date.
  static Result<std::unique_ptr<InventoryStore>, store::StoreError> open(
      const std::filesystem::path& file);

  // The schema version this build writes.
  static int currentSchemaVersion();

  // When the last harvest (of any kind) began; nullopt before the first.
  Result<std::optional<std::int64_t>, store::StoreError> lastHarvestStart();
  // The organisation's policy as the last full harvest that read it stored it.
  Result<std::optional<StoredPolicy>, store::StoreError> policy();
  // Whether a partnership was ever in the inventory (kept when removed).
  Result<bool, store::StoreError> known(const std::string& key);
  // The current partnerships `filter` finds, in key order, each handed to `each` where SQLite
  // holds it, without a copy (a page of 1,000 devices is about a megabyte).
  Result<void, store::StoreError> forEachDevice(
      const DeviceFilter& filter, const std::function<void(const StoredDeviceView&)>& each);
  // How SQLite will read forEachDevice(filter) (EXPLAIN QUERY PLAN, a line per step): for the tests
  // that hold a search to its indexes, and for diagnosis.
  Result<std::string, store::StoreError> devicesPlan(const DeviceFilter& filter);
  // A current partnership.
  Result<std::optional<StoredDevice>, store::StoreError> device(const std::string& key);
  // How a partnership's fields changed, oldest first.
  Result<std::vector<FieldChange>, store::StoreError> history(const std::string& key);
  // Deletes the field history recorded before `cutoff_ms`, oldest first, a few thousand changes
  // per transaction. Stops at the first change recorded at or after the cutoff: nothing younger
  // is ever deleted, and changes recorded after the clock was set back wait until the changes
  // before them are old too. Returns how many changes were deleted.
  Result<std::size_t, store::StoreError> forgetChangesBefore(std::int64_t cutoff_ms);
  // The same for the event feed, except that the newest event is always kept: the feed's
  // sequence goes on from it (an empty table would give the next event number 1, behind every
  // reader's cursor). Returns how many events were deleted.
  Result<std::size_t, store::StoreError> forgetEventsBefore(std::int64_t cutoff_ms);
  // Events after `after_sequence`, oldest first, at most `limit`.
  Result<std::vector<InventoryEvent>, store::StoreError> eventsAfter(std::int64_t after_sequence,
                                                                     std::size_t limit);
  // When events after `after_sequence` were forgotten before a reader asked for them: the
  // sequence to read on from (the one before the oldest kept). nullopt when none were; a reader
  // at 0 has read nothing yet, so has missed nothing.
  Result<std::optional<std::int64_t>, store::StoreError> eventsForgottenAfter(
      std::int64_t after_sequence);
  // Both in one read transaction: a harvest that forgets events between the two cannot make a
  // reader skip them unawares.
  Result<EventsRead, store::StoreError> readEvents(std::int64_t after_sequence, std::size_t limit);
  // Every current partnership, in key order, one at a time.
  Result<void, store::StoreError> forEachCurrent(
      const std::function<void(const DeviceRecord&)>& each);
  Result<std::vector<DeviceRecord>, store::StoreError> current();
  Result<InventorySummary, store::StoreError> summary();
  // Counts by access state and device type, the devices not synced since `stale_before`
  // (ISO 8601, UTC), and up to `list_limit` of the quarantined and of the stalest.
  Result<InventoryOverview, store::StoreError> overview(const std::string& stale_before,
                                                        std::size_t list_limit);
  // How SQLite will read overview()'s queries, a line per step after the query's name ("stale:
  // SEARCH devices USING INDEX ..."): for the test that holds them to their indexes.
  Result<std::string, store::StoreError> overviewPlan();

  // Runs one harvest's writes in one transaction, recorded as `run` until `body` calls
  // HarvestWrite::finished (its started_ms is the harvest's time of writing): all of it or, when
  // `body` fails, nothing. The harvester reads Exchange inside it: nothing else writes this
  // file, and readers keep the snapshot of the harvest before until it commits.
  Result<void, store::StoreError> applyHarvest(
      const HarvestRun& run,
      const std::function<Result<void, store::StoreError>(HarvestWrite&)>& body);

  // Pages of the file a harvest stages what it listed in (0 when no harvest runs: the file is
  // a harvest's own, gone when it ends), and of the connection's temporary database (which
  // lives as long as the connection, and holds none of it). For the tests that hold applyHarvest
  // to that, and for diagnosis.
  Result<std::int64_t, store::StoreError> stagingPages();
  Result<std::int64_t, store::StoreError> temporaryPages() { return database_->temporaryPages(); }

  const std::filesystem::path& file() const { return database_->file(); }

 private:
  // forEachDevice()'s statement, bound; `prefix` goes before its SELECT (EXPLAIN QUERY PLAN).
  Result<store::Statement, store::StoreError> devicesQuery(const DeviceFilter& filter,
                                                           std::string_view prefix = {});
  // The file a harvest stages in (schema "staging"): a private temporary file, attached when
  // the harvest begins and detached (deleted) when it ends (applyHarvest).
  Result<void, store::StoreError> openStaging();
  Result<void, store::StoreError> closeStaging();
  // applyHarvest()'s transaction.
  Result<void, store::StoreError> applyHarvestTransaction(
      const HarvestRun& run,
      const std::function<Result<void, store::StoreError>(HarvestWrite&)>& body);
  friend Result<void, store::StoreError> importInventoryFromStore(
      const std::filesystem::path& store_file);
  explicit InventoryStore(std::unique_ptr<store::Database> database)
      : database_(std::move(database)) {}
  std::unique_ptr<store::Database> database_;
};

// Up to its schema 6 the store (easgate.db) held the inventory too. Copies those tables into the
// inventory file beside it, in one transaction of the inventory file, once (a second call finds
// it done): the store's migration 7 calls it, then drops them.
Result<void, store::StoreError> importInventoryFromStore(const std::filesystem::path& store_file);

}  // namespace easgate::agent
