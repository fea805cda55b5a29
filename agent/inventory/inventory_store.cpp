#include "agent/inventory/inventory_store.h"

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/store/schema.h"
#include "common/json/json_value.h"
#include "common/json/json_writer.h"

namespace easgate::agent {
namespace {

using store::StoreErrc;
using store::StoreError;
using StoreResult = Result<void, StoreError>;

// Migration N takes the inventory file from version N-1 to N. Append; never edit one released.
const std::vector<store::Migration>& migrations() {
  static const std::vector<store::Migration> kMigrations = {
      // 1: the tables the store (easgate.db) held up to its schema 6, moved here.
      R"sql(
        CREATE TABLE devices (
          key                 TEXT PRIMARY KEY,  -- the Identity, lower case, '/' separated
          mailbox             TEXT NOT NULL,     -- the mailbox part of the Identity
          record              TEXT NOT NULL,     -- JSON: the device record's fields as text
          first_seen_ms       INTEGER NOT NULL,
          last_seen_ms        INTEGER NOT NULL,
          removed_ms          INTEGER,           -- when a full harvest stopped finding it
          statistics_stale_ms INTEGER            -- set while its statistics are old
        );
        CREATE INDEX devices_current ON devices (removed_ms, key);
        CREATE TABLE device_changes (
          id         INTEGER PRIMARY KEY,
          device_key TEXT NOT NULL REFERENCES devices (key),
          at_ms      INTEGER NOT NULL,
          field      TEXT NOT NULL,
          old_value  TEXT NOT NULL,
          new_value  TEXT NOT NULL
        );
        CREATE INDEX device_changes_by_device ON device_changes (device_key, id);
        CREATE TABLE events (
          sequence   INTEGER PRIMARY KEY,        -- what a consumer has read up to
          at_ms      INTEGER NOT NULL,
          kind       TEXT NOT NULL,
          mailbox    TEXT NOT NULL,
          device_key TEXT NOT NULL,
          detail     TEXT NOT NULL               -- JSON
        );
        CREATE TABLE harvests (
          id               INTEGER PRIMARY KEY,
          kind             TEXT NOT NULL CHECK (kind IN ('full', 'delta')),
          started_ms       INTEGER NOT NULL,
          finished_ms      INTEGER NOT NULL,
          devices          INTEGER NOT NULL,
          calls            INTEGER NOT NULL,
          failed_mailboxes INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX harvests_by_kind ON harvests (kind, id);
        CREATE TABLE imported_from_store (     -- one row once the store's tables are copied
          at_ms INTEGER NOT NULL
        );
      )sql",
      // 2: the organisation's ActiveSync policy as the last full harvest read it
      // (agent/policy/organisation_policy.h): DefaultAccessLevel, AdminMailRecipients,
      // UserMailInsert and the device access rules, as one JSON document.
      R"sql(
        CREATE TABLE organisation_policy (
          id           INTEGER PRIMARY KEY CHECK (id = 1),
          document     TEXT NOT NULL,
          harvested_ms INTEGER NOT NULL
        );
      )sql",
      // 3: search (GET /v1/devices?q=): the start of a mailbox's name (its Identity's last
      // part), of its primary SMTP address or of a device ID, in any (ASCII) case. Indexes on
      // exactly the expressions InventoryStore::forEachDevice compares (kSearchedExpressions).
      R"sql(
        CREATE INDEX devices_by_mailbox_name
          ON devices (lower(replace(mailbox, rtrim(mailbox, replace(mailbox, '/', '')), '')));
        CREATE INDEX devices_by_address ON devices (lower(json_extract(record, '$.mailboxAddress')));
        CREATE INDEX devices_by_device_id ON devices (lower(json_extract(record, '$.deviceId')));
      )sql",
      // 4: the status page (InventoryStore::overview) counts current partnerships by access
      // state and device type and finds the longest quarantined and the stalest from these
      // indexes, where it read every record (about 3 s at 200,000 partnerships). Exactly the
      // expressions of kOverviewExpressions. Building them reads each record once, on the
      // first start of this release (about 2 s at 200,000 partnerships).
      R"sql(
        CREATE INDEX devices_by_access_state ON devices
          (removed_ms, coalesce(json_extract(record, '$.accessState'), ''),
           json_extract(record, '$.firstSyncTime'), key);
        CREATE INDEX devices_by_device_type
          ON devices (removed_ms, coalesce(json_extract(record, '$.deviceType'), ''));
        CREATE INDEX devices_by_last_sync ON devices
          (removed_ms, substr(coalesce(json_extract(record, '$.lastSuccessSync'), ''), 1, 19), key);
      )sql",
      // 5: the indexes of migrations 3 and 4 over columns, not over the record. SQLite rewrites
      // an index whenever an UPDATE sets a column it reads, whatever the value: over the record,
      // every saved record rewrote all five (a quarter of a delta harvest's time). Each indexed
      // field is now a column of its own beside the record (kIndexedColumns), which a save sets
      // only when its value changed. Backfilled here from the records, the indexes dropped first.
      R"sql(
        ALTER TABLE devices ADD COLUMN mailbox_address   TEXT NOT NULL DEFAULT '';
        ALTER TABLE devices ADD COLUMN device_id         TEXT NOT NULL DEFAULT '';
        ALTER TABLE devices ADD COLUMN access_state      TEXT NOT NULL DEFAULT '';
        ALTER TABLE devices ADD COLUMN device_type       TEXT NOT NULL DEFAULT '';
        ALTER TABLE devices ADD COLUMN first_sync_time   TEXT NOT NULL DEFAULT '';
        ALTER TABLE devices ADD COLUMN last_success_sync TEXT NOT NULL DEFAULT '';
        DROP INDEX devices_by_address;
        DROP INDEX devices_by_device_id;
        DROP INDEX devices_by_access_state;
        DROP INDEX devices_by_device_type;
        DROP INDEX devices_by_last_sync;
        UPDATE devices SET
          mailbox_address   = coalesce(json_extract(record, '$.mailboxAddress'), ''),
          device_id         = coalesce(json_extract(record, '$.deviceId'), ''),
          access_state      = coalesce(json_extract(record, '$.accessState'), ''),
          device_type       = coalesce(json_extract(record, '$.deviceType'), ''),
          first_sync_time   = coalesce(json_extract(record, '$.firstSyncTime'), ''),
          last_success_sync = coalesce(json_extract(record, '$.lastSuccessSync'), '');
        CREATE INDEX devices_by_address ON devices (lower(mailbox_address));
        CREATE INDEX devices_by_device_id ON devices (lower(device_id));
        CREATE INDEX devices_by_access_state
          ON devices (removed_ms, access_state, first_sync_time, key);
        CREATE INDEX devices_by_device_type ON devices (removed_ms, device_type);
        CREATE INDEX devices_by_last_sync
          ON devices (removed_ms, substr(last_success_sync, 1, 19), key);
      )sql",
  };
  return kMigrations;
}

// The record's fields that the inventory indexes, each kept in a column of its own beside the
// record (migration 5, which backfilled them the same way): the record stays the whole of what
// was read, the column is a copy a save keeps equal to it.
struct IndexedColumn {
  std::string_view column;
  std::string_view field;  // in deviceFields()
};
constexpr IndexedColumn kIndexedColumns[] = {
    {"mailbox_address", "mailboxAddress"}, {"device_id", "deviceId"},
    {"access_state", "accessState"},       {"device_type", "deviceType"},
    {"first_sync_time", "firstSyncTime"},  {"last_success_sync", "lastSuccessSync"},
};

