#include "agent/harvest/inventory_queries.h"

#include "agent/inventory/object_text.h"
#include "common/json/json_value.h"

namespace easgate::agent {

Result<std::vector<DeviceRecord>, store::StoreError> currentInventory(store::Database& database) {
  auto q = database.prepare("SELECT record FROM devices WHERE removed_ms IS NULL ORDER BY key");
  if (!q) return q.error();
  std::vector<DeviceRecord> out;
  while (true) {
    auto row = q->step();
    if (!row) return row.error();
    if (!row.value()) break;
    auto doc = json::parseJson(q->text(0));
    if (!doc) {
      return store::StoreError{store::StoreErrc::kCorrupt,
                               "a stored device record is not JSON: " + doc.error().message};
    }
    DeviceRecord r;
    for (const auto& f : deviceFields()) {
      const json::JsonValue* v = doc->find(f.name);
      if (v && v->asString()) setFieldText(r, f, *v->asString());
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<InventoryEvent>, store::StoreError> eventsAfter(store::Database& database,
                                                                   std::int64_t after_sequence,
                                                                   std::size_t limit) {
  auto q = database.prepare(
      "SELECT sequence, at_ms, kind, mailbox, device_key, detail FROM events "
      "WHERE sequence > ? ORDER BY sequence LIMIT ?");
  if (!q) return q.error();
  q->bind(1, after_sequence).bind(2, static_cast<std::int64_t>(limit));
  std::vector<InventoryEvent> out;
  while (true) {
    auto row = q->step();
    if (!row) return row.error();
    if (!row.value()) break;
    out.push_back({q->integer(0), q->integer(1), q->text(2), q->text(3), q->text(4), q->text(5)});
  }
  return out;
}

Result<std::vector<FieldChange>, store::StoreError> deviceHistory(store::Database& database,
                                                                  std::string_view identity) {
  const std::string key = partnershipKey(identity);
  auto q = database.prepare(
      "SELECT at_ms, field, old_value, new_value FROM device_changes WHERE device_key = ? "
      "ORDER BY id");
  if (!q) return q.error();
  q->bind(1, key);
  std::vector<FieldChange> out;
  while (true) {
    auto row = q->step();
    if (!row) return row.error();
    if (!row.value()) break;
    out.push_back({q->integer(0), q->text(1), q->text(2), q->text(3)});
  }
  return out;
}

}  // namespace easgate::agent
