#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/inventory/device_record.h"
#include "agent/store/database.h"

// Reading what harvests stored: the current inventory, a device's history, the event feed.
namespace easgate::agent {

struct InventoryEvent {
  std::int64_t sequence = 0;
  std::int64_t at_ms = 0;
  std::string kind;  // device-discovered, access-state-changed, wipe-status-changed,
                     // partnership-removed, list-drift
  std::string mailbox;
  std::string device_key;
  std::string detail;  // JSON
};

struct FieldChange {
  std::int64_t at_ms = 0;
  std::string field;
  std::string old_value;
  std::string new_value;
};

// Every partnership Exchange had at the last harvest, in Identity order.
Result<std::vector<DeviceRecord>, store::StoreError> currentInventory(store::Database& database);

// Events after `after_sequence`, oldest first, at most `limit`.
Result<std::vector<InventoryEvent>, store::StoreError> eventsAfter(store::Database& database,
                                                                   std::int64_t after_sequence,
                                                                   std::size_t limit);

// How a partnership's fields changed, oldest first.
Result<std::vector<FieldChange>, store::StoreError> deviceHistory(store::Database& database,
                                                                  std::string_view identity);

}  // namespace easgate::agent