// Sets every row's indexed columns from its record (records copied in as they were written).
std::string indexedColumnsFromRecords() {
  std::string sql = "UPDATE devices SET ";
  for (const IndexedColumn& c : kIndexedColumns) {
    if (sql.back() != ' ') sql += ", ";
    sql += std::string(c.column) + " = coalesce(json_extract(record, '$." + std::string(c.field) +
           "'), '')";
  }
  return sql;
}

// The indexed columns' names, in kIndexedColumns' order, each after ", " and `prefix` (a
// table's alias and its dot, or nothing).
std::string indexedColumnNames(std::string_view prefix) {
  std::string out;
  for (const IndexedColumn& c : kIndexedColumns) {
    out += ", ";
    out += prefix;
    out += c.column;
  }
  return out;
}

static_assert(std::size(kIndexedColumns) == kIndexedFieldCount);

// What HarvestWrite::stored() and staged() read of a partnership's row (as `d`), in
// StoredPartnership's order; storedFrom() reads them back.
const std::string& storedColumns() {
  static const std::string columns = [] {
    return "d.record, d.removed_ms IS NOT NULL, d.statistics_stale_ms IS NOT NULL, d.mailbox" +
           indexedColumnNames("d.");
  }();
  return columns;
}

// A StoredPartnership from storedColumns(), read from column `first` on.
StoredPartnership storedFrom(store::Statement& s, int first) {
  StoredPartnership out{
      s.text(first), s.integer(first + 1) != 0, s.integer(first + 2) != 0, s.text(first + 3), {}};
  for (std::size_t i = 0; i < kIndexedFieldCount; ++i) {
    out.indexed[i] = s.text(first + 4 + static_cast<int>(i));
  }
  return out;
}

const std::string& indexedValue(const DeviceFieldTexts& fields, const IndexedColumn& c) {
  static const std::string kNone;
  auto it = fields.find(c.field);
  return it == fields.end() ? kNone : it->second;
}

// Reads rows to the end, handing each to `row`.
template <typename F>
StoreResult eachRow(store::Statement& q, F&& row) {
  while (true) {
    auto stepped = q.step();
    if (!stepped) return stepped.error();
    if (!stepped.value()) return {};
    if constexpr (std::is_void_v<decltype(row())>) {
      row();
    } else {
      if (auto r = row(); !r) return r;
    }
  }
}

}  // namespace

std::string recordText(const DeviceFieldTexts& fields) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  for (const auto& [name, value] : fields) {
    w.key(name);
    w.string(value);
  }
  w.endObject();
  return out;
}

namespace {

// The members of a stored record in the order recordText() writes them: deviceFields() by
// name, as a DeviceFieldTexts map holds them. A reader of stored text finds each member's
// field by its place first (written by this agent, member k is field k of this order) and by
// its name only when that fails (a record written by an earlier release with fewer fields).
class StoredFieldOrder {
 public:
  static const StoredFieldOrder& get() {
    static const StoredFieldOrder order;
    return order;
  }

  // deviceFields() indexes, in stored order.
  const std::vector<std::size_t>& indexes() const { return indexes_; }

  // What the `position`th member of a record this release wrote starts with, up to its
  // value's opening quote: `{"accessControlRule":"` for the first, `,"accessState":"` after.
  const std::vector<std::string>& openings() const { return openings_; }

  // The deviceFields() index of the member `name`, the `position`th of its record; nullopt for
  // a name that is no field.
  std::optional<std::size_t> indexOf(std::size_t position, std::string_view name) const {
    if (position < indexes_.size() && deviceFields()[indexes_[position]].name == name) {
      return indexes_[position];
    }
    auto found = by_name_.find(name);
    if (found == by_name_.end()) return std::nullopt;
    return found->second;
  }

 private:
  StoredFieldOrder() {
    const auto& fields = deviceFields();
    for (std::size_t i = 0; i < fields.size(); ++i) {
      indexes_.push_back(i);
      by_name_.emplace(fields[i].name, i);
    }
    std::sort(indexes_.begin(), indexes_.end(),
              [&](std::size_t a, std::size_t b) { return fields[a].name < fields[b].name; });
    for (std::size_t i : indexes_) {
      std::string opening(openings_.empty() ? "{" : ",");
      json::appendString(opening, fields[i].name);
      opening += ":\"";
      openings_.push_back(std::move(opening));
    }
  }

  std::vector<std::size_t> indexes_;
  std::vector<std::string> openings_;
  std::unordered_map<std::string_view, std::size_t> by_name_;
};

}  // namespace

std::string recordText(const DeviceRecord& record) {
  const auto& fields = deviceFields();
  std::string out;
  out.reserve(1024);
  json::JsonWriter w(out);
  w.beginObject();
  for (std::size_t i : StoredFieldOrder::get().indexes()) {
    w.key(fields[i].name);
    w.string(fieldText(record, fields[i]));
  }
  w.endObject();
  return out;
}

namespace {

// Where the JSON string content that starts at `start` ends: its closing quote, the first quote
// (memchr: a page of 1,000 devices is about a megabyte of these) that no odd run of backslashes
// escapes; npos when there is none.
std::size_t closingQuote(std::string_view text, std::size_t start) {
  for (std::size_t quote = text.find('"', start); quote != std::string_view::npos;
       quote = text.find('"', quote + 1)) {
    std::size_t backslashes = 0;
    while (quote - backslashes > start && text[quote - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote;
  }
  return std::string_view::npos;
}

// The stored form is a flat object of strings that recordText() wrote: read directly, for a
// page of 1,000 devices reads 1,000 of them. Calls `member` with each name and its value as
// JSON string content (escapes as written); false for anything else.
template <typename Member>
bool forEachFlatMember(std::string_view text, Member&& member) {
  std::size_t at = 0;
  auto take = [&](char c) {
    if (at >= text.size() || text[at] != c) return false;
    ++at;
    return true;
  };
  auto string = [&](std::string_view& out) {
    if (!take('"')) return false;
    const std::size_t end = closingQuote(text, at);
    if (end == std::string_view::npos) return false;
    out = text.substr(at, end - at);
    at = end + 1;
    return true;
  };
  if (!take('{')) return false;
  if (take('}')) return at == text.size();
  do {
    std::string_view name, value;
    if (!string(name) || !take(':') || !string(value)) return false;
    member(name, value);
  } while (take(','));
  return take('}') && at == text.size();
}

// A record exactly as this release writes it (every field, in stored order): each member's
// value as JSON string content into `raw`, by deviceFields() index, without reading a name (each
// member must start with its position's opening). False for any other text, which
// forEachFlatMember() reads by name: an earlier release's record, or not a record at all.
bool readCurrentRecord(std::string_view text, std::vector<std::string_view>& raw) {
  const StoredFieldOrder& order = StoredFieldOrder::get();
  const std::vector<std::string>& openings = order.openings();
  const std::vector<std::size_t>& indexes = order.indexes();
  std::size_t at = 0;
  for (std::size_t position = 0; position < openings.size(); ++position) {
    const std::string& opening = openings[position];
    if (text.compare(at, opening.size(), opening) != 0) return false;
    at += opening.size();
    const std::size_t end = closingQuote(text, at);
    if (end == std::string_view::npos) return false;
    raw[indexes[position]] = text.substr(at, end - at);
    at = end + 1;
  }
  return at + 1 == text.size() && text[at] == '}';
}

}  // namespace

bool recordTextIs(const DeviceRecord& record, std::string_view text) {
  // The text recordText() writes, compared member by member as forEachFlatMember() reads it:
  // equal members in recordText()'s order, as many as it writes, make the same text to the byte.
  const auto& fields = deviceFields();
  const std::vector<std::size_t>& order = StoredFieldOrder::get().indexes();
  thread_local std::string written;  // a member's value as recordText() would write it
  std::size_t position = 0;
  bool same = true;
  const bool flat = forEachFlatMember(text, [&](std::string_view name, std::string_view raw) {
    if (!same) return;
    if (position == order.size() || fields[order[position]].name != name) {
      same = false;
      return;
    }
    const DeviceField& field = fields[order[position++]];
    if (field.text) {
      const std::string& value = record.*field.text;
      // Text that needs no escape is written as it is: most of it, compared without a copy.
      const bool plain = std::all_of(value.begin(), value.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
      });
      if (plain) {
        same = raw == value;
        return;
      }
      written.clear();
      json::appendString(written, value);  // with its quotes
      same = std::string_view(written).substr(1, written.size() - 2) == raw;
      return;
    }
    written.clear();
    if (const auto& time = record.*field.time) appendTimestamp(written, *time);
    same = raw == written;
  });
  return flat && same && position == order.size();
}

namespace {

// JSON string content without escapes, or nullopt when it has a \u escape (the general parser
// decodes those).
std::optional<std::string> unescaped(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out.push_back(raw[i]);
      continue;
    }
    if (++i >= raw.size()) return std::nullopt;
    auto c = json::escapedCharacter(raw[i]);
    if (!c) return std::nullopt;
    out.push_back(*c);
  }
  return out;
}

