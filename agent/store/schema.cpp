#include "agent/store/schema.h"

#include <string>
#include <vector>

#include "agent/inventory/inventory_store.h"
#include "agent/mailboxes/directory_file.h"

namespace easgate::agent::store {
namespace {

// Append new ones; never edit a released one (files in the field have run it).
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      // 1: the audit log, append-only and hash-chained (agent/audit/).
      R"sql(
        CREATE TABLE audit (
          sequence   INTEGER PRIMARY KEY,          -- 1, 2, 3, ... without gaps
          at_ms      INTEGER NOT NULL,             -- Unix time, milliseconds
          actor      TEXT NOT NULL,                -- who asked: the client's identity
          action     TEXT NOT NULL,
          target     TEXT NOT NULL,
          outcome    TEXT NOT NULL,
          detail     TEXT NOT NULL,
          prev_hash  BLOB NOT NULL,                -- the entry before's hash (zeros for 1)
          hash       BLOB NOT NULL                 -- SHA-256 over prev_hash and this entry
        );
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
          BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
          BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      )sql",
      // 2: the command journal (agent/commands/).
      R"sql(
        CREATE TABLE commands (
          id              INTEGER PRIMARY KEY,
          idempotency_key TEXT UNIQUE,               -- NULL when the client gave none
          kind            TEXT NOT NULL,             -- allow, block, wipe, ... (command.h)
          mailbox         TEXT NOT NULL,             -- commands run in order per mailbox
          device_id       TEXT NOT NULL,
          device_ids      TEXT NOT NULL,             -- JSON array, for set-allowed
          partnership     TEXT NOT NULL,
          requested_by    TEXT NOT NULL,
          state           TEXT NOT NULL CHECK (state IN
                            ('queued', 'running', 'retrying', 'succeeded', 'failed')),
          attempts        INTEGER NOT NULL,
          created_ms      INTEGER NOT NULL,
          updated_ms      INTEGER NOT NULL,
          next_attempt_ms INTEGER NOT NULL,
          deadline_ms     INTEGER NOT NULL,
          last_error      TEXT NOT NULL,
          result          TEXT NOT NULL
        );
        CREATE INDEX commands_unfinished ON commands (state, mailbox, id);
      )sql",
      // 3: the inventory, its history, the lists, the event feed (agent/harvest/).
      R"sql(
        CREATE TABLE devices (
          key           TEXT PRIMARY KEY,      -- the Identity, lower case, '/' separated
          mailbox       TEXT NOT NULL,         -- the mailbox part of the Identity
          record        TEXT NOT NULL,         -- JSON: the device record's fields as text
          first_seen_ms INTEGER NOT NULL,
          last_seen_ms  INTEGER NOT NULL,
          removed_ms    INTEGER                -- when a full harvest stopped finding it
        );
        CREATE TABLE device_changes (
          id         INTEGER PRIMARY KEY,
          device_key TEXT NOT NULL REFERENCES devices (key),
          at_ms      INTEGER NOT NULL,
          field      TEXT NOT NULL,
          old_value  TEXT NOT NULL,
          new_value  TEXT NOT NULL
        );
        CREATE INDEX device_changes_by_device ON device_changes (device_key, id);
        CREATE TABLE mailboxes (               -- as the last full harvest found them
          identity   TEXT PRIMARY KEY,
          address    TEXT NOT NULL,
          seen_ms    INTEGER NOT NULL
        );
        CREATE TABLE mailbox_lists (           -- device IDs per list, harvested or desired
          mailbox    TEXT NOT NULL,            -- harvested: the identity; desired: as the MDM named it
          list       TEXT NOT NULL CHECK (list IN ('allowed', 'blocked')),
          source     TEXT NOT NULL CHECK (source IN ('harvested', 'desired')),
          device_id  TEXT NOT NULL,
          PRIMARY KEY (mailbox, list, source, device_id)
        );
        CREATE TABLE managed_lists (           -- lists the MDM has set: drift is checked on these
          mailbox    TEXT NOT NULL,
          list       TEXT NOT NULL CHECK (list IN ('allowed', 'blocked')),
          PRIMARY KEY (mailbox, list)
        );
        CREATE TABLE events (
          sequence   INTEGER PRIMARY KEY,      -- what a consumer has read up to
          at_ms      INTEGER NOT NULL,
          kind       TEXT NOT NULL,
          mailbox    TEXT NOT NULL,
          device_key TEXT NOT NULL,
          detail     TEXT NOT NULL             -- JSON
        );
        CREATE TABLE harvests (
          id          INTEGER PRIMARY KEY,
          kind        TEXT NOT NULL CHECK (kind IN ('full', 'delta')),
          started_ms  INTEGER NOT NULL,
          finished_ms INTEGER NOT NULL,
          devices     INTEGER NOT NULL,
          calls       INTEGER NOT NULL
        );
      )sql",
      // v4: what the 9090 status and metrics count on every call, without reading records.
      R"sql(
        CREATE INDEX devices_current ON devices (removed_ms, key);
        CREATE INDEX commands_by_state ON commands (state);
        CREATE INDEX harvests_by_kind ON harvests (kind, id);
      )sql",
      // v5: one key per mailbox, whatever name the MDM uses (agent/mailboxes/). The key is
      // Exchange's immutable id; every name Exchange answers to maps to it. Commands learn their
      // mailbox's key before they run; desired and harvested lists written from now on are
      // kept under it (rows an earlier release wrote under a name are re-keyed once the name
      // is known). Harvests that skipped a mailbox say so, and its devices' statistics are
      // marked stale.
      R"sql(
        CREATE TABLE mailbox_directory (
          key        TEXT PRIMARY KEY,         -- lower-case Guid (online: ExternalDirectoryObjectId)
          identity   TEXT NOT NULL,            -- as Exchange last gave it
          address    TEXT NOT NULL,            -- primary SMTP address
          seen_ms    INTEGER NOT NULL
        );
        CREATE TABLE mailbox_names (
          name       TEXT NOT NULL,            -- case-folded (common/text/case_fold.h)
          key        TEXT NOT NULL REFERENCES mailbox_directory (key),
          PRIMARY KEY (name, key)
        );
        CREATE INDEX mailbox_names_by_key ON mailbox_names (key);
        ALTER TABLE commands ADD COLUMN mailbox_key TEXT;  -- NULL until resolved
        ALTER TABLE harvests ADD COLUMN failed_mailboxes INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE devices ADD COLUMN statistics_stale_ms INTEGER;  -- set while they are old
        DROP TABLE mailboxes;                  -- replaced by mailbox_directory
      )sql",
      // v6: idempotency keys are each client's own (agent/commands/command_journal.cpp):
      // "<requested_by>\n<key>".
      R"sql(
        UPDATE commands SET idempotency_key = requested_by || char(10) || idempotency_key
          WHERE idempotency_key IS NOT NULL;
      )sql",
      // v7: the inventory has a file of its own (agent/inventory/inventory_store.h), so that a
      // harvest never holds the lock the journal needs. Its tables are copied there first.
      {R"sql(
        DROP TABLE device_changes;
        DROP TABLE events;
        DROP TABLE harvests;
        DROP TABLE devices;
      )sql",
       &agent::importInventoryFromStore},
      // v8: a digest of what the directory holds of each mailbox (agent/mailboxes/), so that a
      // harvest finding a mailbox as it was writes nothing; seen_ms is now when the directory
      // last learned something new of it.
      R"sql(
        ALTER TABLE mailbox_directory ADD COLUMN fingerprint TEXT;  -- NULL: written before v8
      )sql",
      // v9: the organisation's policy (agent/policy/). A command may wait for others (`after`,
      // a JSON array of command ids; a range since v15); the organisation's commands keep their
      // arguments in `organisation` (JSON: accessLevel, queryString, characteristic,
      // adminMailRecipients); each policy apply keeps what its rollback needs: the settings
      // before it and the device IDs it added.
      R"sql(
        ALTER TABLE commands ADD COLUMN organisation TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE commands ADD COLUMN after_ids TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE policy_applies (
          id               INTEGER PRIMARY KEY,      -- the command that sets the default
          plan             TEXT NOT NULL,            -- the plan's id
          at_ms            INTEGER NOT NULL,
          requested_by     TEXT NOT NULL,
          previous_level   TEXT NOT NULL,            -- DefaultAccessLevel before the apply
          level            TEXT NOT NULL,            -- and after it
          added            TEXT NOT NULL,            -- JSON [[mailbox, device ID], ...] it allowed
          rule_changes     TEXT NOT NULL,            -- JSON [{remove, queryString, characteristic,
                                                     --   level, previousLevel}, ...] it made
          rolled_back_by   INTEGER                   -- the rollback's command, once there is one
        );
      )sql",
      // v10: each mailbox's names also in its directory row (a JSON array of the case-folded
      // names), so that a mailbox's old names are removed by (name, key) and mailbox_names needs
      // no index by key. With one, the names of new mailboxes went in at random places in one
      // index or the other, whatever their order: a first harvest of 100,000 mailboxes wrote
      // 11 GB (agent/mailboxes/mailbox_directory.h, deferNames).
      R"sql(
        ALTER TABLE mailbox_directory ADD COLUMN names TEXT NOT NULL DEFAULT '[]';
        UPDATE mailbox_directory SET names =
          (SELECT coalesce(json_group_array(name), '[]') FROM
             (SELECT name FROM mailbox_names n WHERE n.key = mailbox_directory.key ORDER BY name));
        DROP INDEX mailbox_names_by_key;
      )sql",
      // v11: mailbox_names without a rowid. Its primary key (name, key) is all it holds: as a
      // rowid table every name was written twice, in the table and in the key's index, and
      // those two were three quarters of the directory (agent/mailboxes/mailbox_directory.h).
      R"sql(
        CREATE TABLE mailbox_names_by_name (
          name       TEXT NOT NULL,            -- case-folded (common/text/case_fold.h)
          key        TEXT NOT NULL REFERENCES mailbox_directory (key),
          PRIMARY KEY (name, key)
        ) WITHOUT ROWID;
        INSERT INTO mailbox_names_by_name (name, key)
          SELECT name, key FROM mailbox_names ORDER BY name, key;
        DROP TABLE mailbox_names;
        ALTER TABLE mailbox_names_by_name RENAME TO mailbox_names;
      )sql",
      // v12: what a harvest asks of every mailbox by its key (is it as the directory holds it;
      // its identity and address, for its partnerships) in an index that answers alone. The
      // table's rows are in the order they were added, so each of those questions read two
      // pages at random, the key's index and the row, where it now reads one
      // (agent/mailboxes/mailbox_directory.h).
      R"sql(
        CREATE INDEX mailbox_directory_held ON mailbox_directory (key, fingerprint, identity, address);
      )sql",
      // v13: the mailbox directory has a file of its own (agent/mailboxes/directory_file.h), so
      // that a first harvest's writes of every mailbox never share the journal's write-ahead
      // log, whose every commit waits for the disk, nor its write lock. Its tables and the
      // lists as Exchange held them are copied there first; the MDM's lists stay here.
      {R"sql(
        DROP INDEX mailbox_directory_held;
        DROP TABLE mailbox_names;
        DROP TABLE mailbox_directory;
        DELETE FROM mailbox_lists WHERE source = 'harvested';
      )sql",
       &agent::importDirectoryFromStore},
      // v14: the executor asks the journal which commands may run next (each mailbox's oldest
      // unfinished one, the urgent ones first) instead of reading every unfinished command on
      // each turn: a policy apply queues one for every device it keeps in. These indexes hold
      // the unfinished commands only, so they stay as small as what is queued however long the
      // journal grows; the queries name the same states (agent/commands/command_journal.cpp).
      // The index by the mailbox's name is no longer asked: commands queue by mailbox key. The
      // index by kind leaves the key out: a policy apply resolves 160,000 commands' keys, each
      // (a Guid) a write at a random place in every index that holds it.
      R"sql(
        DROP INDEX commands_unfinished;
        CREATE INDEX commands_open ON commands (id)
          WHERE state IN ('queued', 'running', 'retrying');
        CREATE INDEX commands_open_by_mailbox ON commands (mailbox_key, id)
          WHERE state IN ('queued', 'running', 'retrying');
        CREATE INDEX commands_open_by_kind ON commands (kind)
          WHERE state IN ('queued', 'running', 'retrying');
      )sql",
      // v15: what a command waits for is a range of ids, first to last (agent/commands/command.h,
      // CommandRange), where it was a JSON array of every id: a policy apply's default listed
      // each of its allows, 1 MB at 160,000, read and parsed at every run while they drained.
      // Every release wrote that array as one run of consecutive ids (a sequence is journaled in
      // one transaction under the journal's lock, without idempotency keys), so its smallest and
      // largest say the same.
      R"sql(
        ALTER TABLE commands ADD COLUMN after_first INTEGER;  -- NULL: it waits for nothing
        ALTER TABLE commands ADD COLUMN after_last INTEGER;
        UPDATE commands SET
            after_first = (SELECT min(value) FROM json_each(after_ids)),
            after_last = (SELECT max(value) FROM json_each(after_ids))
          WHERE after_ids <> '[]';
        ALTER TABLE commands DROP COLUMN after_ids;
      )sql",
  };
  return kMigrations;
}

}  // namespace

