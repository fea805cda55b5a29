#pragma once

#include <filesystem>
#include <system_error>

#include "agent/inventory/inventory_store.h"
#include "agent/mailboxes/directory_file.h"

namespace easgate::testing {

// Removes an agent's store and the files beside it (the inventory's, the mailbox directory's),
// each with its write-ahead log and shared memory. Those missing are no error. Close every
// connection to them first.
inline void removeStoreFiles(const std::filesystem::path& store) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    for (const auto& file : {store, agent::inventoryFile(store), agent::directoryFile(store)}) {
      std::filesystem::remove(file.string() + suffix, ignored);
    }
  }
}

}  // namespace easgate::testing