std::optional<DeviceFieldTexts> readFlatRecord(std::string_view text) {
  DeviceFieldTexts out;
  bool plain = true;
  const bool flat = forEachFlatMember(text, [&](std::string_view name, std::string_view raw) {
    auto value = unescaped(raw);
    if (!value) plain = false;
    if (plain) out.insert_or_assign(std::string(name), std::move(*value));
  });
  if (!flat || !plain) return std::nullopt;
  return out;
}

}  // namespace

Result<DeviceRecord, StoreError> recordFromText(const std::string& text) {
  const StoredFieldOrder& order = StoredFieldOrder::get();
  const auto& fields = deviceFields();
  DeviceRecord r;
  bool plain = true;
  std::size_t position = 0;
  const bool flat = forEachFlatMember(text, [&](std::string_view name, std::string_view raw) {
    const auto index = order.indexOf(position++, name);
    if (!plain || !index) return;
    if (raw.find('\\') == std::string_view::npos) {
      setFieldText(r, fields[*index], raw);
    } else if (auto value = unescaped(raw)) {
      setFieldText(r, fields[*index], *value);
    } else {
      plain = false;
    }
  });
  if (flat && plain) return r;
  auto texts = fieldTextsFromRecord(text);  // \u escapes: the general parser
  if (!texts) return texts.error();
  return recordFromFieldTexts(texts.value());
}

Result<DeviceFieldTexts, StoreError> fieldTextsFromRecord(const std::string& text) {
  if (auto flat = readFlatRecord(text)) return std::move(*flat);
  auto doc = json::parseJson(text);
  if (!doc || !doc->asObject()) {
    return StoreError{StoreErrc::kCorrupt, "a stored device record is not a JSON object"};
  }
  DeviceFieldTexts out;
  for (const auto& [name, value] : *doc->asObject()) {
    if (value.asString()) out[name] = *value.asString();
  }
  return out;
}

DeviceFieldTexts fieldTextsOf(const DeviceRecord& record) {
  DeviceFieldTexts out;
  for (const auto& f : deviceFields()) out[std::string(f.name)] = fieldText(record, f);
  return out;
}

DeviceRecord recordFromFieldTexts(const DeviceFieldTexts& fields) {
  DeviceRecord r;
  for (const auto& f : deviceFields()) {
    auto it = fields.find(std::string(f.name));
    if (it != fields.end()) setFieldText(r, f, it->second);
  }
  return r;
}

void appendStoredDeviceJson(std::string& out, const StoredDeviceView& device) {
  const std::initializer_list<JsonTime> seen = {{"firstSeen", device.first_seen_ms},
                                                {"lastSeen", device.last_seen_ms}};
  // Each field's stored JSON string content, by its place in deviceFields(); copied as it is:
  // the stored form and the API's escape strings alike (common/json/json_writer.h). Kept per
  // thread: a page asks for it once per device.
  thread_local std::vector<std::string_view> raw;
  raw.assign(deviceFields().size(), std::string_view());
  bool flat = readCurrentRecord(device.record, raw);
  if (!flat) {  // an earlier release's record: each member found by its name
    const StoredFieldOrder& order = StoredFieldOrder::get();
    std::size_t position = 0;
    flat = forEachFlatMember(device.record, [&](std::string_view name, std::string_view v) {
      if (const auto index = order.indexOf(position++, name)) raw[*index] = v;
    });
  }
  if (!flat) {
    // Not the usual form: through a record.
    auto record = recordFromText(std::string(device.record));
    appendDeviceJson(out, record ? record.value() : DeviceRecord{}, seen);
    return;
  }
  appendDeviceJson(out, raw, seen);
}

// --- HarvestWrite -----------------------------------------------------------------------------

Result<std::optional<StoredPartnership>, StoreError> HarvestWrite::stored(const std::string& key) {
  static const std::string kSelect = "SELECT " + storedColumns() + " FROM devices d WHERE key = ?";
  auto q = statements_.get(kSelect);
  if (!q) return q.error();
  store::Statement& s = *q.value();
  s.bind(1, key);
  auto row = s.step();
  if (!row) return row.error();
  if (!row.value()) return std::optional<StoredPartnership>();
  StoredPartnership out = storedFrom(s, 0);
  s.reset();
  return std::optional(std::move(out));
}

HarvestWrite::StoreResult HarvestWrite::seen(const std::string& key, Source source) {
  // A staged partnership was seen (removeUnseen reads both): only the others are written, the
  // few that statistics alone named (unless the listing gave their key too).
  if (source == Source::kStaged) return {};
  if (auto x = indexStaged(); !x) return x;
  auto q = statements_.get(
      "INSERT OR IGNORE INTO staging.harvest_seen (key) SELECT ?1 "
      "WHERE NOT EXISTS (SELECT 1 FROM staging.harvest_staged WHERE key = ?1)");
  if (!q) return q.error();
  return q.value()->bind(1, key).run();
}

HarvestWrite::StoreResult HarvestWrite::save(const std::string& key,
                                             const std::optional<StoredPartnership>& stored,
                                             const std::string& mailbox,
                                             const DeviceFieldTexts& fields, bool statistics_stale,
                                             Source source) {
  const std::optional<std::string> stale =
      statistics_stale ? std::optional(std::to_string(now_ms_)) : std::nullopt;
  const std::string record = recordText(fields);
  if (!stored) {
    static const std::string kInsert = [] {
      std::string sql =
          "INSERT INTO devices (key, mailbox, record, first_seen_ms, last_seen_ms, "
          "statistics_stale_ms" +
          indexedColumnNames("") + ") VALUES (?1, ?2, ?3, ?4, ?4, ?5";
      for (std::size_t i = 0; i < std::size(kIndexedColumns); ++i) {
        sql += ", ?" + std::to_string(i + 6);
      }
      return sql + ")";
    }();
    auto q = statements_.get(kInsert);
    if (!q) return q.error();
    store::Statement& insert = *q.value();
    insert.bind(1, key).bind(2, mailbox).bind(3, record).bind(4, now_ms_).bind(5, stale);
    int at = 6;
    for (const IndexedColumn& c : kIndexedColumns) insert.bind(at++, indexedValue(fields, c));
    if (auto x = insert.run(); !x) return x;
    return seen(key, source);
  }
  // Found again, or changed: it keeps its first sighting and, while its statistics stay old,
  // when they became so. The columns that indexes read are set only when their value changed
  // (kIndexedColumns), so that a device whose state changed rewrites the state's index alone.
  std::string sql =
      "UPDATE devices SET record = ?1, last_seen_ms = ?2, statistics_stale_ms = CASE WHEN ?3 IS "
      "NULL THEN NULL ELSE coalesce(statistics_stale_ms, ?3) END";
  const bool mailbox_changed = stored->mailbox != mailbox;
  if (stored->removed) sql += ", removed_ms = NULL";
  if (mailbox_changed) sql += ", mailbox = ?5";
  std::array<bool, std::size(kIndexedColumns)> changed{};
  for (std::size_t i = 0; i < changed.size(); ++i) {
    changed[i] = stored->indexed[i] != indexedValue(fields, kIndexedColumns[i]);
    if (changed[i]) {
      sql += ", " + std::string(kIndexedColumns[i].column) + " = ?" + std::to_string(i + 6);
    }
  }
  sql += " WHERE key = ?4";
  auto q = statements_.get(sql);
  if (!q) return q.error();
  store::Statement& update = *q.value();
  update.bind(1, record).bind(2, now_ms_).bind(3, stale).bind(4, key);
  if (mailbox_changed) update.bind(5, mailbox);
  for (std::size_t i = 0; i < changed.size(); ++i) {
    if (changed[i]) update.bind(static_cast<int>(i) + 6, indexedValue(fields, kIndexedColumns[i]));
  }
  if (auto x = update.run(); !x) return x;
  return seen(key, source);
}

