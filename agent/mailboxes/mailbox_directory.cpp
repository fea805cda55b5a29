#include "agent/mailboxes/mailbox_directory.h"

#include <algorithm>
#include <set>

#include "agent/audit/sha256.h"
#include "agent/inventory/object_text.h"
#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "common/text/case_fold.h"

namespace easgate::agent {
namespace {

using StoreResult = Result<void, store::StoreError>;

std::vector<std::string> column(store::Statement& st, std::optional<store::StoreError>& error) {
  std::vector<std::string> out;
  while (true) {
    auto row = st.step();
    if (!row) {
      error = row.error();
      break;
    }
    if (!row.value()) break;
    out.push_back(st.text(0));
  }
  st.reset();
  return out;
}

// "SMTP:ann.berg@contoso.com" -> the address; other proxy types (X500:, SIP:) are no -Identity.
std::optional<std::string> smtpProxy(std::string_view proxy) {
  if (proxy.size() > 5 && lowerAscii(proxy.substr(0, 5)) == "smtp:") {
    return std::string(proxy.substr(5));
  }
  return std::nullopt;
}

}  // namespace

std::optional<MailboxEntry> mailboxEntryFromCasMailbox(const powershell::PsObject& object) {
  return mailboxEntryFromCasMailbox(powershell::PsObjectView(object));
}

std::optional<MailboxEntry> mailboxEntryFromCasMailbox(const powershell::PropertyView& o) {
  MailboxEntry e;
  // Guid first: both the remote-session and the REST cmdlets of Exchange Online give it, so a
  // mailbox keeps one key whichever of them answered.
  for (const char* id : {"Guid", "ExternalDirectoryObjectId", "ExchangeGuid"}) {
    e.key = lowerAscii(propertyText(o, id));
    if (!e.key.empty() && e.key != "00000000-0000-0000-0000-000000000000") break;
    e.key.clear();
  }
  if (e.key.empty()) return std::nullopt;
  e.identity = propertyText(o, "Identity");
  e.address = propertyText(o, "PrimarySmtpAddress");
  for (const char* name :
       {"Identity", "Name", "DistinguishedName", "SamAccountName", "Alias", "UserPrincipalName",
        "PrimarySmtpAddress", "Guid", "ExchangeGuid", "ExternalDirectoryObjectId"}) {
    if (auto v = propertyText(o, name); !v.empty()) e.names.push_back(std::move(v));
  }
  for (const auto& proxy : o.list("EmailAddresses")) {
    if (auto address = smtpProxy(proxy)) e.names.push_back(*address);
  }
  e.allowed = o.list("ActiveSyncAllowedDeviceIDs");
  e.blocked = o.list("ActiveSyncBlockedDeviceIDs");
  return e;
}

Result<NameLookup, store::StoreError> MailboxDirectory::find(std::string_view name) {
  // Asked once per mailbox a harvest reads, and by every command: prepared once.
  auto q = statements_.get("SELECT DISTINCT key FROM mailbox_names WHERE name = ? LIMIT 2");
  if (!q) return q.error();
  q.value()->bind(1, text::foldCase(name));
  std::optional<store::StoreError> error;
  auto keys = column(*q.value(), error);
  if (error) return *error;
  NameLookup out;
  if (keys.size() == 1) {
    out.kind = NameLookup::Kind::kFound;
    out.key = keys.front();
  } else if (keys.size() > 1) {
    out.kind = NameLookup::Kind::kAmbiguous;
  }
  return out;
}

NameLookup MailboxDirectory::lookup(std::string_view name) {
  auto found = find(name);
  return found ? found.value() : NameLookup{};
}

MailboxDirectory::Facts MailboxDirectory::factsOf(const MailboxEntry& e, bool lists,
                                                  std::string_view also) {
  Facts facts;
  for (const auto& n : e.names) facts.names.insert(text::foldCase(n));
  if (!also.empty()) facts.names.insert(text::foldCase(also));
  // What record() would write, in one digest: a mailbox a harvest finds as it was costs one
  // read, not a dozen writes.
  std::string text = e.identity + '\n' + e.address + '\n';
  for (const auto& n : facts.names) text += "n:" + n + '\n';
  if (lists) {
    for (const auto& id : e.allowed) text += "a:" + id + '\n';
    for (const auto& id : e.blocked) text += "b:" + id + '\n';
  } else {
    text += "no lists\n";
  }
  facts.fingerprint = toHex(sha256(text)).substr(0, 32);
  return facts;
}

Result<MailboxDirectory::Stored, store::StoreError> MailboxDirectory::heldAs(
    const std::string& key, const std::string& fingerprint, bool with_names) {
  // Without the names, answered from mailbox_directory_held alone (directory_file.cpp; named,
  // since SQLite prefers the key's unique index, which leads to the row).
  auto known =
      statements_.get(with_names ? "SELECT fingerprint, names FROM mailbox_directory WHERE key = ?"
                                 : "SELECT fingerprint FROM mailbox_directory INDEXED BY "
                                   "mailbox_directory_held WHERE key = ?");
  if (!known) return known.error();
  store::Statement& q = *known.value();
  q.bind(1, key);
  auto row = q.step();
  if (!row) return row.error();
  Stored stored;
  if (row.value()) {
    stored.held = q.optionalText(0) == fingerprint ? Held::kAsIs : Held::kOtherwise;
  }
  std::string names;
  if (with_names && stored.held == Held::kOtherwise) names = q.text(1);
  q.reset();
  if (names.empty()) return stored;
  auto parsed = json::parseJson(names);
  const json::JsonArray* array = parsed ? parsed->asArray() : nullptr;
  if (!array) {
    return store::StoreError{
        store::StoreErrc::kCorrupt,
        "the names the directory holds for mailbox " + key + " are not a JSON array of strings"};
  }
  for (const auto& name : *array) {
    if (const std::string* n = name.asString()) stored.names.push_back(*n);
  }
  return stored;
}

Result<bool, store::StoreError> MailboxDirectory::holds(const MailboxEntry& e, bool lists) {
  auto stored = heldAs(e.key, factsOf(e, lists, {}).fingerprint, /*with_names=*/false);
  if (!stored) return stored.error();
  return stored->held == Held::kAsIs;
}

Result<void, store::StoreError> MailboxDirectory::record(const MailboxEntry& e, std::int64_t now,
                                                         bool lists, std::string_view also) {
  const Facts facts = factsOf(e, lists, also);
  auto stored = heldAs(e.key, facts.fingerprint, /*with_names=*/true);
  if (!stored) return stored.error();
  if (stored->held == Held::kAsIs) return {};
  const bool defer = deferring_ && stored->held == Held::kNot;

  // The names it had may be gone (a rename, a move to another OU): only today's count.
  std::vector<std::string> gone;
  for (auto& n : stored->names) {
    if (!facts.names.contains(n)) gone.push_back(std::move(n));
  }
  std::string names;
  json::JsonWriter w(names);
  w.beginArray();
  for (const auto& n : facts.names) w.string(n);
  w.endArray();
  if (defer) {
    if (auto r = keepAside(e, facts, names, now); !r) return r;
  } else {
    auto upsert = statements_.get(
        "INSERT INTO mailbox_directory (key, identity, address, seen_ms, fingerprint, names) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET identity = excluded.identity, "
        "address = excluded.address, seen_ms = excluded.seen_ms, fingerprint = "
        "excluded.fingerprint, names = excluded.names");
    if (!upsert) return upsert.error();
    if (auto r = upsert.value()
                     ->bind(1, e.key)
                     .bind(2, e.identity)
                     .bind(3, e.address)
                     .bind(4, now)
                     .bind(5, facts.fingerprint)
                     .bind(6, names)
                     .run();
        !r) {
      return r;
    }
    if (auto r = writeNames(e, facts, gone); !r) return r;
  }
  if (!lists) return {};
  auto drop = statements_.get("DELETE FROM harvested_lists WHERE mailbox = ?");
  if (!drop) return drop.error();
  if (auto r = drop.value()->bind(1, e.key).run(); !r) return r;
  auto put = statements_.get(
      "INSERT OR IGNORE INTO harvested_lists (mailbox, list, device_id) VALUES (?, ?, ?)");
  if (!put) return put.error();
  for (const auto& [which, ids] :
       {std::pair{"allowed", &e.allowed}, std::pair{"blocked", &e.blocked}}) {
    for (const auto& id : *ids) {
      if (auto r = put.value()->bind(1, e.key).bind(2, which).bind(3, id).run(); !r) return r;
    }
  }
  return {};
}

Result<std::optional<MailboxEntry>, store::StoreError> MailboxDirectory::entry(
    std::string_view key) {
  // Answered from mailbox_directory_held alone (directory_file.cpp).
  auto q = statements_.get(
      "SELECT identity, address FROM mailbox_directory INDEXED BY mailbox_directory_held "
      "WHERE key = ?");
  if (!q) return q.error();
  store::Statement& st = *q.value();
  st.bind(1, key);
  auto row = st.step();
  if (!row) return row.error();
  if (!row.value()) return std::optional<MailboxEntry>();
  MailboxEntry e;
  e.key = std::string(key);
  e.identity = st.text(0);
  e.address = st.text(1);
  st.reset();  // holds no snapshot of the store between calls
  return std::optional<MailboxEntry>(std::move(e));
}

Result<std::vector<std::string>, store::StoreError> MailboxDirectory::list(std::string_view key,
                                                                           std::string_view which,
                                                                           Source source) {
  // Asked for every mailbox by a policy plan and by drift correction: prepared once. As
  // Exchange holds it, from the directory's file; as the MDM wants it, from the store.
  auto q = source == Source::kHarvested
               ? statements_.get(
                     "SELECT device_id FROM harvested_lists WHERE mailbox = ? AND list = ? "
                     "ORDER BY device_id")
               : store_statements_.get(
                     "SELECT device_id FROM mailbox_lists WHERE mailbox = ? AND list = ? AND "
                     "source = 'desired' ORDER BY device_id");
  if (!q) return q.error();
  q.value()->bind(1, key).bind(2, which);
  std::optional<store::StoreError> error;
  auto ids = column(*q.value(), error);
  if (error) return *error;
  return ids;
}

Result<bool, store::StoreError> MailboxDirectory::managed(std::string_view key,
                                                          std::string_view which) {
  auto q = store_.prepare("SELECT 1 FROM managed_lists WHERE mailbox = ? AND list = ?");
  if (!q) return q.error();
  q->bind(1, key).bind(2, which);
  auto row = q->step();
  if (!row) return row.error();
  return row.value();
}

Result<std::vector<std::pair<std::string, std::string>>, store::StoreError>
MailboxDirectory::managedLists() {
  auto q = store_.prepare("SELECT mailbox, list FROM managed_lists ORDER BY mailbox, list");
  if (!q) return q.error();
  std::vector<std::pair<std::string, std::string>> out;
  while (true) {
    auto row = q->step();
    if (!row) return row.error();
    if (!row.value()) return out;
    out.emplace_back(q->text(0), q->text(1));
  }
}

Result<std::map<std::string, std::set<std::string>>, store::StoreError>
MailboxDirectory::desiredAllowed() {
  auto q = store_.prepare(
      "SELECT mailbox, device_id FROM mailbox_lists WHERE source = 'desired' AND "
      "list = 'allowed'");
  if (!q) return q.error();
  std::map<std::string, std::set<std::string>> out;
  while (true) {
    auto row = q->step();
    if (!row) return row.error();
    if (!row.value()) return out;
    out[q->text(0)].insert(lowerAscii(q->text(1)));
  }
}

Result<std::vector<std::pair<std::string, std::string>>, store::StoreError>
MailboxDirectory::legacyNames() {
  // Names under which the store keeps lists; those that are no key (in the directory's file)
  // are an earlier release's. Every full harvest asks: one read of each file, and the commands
  // searched (their mailbox has no index) for the few legacy names only.
  auto listed = store_.prepare(
      "SELECT mailbox FROM managed_lists UNION "
      "SELECT mailbox FROM mailbox_lists WHERE source = 'desired'");
  if (!listed) return listed.error();
  std::optional<store::StoreError> error;
  const auto names = column(*listed, error);
  if (error) return *error;
  auto is_key = statements_.get("SELECT 1 FROM mailbox_directory WHERE key = ?");
  if (!is_key) return is_key.error();
  std::vector<std::pair<std::int64_t, std::string>> legacy;  // (newest command's id, name)
  for (const auto& name : names) {
    is_key.value()->bind(1, name);
    auto row = is_key.value()->step();
    if (!row) return row.error();
    is_key.value()->reset();
    if (!row.value()) legacy.emplace_back(-1, name);
  }
  if (legacy.empty()) return std::vector<std::pair<std::string, std::string>>();
  // Newest command first: of two names of one mailbox, the later decision wins, as it did in
  // Exchange.
  auto latest = store_.prepare("SELECT max(id) FROM commands WHERE lower(mailbox) = ?");
  if (!latest) return latest.error();
  for (auto& [id, name] : legacy) {
    latest->bind(1, name);
    auto row = latest->step();
    if (!row) return row.error();
    if (row.value() && !latest->isNull(0)) id = latest->integer(0);
    latest->reset();
  }
  std::stable_sort(legacy.begin(), legacy.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::pair<std::string, std::string>> resolved;
  for (const auto& [id, name] : legacy) {
    auto found = find(name);
    if (!found) return found.error();
    if (found->kind != NameLookup::Kind::kFound) continue;  // not known yet: stays as it is
    resolved.emplace_back(name, found->key);
  }
  return resolved;
}

Result<bool, store::StoreError> MailboxDirectory::hasLegacyLists() {
  auto names = legacyNames();
  if (!names) return names.error();
  return !names->empty();
}

Result<std::size_t, store::StoreError> MailboxDirectory::rekeyLegacyLists() {
  std::size_t moved = 0;
  auto rekeyed = store_.transaction(
      [&]() -> Result<void, store::StoreError> {
        auto names = legacyNames();
        if (!names) return names.error();
        if (auto x = rekey(names.value()); !x) return x;
        moved = names->size();
        return {};
      },
      store::Database::Priority::kBackground);
  if (!rekeyed) return rekeyed.error();
  return moved;
}

Result<void, store::StoreError> MailboxDirectory::rekey(
    const std::vector<std::pair<std::string, std::string>>& names) {
  for (const auto& [name, key] : names) {
    for (const char* which : {"allowed", "blocked"}) {
      auto has = managed(key, which);
      if (!has) return has.error();
      for (const char* sql :
           {has.value()
                ? "DELETE FROM mailbox_lists WHERE mailbox = ?2 AND list = ?3 AND source = "
                  "'desired'"
                : "UPDATE mailbox_lists SET mailbox = ?1 WHERE mailbox = ?2 AND list = ?3 AND "
                  "source = 'desired'",
            has.value()
                ? "DELETE FROM managed_lists WHERE mailbox = ?2 AND list = ?3"
                : "UPDATE managed_lists SET mailbox = ?1 WHERE mailbox = ?2 AND list = ?3"}) {
        auto st = store_.prepare(sql);
        if (!st) return st.error();
        if (auto r = st->bind(1, key).bind(2, name).bind(3, which).run(); !r) return r.error();
      }
    }
  }
  return {};
}

Result<void, store::StoreError> MailboxDirectory::writeNames(const MailboxEntry& e,
                                                             const Facts& facts,
                                                             const std::vector<std::string>& gone) {
  auto clear = statements_.get("DELETE FROM mailbox_names WHERE name = ? AND key = ?");
  if (!clear) return clear.error();
  for (const auto& n : gone) {
    if (auto r = clear.value()->bind(1, n).bind(2, e.key).run(); !r) return r;
  }
  auto add = statements_.get("INSERT OR IGNORE INTO mailbox_names (name, key) VALUES (?, ?)");
  if (!add) return add.error();
  for (const auto& n : facts.names) {
    if (auto r = add.value()->bind(1, n).bind(2, e.key).run(); !r) return r;
  }
  return {};
}

Result<void, store::StoreError> MailboxDirectory::keepAside(const MailboxEntry& e,
                                                            const Facts& facts,
                                                            const std::string& names_json,
                                                            std::int64_t now) {
  auto aside = statements_.get("INSERT INTO temp.deferred_names (name, key) VALUES (?, ?)");
  if (!aside) return aside.error();
  for (const auto& n : facts.names) {
    if (auto r = aside.value()->bind(1, n).bind(2, e.key).run(); !r) return r;
  }
  auto row = statements_.get(
      "INSERT INTO temp.deferred_rows (key, identity, address, seen_ms, names, fingerprint) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!row) return row.error();
  return row.value()
      ->bind(1, e.key)
      .bind(2, e.identity)
      .bind(3, e.address)
      .bind(4, now)
      .bind(5, names_json)
      .bind(6, facts.fingerprint)
      .run();
}

// The tables of what is kept aside are the connection's own (temp): no other connection sees
// them, and they never reach the write-ahead log. Emptied, not dropped, so the statements
// prepared on them stay valid.
Result<void, store::StoreError> MailboxDirectory::deferNames() {
  if (auto r = database_.execute(R"sql(
        CREATE TEMP TABLE IF NOT EXISTS deferred_names (name TEXT NOT NULL, key TEXT NOT NULL);
        CREATE TEMP TABLE IF NOT EXISTS deferred_rows
          (key TEXT NOT NULL, identity TEXT NOT NULL, address TEXT NOT NULL,
           seen_ms INTEGER NOT NULL, names TEXT NOT NULL, fingerprint TEXT NOT NULL);
        CREATE TEMP TABLE IF NOT EXISTS sorted_names (name TEXT NOT NULL, key TEXT NOT NULL);
        CREATE TEMP TABLE IF NOT EXISTS sorted_rows
          (key TEXT NOT NULL, identity TEXT NOT NULL, address TEXT NOT NULL,
           seen_ms INTEGER NOT NULL, names TEXT NOT NULL, fingerprint TEXT NOT NULL);
      )sql");
      !r) {
    return r;
  }
  if (auto r = endDeferringNames(); !r) return r;
  deferring_ = true;
  return {};
}

Result<std::size_t, store::StoreError> MailboxDirectory::sortDeferredNames() {
  deferring_ = false;  // what record() writes from now on goes in at once
  auto count = [&](const char* sql) -> Result<std::int64_t, store::StoreError> {
    auto q = statements_.get(sql);
    if (!q) return q.error();
    auto row = q.value()->step();
    if (!row) return row.error();
    const std::int64_t n = q.value()->integer(0);
    q.value()->reset();
    return n;
  };
  auto mailboxes = count("SELECT count(*) FROM temp.deferred_rows");
  if (!mailboxes) return mailboxes.error();
  auto names = count("SELECT count(*) FROM temp.deferred_names");
  if (!names) return names.error();
  mailboxes_to_add_ = mailboxes.value();
  names_to_add_ = names.value();
  if (mailboxes.value() == 0) return std::size_t{0};
  // Rowids 1..n in the sorted order (deferNames() emptied these tables): the rows by key, so
  // that they go in at the end of the index by key and of the table, the names by name, for
  // the index of names. A mailbox listed twice: the first listing's row is the one kept.
  auto sorted = database_.execute(R"sql(
      INSERT INTO temp.sorted_rows (rowid, key, identity, address, seen_ms, names, fingerprint)
        SELECT row_number() OVER (ORDER BY key), key, identity, address, seen_ms, names,
               fingerprint
        FROM (SELECT key, identity, address, seen_ms, names, fingerprint, min(rowid)
              FROM temp.deferred_rows GROUP BY key);
      INSERT INTO temp.sorted_names (rowid, name, key)
        SELECT row_number() OVER (ORDER BY name, key), name, key FROM temp.deferred_names;
      DELETE FROM temp.deferred_names;
      DELETE FROM temp.deferred_rows;
    )sql");
  if (!sorted) return sorted.error();
  return static_cast<std::size_t>(mailboxes.value());
}

Result<bool, store::StoreError> MailboxDirectory::addDeferredNames(std::size_t rows) {
  const auto n = static_cast<std::int64_t>(rows);
  // Runs `sql` over the sorted rows (from, from + n] and moves `from` past them.
  auto addNext = [&](const char* sql, std::int64_t& from) -> Result<void, store::StoreError> {
    auto st = statements_.get(sql);
    if (!st) return st.error();
    if (auto r = st.value()->bind(1, from).bind(2, from + n).run(); !r) return r;
    from += n;
    return {};
  };
  if (rows_added_ < mailboxes_to_add_) {
    // Without the fingerprint, which comes once the names are in; a mailbox recorded meanwhile
    // by other means (a command that asked Exchange about it) keeps the row that wrote.
    if (auto r = addNext(R"sql(
        INSERT OR IGNORE INTO mailbox_directory (key, identity, address, seen_ms, names)
          SELECT key, identity, address, seen_ms, names FROM temp.sorted_rows
          WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid
      )sql",
                         rows_added_);
        !r) {
      return r.error();
    }
    return false;
  }
  if (names_added_ < names_to_add_) {
    // Only for a mailbox still without its fingerprint: one recorded meanwhile by other means
    // has the names that recording wrote.
    if (auto r = addNext(R"sql(
        INSERT OR IGNORE INTO mailbox_names (name, key)
          SELECT s.name, s.key FROM temp.sorted_names s
          JOIN mailbox_directory d ON d.key = s.key AND d.fingerprint IS NULL
          WHERE s.rowid > ?1 AND s.rowid <= ?2 ORDER BY s.rowid
      )sql",
                         names_added_);
        !r) {
      return r.error();
    }
    return false;
  }
  // In key order, which is the order the rows went in: side by side in the table.
  if (auto r = addNext(R"sql(
      UPDATE mailbox_directory SET fingerprint = s.fingerprint
        FROM (SELECT key, fingerprint FROM temp.sorted_rows
              WHERE rowid > ?1 AND rowid <= ?2) s
        WHERE mailbox_directory.key = s.key AND mailbox_directory.fingerprint IS NULL
    )sql",
                       fingerprints_added_);
      !r) {
    return r.error();
  }
  return fingerprints_added_ >= mailboxes_to_add_;
}

Result<void, store::StoreError> MailboxDirectory::endDeferringNames() {
  deferring_ = false;
  mailboxes_to_add_ = rows_added_ = names_to_add_ = names_added_ = fingerprints_added_ = 0;
  if (auto r = database_.execute(R"sql(
        DELETE FROM temp.deferred_names;
        DELETE FROM temp.deferred_rows;
        DELETE FROM temp.sorted_names;
        DELETE FROM temp.sorted_rows;
      )sql");
      !r) {
    return r;
  }
  // Nothing kept aside is left in the temporary file to go to the disk (a first harvest keeps
  // every name of every mailbox there).
  return database_.releaseTemporaryPages();
}

}  // namespace easgate::agent