int currentSchemaVersion() { return static_cast<int>(migrations().size()); }

Result<int, StoreError> schemaVersion(Database& database) {
  auto query = database.prepare("PRAGMA user_version");
  if (!query) return query.error();
  auto row = query->step();
  if (!row) return row.error();
  return static_cast<int>(query->integer(0));
}

Result<void, StoreError> migrate(Database& database, const std::vector<Migration>& migrations,
                                 std::string_view schema) {
  const std::filesystem::path& file = database.file();
  auto version = schemaVersion(database);
  if (!version) return version.error();
  const int target = static_cast<int>(migrations.size());
  if (version.value() > target) {
    return StoreError{StoreErrc::kVersion,
                      file.string() + " has " + std::string(schema) + " schema version " +
                          std::to_string(version.value()) + ", newer than this easgate's " +
                          std::to_string(target) + ": it was written by a newer release"};
  }
  for (int next = version.value() + 1; next <= target; ++next) {
    const Migration& migration = migrations[static_cast<std::size_t>(next - 1)];
    auto failed = [&](const StoreError& e) {
      return StoreError{e.code, std::string(schema) + " schema migration " + std::to_string(next) +
                                    ": " + e.message};
    };
    if (migration.before) {
      if (auto r = migration.before(file); !r) return failed(r.error());
    }
    auto migrated = database.transaction([&]() -> Result<void, StoreError> {
      if (auto r = database.execute(migration.sql); !r) return failed(r.error());
      return database.execute("PRAGMA user_version = " + std::to_string(next));
    });
    if (!migrated) return migrated.error();
  }
  return {};
}