HarvestWrite::StoreResult HarvestWrite::unchanged(const std::string& key, bool touch,
                                                  Source source) {
  if (touch) {
    auto q = statements_.get("UPDATE devices SET last_seen_ms = ? WHERE key = ?");
    if (!q) return q.error();
    if (auto x = q.value()->bind(1, now_ms_).bind(2, key).run(); !x) return x;
  }
  return seen(key, source);
}

HarvestWrite::StoreResult HarvestWrite::change(const std::string& key, const std::string& field,
                                               const std::string& old_value,
                                               const std::string& new_value) {
  auto q = statements_.get(
      "INSERT INTO device_changes (device_key, at_ms, field, old_value, new_value) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!q) return q.error();
  return q.value()
      ->bind(1, key)
      .bind(2, now_ms_)
      .bind(3, field)
      .bind(4, old_value)
      .bind(5, new_value)
      .run();
}

HarvestWrite::StoreResult HarvestWrite::event(std::string_view kind, const std::string& mailbox,
                                              const std::string& key, const std::string& detail) {
  auto q = statements_.get(
      "INSERT INTO events (at_ms, kind, mailbox, device_key, detail) VALUES (?, ?, ?, ?, ?)");
  if (!q) return q.error();
  return q.value()
      ->bind(1, now_ms_)
      .bind(2, kind)
      .bind(3, mailbox)
      .bind(4, key)
      .bind(5, detail)
      .run();
}

HarvestWrite::StoreResult HarvestWrite::policy(const std::string& document) {
  auto q = statements_.get(
      "INSERT OR REPLACE INTO organisation_policy (id, document, harvested_ms) VALUES (1, ?, ?)");
  if (!q) return q.error();
  return q.value()->bind(1, document).bind(2, now_ms_).run();
}

HarvestWrite::StoreResult HarvestWrite::finished(const HarvestRun& run) {
  auto q = statements_.get(
      "UPDATE harvests SET finished_ms = ?, devices = ?, calls = ?, failed_mailboxes = ? "
      "WHERE id = ?");
  if (!q) return q.error();
  return q.value()
      ->bind(1, run.finished_ms)
      .bind(2, run.devices)
      .bind(3, run.calls)
      .bind(4, run.failed_mailboxes)
      .bind(5, harvest_)
      .run();
}

namespace {

// A partnership's record as the harvest stages it in its staging file, which lives and dies with
// the harvest (no other release reads it): each of deviceFields() in order, as its length in bytes
// (a LEB128 varint) and its bytes; a time as its ticks, 8 bytes little-endian, or no bytes when
// there is none. Two fifths of recordText()'s JSON for the same record, with nothing to escape,
// format or parse: 200,000 of them are written and read back in each full harvest.
void appendStagedRecord(std::vector<std::uint8_t>& out, const DeviceRecord& record) {
  auto length = [&](std::size_t n) {
    for (; n >= 0x80; n >>= 7) out.push_back(static_cast<std::uint8_t>(n | 0x80));
    out.push_back(static_cast<std::uint8_t>(n));
  };
  for (const DeviceField& field : deviceFields()) {
    if (field.text) {
      const std::string& text = record.*field.text;
      length(text.size());
      out.insert(out.end(), text.begin(), text.end());
    } else if (const auto& time = record.*field.time) {
      length(8);
      auto ticks = static_cast<std::uint64_t>(time->time_since_epoch().count());
      for (int i = 0; i < 8; ++i, ticks >>= 8) out.push_back(static_cast<std::uint8_t>(ticks));
    } else {
      length(0);
    }
  }
}

Result<DeviceRecord, StoreError> recordFromStaged(std::span<const std::uint8_t> bytes) {
  const StoreError corrupt{StoreErrc::kCorrupt,
                           "a staged partnership's record is not as the harvest staged it"};
  std::size_t at = 0;
  auto length = [&]() -> std::optional<std::size_t> {
    std::size_t n = 0;
    for (int shift = 0; at < bytes.size() && shift < 64; shift += 7) {
      const std::uint8_t b = bytes[at++];
      n |= static_cast<std::size_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return n <= bytes.size() - at ? std::optional(n) : std::nullopt;
    }
    return std::nullopt;
  };
  DeviceRecord record;
  for (const DeviceField& field : deviceFields()) {
    const auto n = length();
    if (!n) return corrupt;
    const auto* value = bytes.data() + at;
    at += *n;
    if (field.text) {
      (record.*field.text).assign(reinterpret_cast<const char*>(value), *n);
    } else if (*n == 8) {
      std::uint64_t ticks = 0;
      for (int i = 7; i >= 0; --i) ticks = (ticks << 8) | value[i];
      record.*field.time = Timestamp(Ticks(static_cast<std::int64_t>(ticks)));
    } else if (*n != 0) {
      return corrupt;
    }
  }
  if (at != bytes.size()) return corrupt;
  return record;
}

}  // namespace

HarvestWrite::StoreResult HarvestWrite::stage(const std::string& key, const std::string& mailbox,
                                              const std::string& mailbox_dn,
                                              const DeviceRecord& record) {
  if (staged_indexed_) {  // staged after reading began: the last of a key replaces the others
    auto earlier = statements_.get("DELETE FROM staging.harvest_staged WHERE key = ?");
    if (!earlier) return earlier.error();
    if (auto x = earlier.value()->bind(1, key).run(); !x) return x;
  }
  auto q = statements_.get(
      "INSERT INTO staging.harvest_staged (key, mailbox, mailbox_dn, record) VALUES (?, ?, ?, ?)");
  if (!q) return q.error();
  staged_record_.clear();
  appendStagedRecord(staged_record_, record);
  return q.value()
      ->bind(1, key)
      .bind(2, mailbox)
      .bind(3, mailbox_dn)
      .bindBlob(4, staged_record_)
      .run();
}

HarvestWrite::StoreResult HarvestWrite::indexStaged() {
  if (staged_indexed_) return {};
  // Sorting what was staged once costs far less than keeping two indexes of it in order while
  // rows arrive in no order (figures in tests/bench/README.md, "Staging sorted once").
  // Partnerships listed twice keep the last listing, as Exchange last gave them.
  if (auto x = database_.execute(
          "CREATE INDEX staging.harvest_staged_by_key ON harvest_staged (key); "
          "DELETE FROM staging.harvest_staged WHERE key IN "
          "  (SELECT key FROM staging.harvest_staged GROUP BY key HAVING count(*) > 1) "
          "AND rowid NOT IN "
          "  (SELECT max(rowid) FROM staging.harvest_staged GROUP BY key HAVING count(*) > 1); "
          "CREATE INDEX staging.harvest_staged_by_mailbox ON harvest_staged (mailbox, key);");
      !x) {
    return x;
  }
  staged_indexed_ = true;
  return {};
}

Result<std::size_t, StoreError> HarvestWrite::stagedMailboxCount() {
  if (auto x = indexStaged(); !x) return x.error();
  auto q = statements_.get("SELECT count(DISTINCT mailbox) FROM staging.harvest_staged");
  if (!q) return q.error();
  auto row = q.value()->step();
  if (!row) return row.error();
  const auto count = static_cast<std::size_t>(q.value()->integer(0));
  q.value()->reset();
  return count;
}

Result<std::vector<std::string>, StoreError> HarvestWrite::stagedMailboxes(const std::string& after,
                                                                           std::size_t limit) {
  if (auto x = indexStaged(); !x) return x.error();
  auto q = statements_.get(
      "SELECT DISTINCT mailbox FROM staging.harvest_staged WHERE mailbox > ? ORDER BY mailbox "
      "LIMIT ?");
  if (!q) return q.error();
  q.value()->bind(1, after).bind(2, static_cast<std::int64_t>(limit));
  std::vector<std::string> mailboxes;
  auto read = eachRow(*q.value(), [&]() -> StoreResult {
    mailboxes.push_back(q.value()->text(0));
    return {};
  });
  if (!read) return read.error();
  return mailboxes;
}

Result<std::vector<StagedPartnership>, StoreError> HarvestWrite::staged(const std::string& first,
                                                                        const std::string& last) {
  if (auto x = indexStaged(); !x) return x.error();
  static const std::string kSelect =
      "SELECT s.mailbox, s.key, s.mailbox_dn, s.record, " + storedColumns() +
      " FROM staging.harvest_staged s LEFT JOIN devices d ON d.key = s.key "
      "WHERE s.mailbox BETWEEN ? AND ? ORDER BY s.mailbox, s.key";
  auto q = statements_.get(kSelect);
  if (!q) return q.error();
  store::Statement& st = *q.value();
  st.bind(1, first).bind(2, last);
  std::vector<StagedPartnership> staged;
  auto read = eachRow(st, [&]() -> StoreResult {
    auto record = recordFromStaged(st.blobView(3));
    if (!record) return record.error();
    StagedPartnership s;
    s.key = st.text(1);
    s.mailbox_dn = st.text(2);
    s.record = std::move(record).value();
    s.mailbox = st.text(0);
    s.stored_read = true;
    if (!st.isNull(4)) s.stored = storedFrom(st, 4);
    staged.push_back(std::move(s));
    return {};
  });
  if (!read) return read.error();
  return staged;
}

HarvestWrite::StoreResult HarvestWrite::removeUnseen(
    const std::function<StoreResult(const std::string&, const DeviceFieldTexts&)>& removed) {
  if (auto x = indexStaged(); !x) return x;
  auto gone = database_.prepare(
      "SELECT key, record FROM devices WHERE removed_ms IS NULL "
      "AND key NOT IN (SELECT key FROM staging.harvest_staged) "
      "AND key NOT IN (SELECT key FROM staging.harvest_seen) ORDER BY key");
  if (!gone) return gone.error();
  auto mark = database_.prepare("UPDATE devices SET removed_ms = ? WHERE key = ?");
  if (!mark) return mark.error();
  return eachRow(*gone, [&]() -> StoreResult {
    const std::string key = gone->text(0);
    auto fields = fieldTextsFromRecord(gone->text(1));
    if (!fields) return fields.error();
    if (auto x = mark->bind(1, now_ms_).bind(2, key).run(); !x) return x;
    return removed(key, fields.value());
  });
}

// --- InventoryStore ---------------------------------------------------------------------------

namespace {
// When a current partnership was last seen: a full harvest writes nothing for one that did not
// change, yet read it.
const std::string kLastSeen =
    "max(last_seen_ms, coalesce((SELECT max(finished_ms) FROM harvests WHERE kind = 'full'), 0))";
// A delta harvest's page cache on the inventory's connection (applyHarvest): 2,000
// partnerships changed touch as many pages of the table, 32 MiB in pages of 16 KiB, and the
// indexes' besides.
constexpr std::int64_t kDeltaCacheKiB = 64 * 1024;
// A new inventory file's pages. A partnership's row is 1.3-1.9 KB: in SQLite's default 4 KiB pages
// two fitted and a third of each page was left empty. In 16 KiB pages a first harvest of 200,000
// partnerships writes a quarter less; a delta rewrites a larger page per partnership it changes,
// in the same time (figures in tests/bench/README.md). An inventory an earlier release wrote
// keeps its 4 KiB pages: SQLite reads either, and changing them would rewrite the whole file.
constexpr std::uint32_t kInventoryPageBytes = 16 * 1024;
}  // namespace

int InventoryStore::currentSchemaVersion() { return static_cast<int>(migrations().size()); }

Result<std::unique_ptr<InventoryStore>, StoreError> InventoryStore::open(
    const std::filesystem::path& file) {
  // A first harvest ends with some 850 MiB of indexes and checkpoint at 200,000 partnerships:
  // written at a pace the journal's fsyncs can get past (store/paced_writes.h).
  auto opened = store::Database::open(file, store::Database::Pacing::kPaced, kInventoryPageBytes);
  if (!opened) return opened.error();
  std::unique_ptr<store::Database> db = std::move(opened).value();
  // What a harvest writes, the next harvest reads again from Exchange: a power cut may cost
  // the last commit, never the file's consistency (WAL).
  if (auto r = db->commitWithoutWaitingForTheDisk(); !r) return r.error();
  if (auto migrated = store::migrate(*db, migrations(), "inventory"); !migrated) {
    return migrated.error();
  }
  return std::unique_ptr<InventoryStore>(new InventoryStore(std::move(db)));
}

Result<std::optional<std::int64_t>, StoreError> InventoryStore::lastHarvestStart() {
  auto q = database_->prepare("SELECT max(started_ms) FROM harvests");
  if (!q) return q.error();
  auto row = q->step();
  if (!row) return row.error();
  if (!row.value() || q->isNull(0)) return std::optional<std::int64_t>();
  return std::optional(q->integer(0));
}

Result<std::optional<StoredPolicy>, StoreError> InventoryStore::policy() {
  auto q = database_->prepare("SELECT document, harvested_ms FROM organisation_policy");
  if (!q) return q.error();
  auto row = q->step();
  if (!row) return row.error();
  if (!row.value()) return std::optional<StoredPolicy>();
  return std::optional(StoredPolicy{q->text(0), q->integer(1)});
}

Result<bool, StoreError> InventoryStore::known(const std::string& key) {
  auto q = database_->prepare("SELECT 1 FROM devices WHERE key = ?");
  if (!q) return q.error();
  q->bind(1, key);
  auto row = q->step();
  if (!row) return row.error();
  return row.value();
}

namespace {

// What a search compares, each the expression of an index of migration 5, character for
// character (SQLite uses an expression index only for the same expression).
constexpr std::string_view kSearchedExpressions[] = {
    "lower(replace(mailbox, rtrim(mailbox, replace(mailbox, '/', '')), ''))",
    "lower(mailbox_address)",
    "lower(device_id)",
};

}  // namespace

Result<store::Statement, StoreError> InventoryStore::devicesQuery(const DeviceFilter& f,
                                                                  std::string_view prefix) {
  // A search is a range on each searched expression: [text, text + U+10FFFF). The unary +
  // keeps the planner off devices_current (key order), so that it reads the three indexes
  // (a multi-index OR) and sorts what they find.
  std::string search;
  if (!f.search.empty()) {
    search = "AND (";
    for (std::string_view e : kSearchedExpressions) {
      if (search.size() > 5) search += " OR ";
      search += "(" + std::string(e) + " >= ?7 AND " + std::string(e) + " < ?8)";
    }
    search += ") ";
  }
  const std::string unindexed = f.search.empty() ? "" : "+";
  // Times are stored as ISO 8601 text; their first 19 characters compare in time order (to the
  // second).
  auto q = database_->prepare(
      std::string(prefix) + "SELECT key, record, first_seen_ms, " + kLastSeen +
      " FROM devices "
      "WHERE " +
      unindexed + "removed_ms IS NULL AND " + unindexed + "key > ?1 " + search +
      "AND (?2 = '' OR lower(mailbox) = lower(?2) OR lower(mailbox_address) = lower(?2)) "
      "AND (?3 = '' OR access_state = ?3) "
      "AND (?4 = '' OR lower(device_type) = lower(?4)) "
      "AND (?5 = '' OR substr(last_success_sync, 1, 19) >= ?5) "
      "ORDER BY key LIMIT ?6");
  if (!q) return q.error();
  q->bind(1, f.after_key).bind(2, f.mailbox).bind(3, f.access_state).bind(4, f.device_type);
  q->bind(5, f.synced_since).bind(6, static_cast<std::int64_t>(f.limit));
  if (!f.search.empty()) q->bind(7, f.search).bind(8, f.search + "\xF4\x8F\xBF\xBF");
  return q;
}

Result<std::string, StoreError> InventoryStore::devicesPlan(const DeviceFilter& f) {
  auto q = devicesQuery(f, "EXPLAIN QUERY PLAN ");
  if (!q) return q.error();
  std::string plan;
  auto read = eachRow(q.value(), [&]() -> StoreResult {
    plan += q.value().text(3) + "\n";
    return {};
  });
  if (!read) return read.error();
  return plan;
}

Result<void, StoreError> InventoryStore::forEachDevice(
    const DeviceFilter& f, const std::function<void(const StoredDeviceView&)>& each) {
  auto prepared = devicesQuery(f);
  if (!prepared) return prepared.error();
  store::Statement& q = prepared.value();
  return eachRow(q, [&] {
    each(StoredDeviceView{q.textView(0), q.textView(1), q.integer(2), q.integer(3)});
  });
}

Result<std::optional<StoredDevice>, StoreError> InventoryStore::device(const std::string& key) {
  auto q = database_->prepare("SELECT key, record, first_seen_ms, " + kLastSeen +
                              " FROM devices WHERE key = ? AND removed_ms IS NULL");
  if (!q) return q.error();
  q->bind(1, key);
  auto row = q->step();
  if (!row) return row.error();
  if (!row.value()) return std::optional<StoredDevice>();
  return std::optional(StoredDevice{q->text(0), q->text(1), q->integer(2), q->integer(3)});
}

namespace {

// Deletes the rows of `table` recorded (`at_ms`) before `cutoff_ms`, in the order of `id`, a few
// thousand per transaction; stops at the first row recorded at or after the cutoff. Short
// transactions keep the write-ahead log short; they wait for nobody, since only the harvester
// writes this file, and readers keep their snapshots. `keep_newest`: never the row of the highest
// `id`. The names are this file's constants, never a request's.
Result<std::size_t, StoreError> forgetOldest(store::Database& db, const std::string& table,
                                             const std::string& id, std::int64_t cutoff_ms,
                                             bool keep_newest) {
  constexpr std::int64_t kPerTransaction = 5'000;
  const std::string newest =
      keep_newest ? " WHERE " + id + " < (SELECT max(" + id + ") FROM " + table + ")" : "";
  std::size_t forgotten = 0;
  bool more = true;
  while (more) {
    more = false;
    std::size_t deleted_now = 0;
    auto deleted = db.transaction([&]() -> StoreResult {
      auto oldest = db.prepare("SELECT " + id + ", at_ms FROM " + table + newest + " ORDER BY " +
                               id + " LIMIT ?");
      if (!oldest) return oldest.error();
      oldest->bind(1, kPerTransaction);
      std::optional<std::int64_t> last_old;
      std::int64_t rows = 0;
      bool young_found = false;
      auto read = eachRow(*oldest, [&] {
        ++rows;
        if (young_found || oldest->integer(1) >= cutoff_ms) {
          young_found = true;
          return;
        }
        last_old = oldest->integer(0);
      });
      if (!read) return read;
      if (!last_old) return {};
      auto forget = db.prepare("DELETE FROM " + table + " WHERE " + id + " <= ?");
      if (!forget) return forget.error();
      if (auto x = forget->bind(1, *last_old).run(); !x) return x;
      deleted_now = static_cast<std::size_t>(db.changes());
      more = !young_found && rows == kPerTransaction;
      return {};
    });
    if (!deleted) return deleted.error();
    forgotten += deleted_now;
  }
  return forgotten;
}

}  // namespace

Result<std::size_t, StoreError> InventoryStore::forgetChangesBefore(std::int64_t cutoff_ms) {
  return forgetOldest(*database_, "device_changes", "id", cutoff_ms, /*keep_newest=*/false);
}

Result<std::size_t, StoreError> InventoryStore::forgetEventsBefore(std::int64_t cutoff_ms) {
  return forgetOldest(*database_, "events", "sequence", cutoff_ms, /*keep_newest=*/true);
}

Result<std::vector<FieldChange>, StoreError> InventoryStore::history(const std::string& key) {
  auto q = database_->prepare(
      "SELECT at_ms, field, old_value, new_value FROM device_changes WHERE device_key = ? "
      "ORDER BY id");
  if (!q) return q.error();
  q->bind(1, key);
  std::vector<FieldChange> out;
  auto read = eachRow(*q, [&] {
    out.push_back({q->integer(0), q->text(1), q->text(2), q->text(3)});
  });
  if (!read) return read.error();
  return out;
}

Result<std::vector<InventoryEvent>, StoreError> InventoryStore::eventsAfter(
    std::int64_t after_sequence, std::size_t limit) {
  auto q = database_->prepare(
      "SELECT sequence, at_ms, kind, mailbox, device_key, detail FROM events "
      "WHERE sequence > ? ORDER BY sequence LIMIT ?");
  if (!q) return q.error();
  q->bind(1, after_sequence).bind(2, static_cast<std::int64_t>(limit));
  std::vector<InventoryEvent> out;
  auto read = eachRow(*q, [&] {
    out.push_back({q->integer(0), q->integer(1), q->text(2), q->text(3), q->text(4), q->text(5)});
  });
  if (!read) return read.error();
  return out;
}

Result<std::optional<std::int64_t>, StoreError> InventoryStore::eventsForgottenAfter(
    std::int64_t after_sequence) {
  if (after_sequence <= 0) return std::optional<std::int64_t>();
  // Sequences have no gaps (a failed harvest's events roll back with it): a reader whose next
  // event is older than the oldest kept missed those between.
  auto q = database_->prepare("SELECT min(sequence) FROM events");
  if (!q) return q.error();
  auto row = q->step();
  if (!row) return row.error();
  if (!row.value() || q->isNull(0) || after_sequence + 1 >= q->integer(0)) {
    return std::optional<std::int64_t>();
  }
  return std::optional(q->integer(0) - 1);
}

Result<EventsRead, StoreError> InventoryStore::readEvents(std::int64_t after_sequence,
                                                          std::size_t limit) {
  EventsRead out;
  auto read = database_->read([&]() -> StoreResult {
    auto forgotten = eventsForgottenAfter(after_sequence);
    if (!forgotten) return forgotten.error();
    out.forgotten_cursor = forgotten.value();
    if (out.forgotten_cursor) return {};
    auto events = eventsAfter(after_sequence, limit);
    if (!events) return events.error();
    out.events = std::move(events).value();
    return {};
  });
  if (!read) return read.error();
  return out;
}

Result<void, StoreError> InventoryStore::forEachCurrent(
    const std::function<void(const DeviceRecord&)>& each) {
  auto q = database_->prepare("SELECT record FROM devices WHERE removed_ms IS NULL ORDER BY key");
  if (!q) return q.error();
  return eachRow(*q, [&]() -> StoreResult {
    auto record = recordFromText(q->text(0));
    if (!record) return record.error();
    each(record.value());
    return {};
  });
}

Result<std::vector<DeviceRecord>, StoreError> InventoryStore::current() {
  std::vector<DeviceRecord> out;
  auto read = forEachCurrent([&](const DeviceRecord& r) { out.push_back(r); });
  if (!read) return read.error();
  return out;
}

Result<InventorySummary, StoreError> InventoryStore::summary() {
  InventorySummary s;
  auto devices = database_->prepare("SELECT count(*) FROM devices WHERE removed_ms IS NULL");
  if (!devices) return devices.error();
  if (auto row = devices->step(); !row) return row.error();
  s.devices = devices->integer(0);
  auto last = database_->prepare(
      "SELECT started_ms, finished_ms, devices, calls, failed_mailboxes FROM harvests "
      "WHERE kind = ? ORDER BY id DESC LIMIT 1");
  auto totals = database_->prepare(
      "SELECT count(*), coalesce(sum(finished_ms - started_ms), 0) FROM harvests WHERE kind = ?");
  if (!last) return last.error();
  if (!totals) return totals.error();
  for (const char* kind : {"full", "delta"}) {
    const bool full = std::string_view(kind) == "full";
    last->reset();
    totals->reset();
    last->bind(1, kind);
    totals->bind(1, kind);
    auto row = last->step();
    if (!row) return row.error();
    if (row.value()) {
      (full ? s.last_full : s.last_delta) = HarvestRun{kind,
                                                       last->integer(0),
                                                       last->integer(1),
                                                       last->integer(2),
                                                       last->integer(3),
                                                       last->integer(4)};
    }
    if (auto t = totals->step(); !t) return t.error();
    (full ? s.full_count : s.delta_count) = totals->integer(0);
    (full ? s.full_seconds : s.delta_seconds) = static_cast<double>(totals->integer(1)) / 1000.0;
  }
  return s;
}

namespace {

// What the status page counts and lists by, each a column or the expression of an index of
// migration 5, character for character (SQLite uses an expression index only for the same
// expression).
struct OverviewExpressions {
  std::string_view access_state = "access_state";
  std::string_view first_sync = "first_sync_time";
  std::string_view device_type = "device_type";
  // Times are stored as ISO 8601 text: their first 19 characters compare in time order.
  std::string_view last_sync = "substr(last_success_sync, 1, 19)";
};
constexpr OverviewExpressions kOverviewExpressions;

// The overview's queries. ?1: how many to list; ?2: the stale cutoff's first 19 characters.
struct OverviewQueries {
  std::string by_access_state = countedBy(kOverviewExpressions.access_state);
  std::string by_device_type = countedBy(kOverviewExpressions.device_type);
  std::string stale = "SELECT count(*) FROM devices WHERE removed_ms IS NULL AND " +
                      std::string(kOverviewExpressions.last_sync) + " < ?2";
  std::string quarantined = "SELECT record FROM devices WHERE removed_ms IS NULL AND " +
                            std::string(kOverviewExpressions.access_state) +
                            " = 'Quarantined' ORDER BY " +
                            std::string(kOverviewExpressions.first_sync) + ", key LIMIT ?1";
  std::string stalest = "SELECT record FROM devices WHERE removed_ms IS NULL AND " +
                        std::string(kOverviewExpressions.last_sync) + " < ?2 ORDER BY " +
                        std::string(kOverviewExpressions.last_sync) + ", key LIMIT ?1";

  static std::string countedBy(std::string_view expression) {
    return "SELECT " + std::string(expression) +
           ", count(*) AS n FROM devices WHERE removed_ms IS NULL GROUP BY 1 ORDER BY n DESC, 1";
  }
  std::vector<std::pair<const char*, const std::string*>> all() const {
    return {{"by access state", &by_access_state},
            {"by device type", &by_device_type},
            {"stale", &stale},
            {"quarantined", &quarantined},
            {"stalest", &stalest}};
  }
};

const OverviewQueries& overviewQueries() {
  static const OverviewQueries queries;
  return queries;
}

}  // namespace

Result<InventoryOverview, StoreError> InventoryStore::overview(const std::string& stale_before,
                                                               std::size_t list_limit) {
  const OverviewQueries& sql = overviewQueries();
  const std::string cutoff = stale_before.substr(0, 19);
  InventoryOverview out;
  auto counted = [&](const std::string& query,
                     std::vector<std::pair<std::string, std::int64_t>>& into) -> StoreResult {
    auto q = database_->prepare(query);
    if (!q) return q.error();
    return eachRow(*q, [&]() -> StoreResult {
      into.emplace_back(q->text(0), q->integer(1));
      return {};
    });
  };
  if (auto x = counted(sql.by_access_state, out.by_access_state); !x) return x.error();
  if (auto x = counted(sql.by_device_type, out.by_device_type); !x) return x.error();
  auto stale = database_->prepare(sql.stale);
  if (!stale) return stale.error();
  stale->bind(2, cutoff);
  if (auto row = stale->step(); !row) return row.error();
  out.stale = stale->integer(0);
  auto listed = [&](const std::string& query, bool with_cutoff,
                    std::vector<DeviceRecord>& into) -> StoreResult {
    auto q = database_->prepare(query);
    if (!q) return q.error();
    q->bind(1, static_cast<std::int64_t>(list_limit));
    if (with_cutoff) q->bind(2, cutoff);
    return eachRow(*q, [&]() -> StoreResult {
      auto record = recordFromText(q->text(0));
      if (!record) return record.error();
      into.push_back(std::move(record).value());
      return {};
    });
  };
  if (auto x = listed(sql.quarantined, false, out.quarantined); !x) return x.error();
  if (auto x = listed(sql.stalest, true, out.stalest); !x) return x.error();
  return out;
}

Result<std::string, StoreError> InventoryStore::overviewPlan() {
  std::string plan;
  for (const auto& entry : overviewQueries().all()) {
    const std::string name(entry.first);
    auto q = database_->prepare("EXPLAIN QUERY PLAN " + *entry.second);
    if (!q) return q.error();
    auto read = eachRow(q.value(), [&]() -> StoreResult {
      plan += name + ": " + q.value().text(3) + "\n";
      return {};
    });
    if (!read) return read.error();
  }
  return plan;
}

namespace {

// An index of `devices` by its name and the statement that creates it (as its migration wrote it).
struct DeviceIndex {
  std::string name;
  std::string sql;
};

// Into an empty inventory (the first harvest) every partnership is new, and saving them, each
// insert keeping the search and status-page indexes in order (each over values that arrive in
// no order), was a third of that harvest's CPU: they are dropped and built once at the end,
// sorted (figures in tests/bench/README.md).
// Not devices_current, which the harvest reads by (removeUnseen) and fills in key order anyway.
// Inside the harvest's transaction: readers keep the indexes they had, and a harvest that fails
// leaves them as they were. Returns the indexes dropped; none when the inventory is not empty.
Result<std::vector<DeviceIndex>, StoreError> dropIndexesIfEmpty(store::Database& db) {
  auto empty = db.prepare("SELECT NOT EXISTS (SELECT 1 FROM devices)");
  if (!empty) return empty.error();
  auto row = empty->step();
  if (!row) return row.error();
  const bool is_empty = empty->integer(0) != 0;
  empty->reset();  // a statement still reading would keep the indexes from being dropped
  if (!is_empty) return std::vector<DeviceIndex>();
  auto listed = db.prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'devices' "
      "AND sql IS NOT NULL AND name <> 'devices_current' ORDER BY name");
  if (!listed) return listed.error();
  std::vector<DeviceIndex> indexes;
  if (auto read = eachRow(*listed,
                          [&] {
                            indexes.push_back({listed->text(0), listed->text(1)});
                          });
      !read) {
    return read.error();
  }
  for (const auto& index : indexes) {
    if (auto x = db.execute("DROP INDEX \"" + index.name + "\""); !x) return x.error();
  }
  return indexes;
}

// Whether `schema` is attached to the connection.
Result<bool, StoreError> attached(store::Database& db, std::string_view schema) {
  auto list = db.prepare("PRAGMA database_list");
  if (!list) return list.error();
  bool found = false;
  auto read = eachRow(list.value(), [&]() -> StoreResult {
    if (list->text(1) == schema) found = true;
    return {};
  });
  if (!read) return read.error();
  return found;
}

}  // namespace

