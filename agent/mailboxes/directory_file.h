#pragma once

#include <filesystem>
#include <memory>

#include "agent/store/database.h"

// The mailbox directory's file (agent/mailboxes/mailbox_directory.h holds its SQL). What it
// holds is what Exchange said of each mailbox, which every full harvest reads again: a first
// harvest writes a row and a dozen names for every mailbox of the organisation. In a file of its
// own, beside the store, those writes never share the store's write-ahead log with the journal,
// whose every commit waits for the disk (an MDM's 202 waits for it), nor the store's write lock.
// The MDM's own decisions about a mailbox's lists (desired and managed lists) stay in the store,
// written with the command that made them.
namespace easgate::agent {

// The directory's file, beside the store's: easgate.db -> easgate-mailboxes.db.
inline std::filesystem::path directoryFile(const std::filesystem::path& store_file) {
  return store_file.parent_path() / (store_file.stem().string() + "-mailboxes.db");
}

// Opens the directory's file and brings its schema up to date (creating it when it is not
// there). Its commits do not wait for the disk: a power cut may cost the last things learned,
// which the next harvest reads again, never the file's consistency (WAL).
Result<std::unique_ptr<store::Database>, store::StoreError> openDirectory(
    const std::filesystem::path& file);

// The store's migration 13, first step: the directory the store held up to its schema 12 (the
// mailboxes, their names, the lists as Exchange held them) copied into its own file. Runs once;
// safe to run again (a copy already made is not made twice).
Result<void, store::StoreError> importDirectoryFromStore(const std::filesystem::path& store_file);

}  // namespace easgate::agent
