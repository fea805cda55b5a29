#include "agent/mailboxes/directory_file.h"

#include <string>
#include <vector>

#include "agent/store/schema.h"

namespace easgate::agent {
namespace {

// Migration N takes the directory's file from version N-1 to N. Append; never edit one released.
const std::vector<store::Migration>& migrations() {
  static const std::vector<store::Migration> kMigrations = {
      // 1: the tables the store (easgate.db) held up to its schema 12, moved here; the lists as
      // Exchange held them in a table of their own (the store keeps the MDM's).
      R"sql(
        CREATE TABLE mailbox_directory (
          key         TEXT PRIMARY KEY,        -- lower-case Guid (online: ExternalDirectoryObjectId)
          identity    TEXT NOT NULL,           -- as Exchange last gave it
          address     TEXT NOT NULL,           -- primary SMTP address
          seen_ms     INTEGER NOT NULL,        -- when the directory last learned something new of it
          fingerprint TEXT,                    -- digest of what is held (MailboxDirectory::record)
          names       TEXT NOT NULL DEFAULT '[]'  -- JSON array of its case-folded names
        );
        CREATE TABLE mailbox_names (
          name       TEXT NOT NULL,            -- case-folded (common/text/case_fold.h)
          key        TEXT NOT NULL REFERENCES mailbox_directory (key),
          PRIMARY KEY (name, key)
        ) WITHOUT ROWID;
        CREATE INDEX mailbox_directory_held ON mailbox_directory (key, fingerprint, identity, address);
        CREATE TABLE harvested_lists (         -- ActiveSyncAllowed/BlockedDeviceIDs as last read
          mailbox    TEXT NOT NULL,            -- the mailbox's key
          list       TEXT NOT NULL CHECK (list IN ('allowed', 'blocked')),
          device_id  TEXT NOT NULL,
          PRIMARY KEY (mailbox, list, device_id)
        ) WITHOUT ROWID;
        CREATE TABLE imported_from_store (     -- one row once the store's tables are copied
          at_ms INTEGER NOT NULL
        );
      )sql",
  };
  return kMigrations;
}

}  // namespace

Result<std::unique_ptr<store::Database>, store::StoreError> openDirectory(
    const std::filesystem::path& file) {
  auto opened = store::Database::open(file);
  if (!opened) return opened.error();
  std::unique_ptr<store::Database> db = std::move(opened).value();
  if (auto r = db->commitWithoutWaitingForTheDisk(); !r) return r.error();
  if (auto migrated = store::migrate(*db, migrations(), "mailbox directory"); !migrated) {
    return migrated.error();
  }
  return db;
}

Result<void, store::StoreError> importDirectoryFromStore(const std::filesystem::path& store_file) {
  auto opened = openDirectory(directoryFile(store_file));
  if (!opened) return opened.error();
  return store::importFromStore(*opened.value(), store_file, R"sql(
      DELETE FROM harvested_lists; DELETE FROM mailbox_names; DELETE FROM mailbox_directory;
      INSERT INTO mailbox_directory (key, identity, address, seen_ms, fingerprint, names)
        SELECT key, identity, address, seen_ms, fingerprint, names FROM legacy.mailbox_directory
        ORDER BY key;
      INSERT INTO mailbox_names (name, key)
        SELECT name, key FROM legacy.mailbox_names ORDER BY name, key;
      INSERT OR IGNORE INTO harvested_lists (mailbox, list, device_id)
        SELECT mailbox, list, device_id FROM legacy.mailbox_lists WHERE source = 'harvested'
        ORDER BY mailbox, list, device_id;
    )sql");
}

}  // namespace easgate::agent