Result<std::int64_t, StoreError> InventoryStore::stagingPages() {
  auto open = attached(*database_, "staging");
  if (!open) return open.error();
  if (!open.value()) return std::int64_t{0};
  auto q = database_->prepare("PRAGMA staging.page_count");
  if (!q) return q.error();
  if (auto row = q->step(); !row) return row.error();
  return q->integer(0);
}

Result<void, StoreError> InventoryStore::applyHarvest(
    const HarvestRun& run, const std::function<Result<void, StoreError>(HarvestWrite&)>& body) {
  // A delta harvest rewrites a few thousand partnerships scattered over the whole inventory. In
  // SQLite's default page cache (2 MB) their pages did not stay: at 200,000 partnerships each was
  // read again and written to the log more than once, half the delta's time (figures in
  // tests/bench/README.md). A delta's pages are few, so it gets a larger cache, given back after;
  // a full harvest reads every page once and keeps the default, and its memory stays flat.
  const bool delta = run.kind == "delta";
  if (delta) {
    if (auto x = database_->setPageCacheKiB(kDeltaCacheKiB); !x) return x;
  }
  // What the harvest lists (staged) and what else it reads (seen), for removeUnseen: in a file
  // of the harvest's own, never in the inventory's, the staged rows' indexes made once they are
  // all in (HarvestWrite::indexStaged). Its own, not the connection's temporary file, which
  // lives as long as the connection: Linux writes a file's dirty pages back once the file has
  // been dirty for half a minute, and emptying it does not make it young again, so harvests
  // one after the other had their staging written to the disk while they ran, and the
  // journal's fsyncs waited behind it (tests/bench/README.md). A harvest's file is deleted,
  // its pages with it, before they are that old unless the harvest itself lasts that long.
  auto applied = openStaging();
  if (applied) {
    applied = applyHarvestTransaction(run, body);
    auto closed = closeStaging();
    // Then the log is copied back, at the paced copy-back rate (store/paced_writes.h): some 450
    // MiB after a first harvest of 200,000 partnerships, with the staging file gone.
    database_->checkpointIfLong();
    if (applied && !closed) {
      return StoreError{closed.error().code,
                        "the harvest is stored, but its staging file could not be closed (the "
                        "next harvest closes it): " +
                            closed.error().message};
    }
  }
  if (delta) {
    auto restored = database_->setPageCacheKiB(store::kDefaultPageCacheKiB);
    if (applied && !restored) return restored;
  }
  return applied;
}

