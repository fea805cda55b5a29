#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/store/database.h"

namespace easgate::agent::store {

// The store's file in the agent's data directory.
inline std::filesystem::path storeFile(const std::filesystem::path& data_directory) {
  return data_directory / "easgate.db";
}

// The schema version this build writes. A file at a lower version is migrated on open; a file
// at a higher one (written by a newer easgate) is refused rather than misread.
int currentSchemaVersion();

// Migration N takes a file's schema from version N-1 to N: `before` (when set) runs first,
// outside the file's transaction, and must be safe to run again; then `sql`, in one transaction
// with the new version number (PRAGMA user_version).
struct Migration {
  using Before = Result<void, StoreError> (*)(const std::filesystem::path& file);
  Migration(const char* sql_text, Before before_sql = nullptr)  // NOLINT: plain SQL converts
      : sql(sql_text), before(before_sql) {}
  const char* sql;
  Before before;
};

// Brings `database` from its version to the last of `migrations`; refuses a file at a higher
// version (a newer release wrote it). `schema` names it in messages ("store", "inventory").
Result<void, StoreError> migrate(Database& database, const std::vector<Migration>& migrations,
                                 std::string_view schema);

// The first step of a migration that moves tables out of the store into a file of their own
// (the inventory's, the mailbox directory's), run on a connection to that file: unless the file
// holds a copy already (a row in its table imported_from_store), attaches `store_file` as
// `legacy`, runs `copy_sql` (which empties its tables and fills them from legacy's) and records
// the copy, in one transaction whose commit waits for the disk (the store drops its tables next),
// then detaches it. Safe to run again.
Result<void, StoreError> importFromStore(Database& into, const std::filesystem::path& store_file,
                                         const std::string& copy_sql);

// Opens the store and brings its schema up to date, one migration per transaction.
Result<std::unique_ptr<Database>, StoreError> openStore(const std::filesystem::path& file);

// The version recorded in the file (PRAGMA user_version).
Result<int, StoreError> schemaVersion(Database& database);

}  // namespace easgate::agent::store