Result<void, StoreError> importFromStore(Database& into, const std::filesystem::path& store_file,
                                         const std::string& copy_sql) {
  {
    auto done = into.prepare("SELECT count(*) FROM imported_from_store");
    if (!done) return done.error();
    if (auto row = done->step(); !row) return row.error();
    if (done->integer(0) > 0) return {};
  }
  {
    // The path is bound, never spliced into the SQL.
    auto attach = into.prepare("ATTACH DATABASE ? AS legacy");
    if (!attach) return attach.error();
    if (auto x = attach->bind(1, store_file.string()).run(); !x) return x;
  }
  auto copied = [&]() -> Result<void, StoreError> {
    if (auto x = into.execute("PRAGMA main.synchronous = FULL"); !x) return x;
    return into.transaction([&]() -> Result<void, StoreError> {
      if (auto x = into.execute(copy_sql); !x) return x;
      return into.execute(
          "INSERT INTO imported_from_store (at_ms) "
          "VALUES (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))");
    });
  }();
  auto detached = into.execute("DETACH DATABASE legacy");
  if (!copied) return copied.error();
  return detached;
}

Result<std::unique_ptr<Database>, StoreError> openStore(const std::filesystem::path& file) {
  auto opened = Database::open(file);
  if (!opened) return opened.error();
  std::unique_ptr<Database> database = std::move(opened).value();
  if (auto migrated = migrate(*database, migrations(), "store"); !migrated) {
    return migrated.error();
  }
  return database;
}

}  // namespace easgate::agent::store