Result<void, StoreError> InventoryStore::applyHarvestTransaction(
    const HarvestRun& run, const std::function<Result<void, StoreError>(HarvestWrite&)>& body) {
  return database_->transaction(
      [&]() -> StoreResult {
        auto dropped = dropIndexesIfEmpty(*database_);
        if (!dropped) return dropped.error();
        auto recorded = database_->prepare(
            "INSERT INTO harvests (kind, started_ms, finished_ms, devices, calls, "
            "failed_mailboxes) VALUES (?, ?, ?, ?, ?, ?)");
        if (!recorded) return recorded.error();
        if (auto x = recorded->bind(1, run.kind)
                         .bind(2, run.started_ms)
                         .bind(3, run.finished_ms)
                         .bind(4, run.devices)
                         .bind(5, run.calls)
                         .bind(6, run.failed_mailboxes)
                         .run();
            !x) {
          return x;
        }
        const std::int64_t harvest = database_->lastInsertId();
        HarvestWrite write(*database_, harvest, run.started_ms);
        if (auto x = body(write); !x) return x;
        for (const auto& index : dropped.value()) {
          if (auto x = database_->execute(index.sql); !x) return x;
        }
        return StoreResult{};
      },
      store::Database::Priority::kForeground, store::Database::AfterCommit::kLeaveTheLog);
}

