#pragma once

#include <filesystem>
#include <memory>

#include "agent/store/database.h"

namespace easgate::agent::store {

// The store's file in the agent's data directory.
inline std::filesystem::path storeFile(const std::filesystem::path& data_directory) {
  return data_directory / "easgate.db";
}

// The schema version this build writes. A file at a lower version is migrated on open; a file
// at a higher one (written by a newer easgate) is refused rather than misread.
int currentSchemaVersion();

// Opens the store and brings its schema up to date, one migration per transaction.
Result<std::unique_ptr<Database>, StoreError> openStore(const std::filesystem::path& file);

// The version recorded in the file (PRAGMA user_version).
Result<int, StoreError> schemaVersion(Database& database);

}  // namespace easgate::agent::store