StoreResult InventoryStore::openStaging() {
  // Left by a harvest whose file could not be closed: closed now.
  auto left = attached(*database_, "staging");
  if (!left) return left.error();
  if (left.value()) {
    if (auto x = closeStaging(); !x) return x;
  }
  // '': a private temporary file, never synced, that SQLite deletes when DETACH closes it (on
  // Linux, as soon as it has opened it). Its journal in memory: the file is empty when the
  // harvest's transaction begins, so there is nothing a rollback would need but SQLite's own
  // bookkeeping. secure_delete off: Debian's SQLite would overwrite whatever indexStaged deletes.
  // Its pages the size of a new inventory's: a staged row is a partnership's record, as in the
  // inventory (an attached file would have SQLite's default, 4 KiB).
  if (auto x = database_->execute("ATTACH DATABASE '' AS staging"); !x) return x;
  if (auto x =
          database_->execute("PRAGMA staging.page_size = " + std::to_string(kInventoryPageBytes));
      !x) {
    return x;
  }
  return database_->execute(
      "PRAGMA staging.journal_mode = MEMORY; PRAGMA staging.secure_delete = OFF; "
      "CREATE TABLE staging.harvest_seen (key TEXT PRIMARY KEY) WITHOUT ROWID; "
      // A rowid table: rows are appended as they arrive, in no order.
      "CREATE TABLE staging.harvest_staged ("
      "  key TEXT NOT NULL, mailbox TEXT NOT NULL, mailbox_dn TEXT NOT NULL,"
      "  record BLOB NOT NULL);");
}

StoreResult InventoryStore::closeStaging() { return database_->execute("DETACH DATABASE staging"); }

Result<void, StoreError> importInventoryFromStore(const std::filesystem::path& store_file) {
  auto inventory = InventoryStore::open(inventoryFile(store_file));
  if (!inventory) return inventory.error();
  return store::importFromStore(*inventory.value()->database_, store_file, R"sql(
      DELETE FROM device_changes; DELETE FROM events; DELETE FROM harvests; DELETE FROM devices;
      INSERT INTO devices (key, mailbox, record, first_seen_ms, last_seen_ms, removed_ms,
                           statistics_stale_ms)
        SELECT key, mailbox, record, first_seen_ms, last_seen_ms, removed_ms, statistics_stale_ms
        FROM legacy.devices;
      INSERT INTO device_changes SELECT id, device_key, at_ms, field, old_value, new_value
        FROM legacy.device_changes;
      INSERT INTO events SELECT sequence, at_ms, kind, mailbox, device_key, detail
        FROM legacy.events;
      INSERT INTO harvests SELECT id, kind, started_ms, finished_ms, devices, calls,
                                  failed_mailboxes FROM legacy.harvests;
    )sql" + indexedColumnsFromRecords());
}

}  // namespace easgate::agent
