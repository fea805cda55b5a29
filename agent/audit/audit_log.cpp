#include "agent/audit/audit_log.h"

#include <algorithm>

namespace easgate::agent {
namespace {

// Fields enter the hash length-prefixed, so no two different entries share an encoding.
void appendNumber(std::string& out, std::uint64_t n) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
}

void appendField(std::string& out, const std::string& field) {
  appendNumber(out, field.size());
  out += field;
}

Sha256 toDigest(const std::vector<std::uint8_t>& bytes) {
  Sha256 d{};
  if (bytes.size() == d.size()) std::copy(bytes.begin(), bytes.end(), d.begin());
  return d;
}

}  // namespace

Sha256 AuditLog::entryHash(const Sha256& previous, std::int64_t sequence, const AuditRecord& r) {
  std::string message(previous.begin(), previous.end());
  appendNumber(message, static_cast<std::uint64_t>(sequence));
  appendNumber(message, static_cast<std::uint64_t>(r.at_ms));
  for (const std::string* field : {&r.actor, &r.action, &r.target, &r.outcome, &r.detail}) {
    appendField(message, *field);
  }
  return sha256(message);
}

Result<AuditEntry, store::StoreError> AuditLog::append(const AuditRecord& record,
                                                       bool in_transaction) {
  AuditEntry entry;
  entry.record = record;
  auto write = [&]() -> Result<void, store::StoreError> {
    auto last =
        database_.prepare("SELECT sequence, hash FROM audit ORDER BY sequence DESC LIMIT 1");
    if (!last) return last.error();
    auto row = last->step();
    if (!row) return row.error();
    Sha256 previous{};
    entry.sequence = 1;
    if (row.value()) {
      entry.sequence = last->integer(0) + 1;
      previous = toDigest(last->blob(1));
    }
    entry.hash = entryHash(previous, entry.sequence, record);
    auto insert = database_.prepare(
        "INSERT INTO audit (sequence, at_ms, actor, action, target, outcome, detail, prev_hash, "
        "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert) return insert.error();
    insert->bind(1, entry.sequence)
        .bind(2, record.at_ms)
        .bind(3, record.actor)
        .bind(4, record.action)
        .bind(5, record.target)
        .bind(6, record.outcome)
        .bind(7, record.detail)
        .bindBlob(8, previous)
        .bindBlob(9, entry.hash);
    return insert->run();
  };
  auto written = in_transaction ? write() : database_.transaction(write);
  if (!written) return written.error();
  return entry;
}

Result<std::vector<AuditEntry>, store::StoreError> AuditLog::list(
    const protocol::AuditQuery& query) {
  // lower() folds ASCII only, as the filters are documented to.
  auto rows = database_.prepare(
      "SELECT sequence, at_ms, actor, action, target, outcome, detail, hash FROM audit "
      "WHERE (?1 = 0 OR sequence < ?1) AND (?2 IS NULL OR at_ms >= ?2) "
      "AND (?3 IS NULL OR at_ms < ?3) AND (?4 = '' OR instr(lower(actor), lower(?4)) > 0) "
      "AND (?5 = '' OR action = ?5) AND (?6 = '' OR instr(lower(target), lower(?6)) > 0) "
      "ORDER BY sequence DESC LIMIT ?7");
  if (!rows) return rows.error();
  rows->bind(1, query.before);
  if (query.since_ms) rows->bind(2, *query.since_ms);
  if (query.until_ms) rows->bind(3, *query.until_ms);
  rows->bind(4, query.actor);
  rows->bind(5, query.action);
  rows->bind(6, query.target);
  rows->bind(7, static_cast<std::int64_t>(query.limit));
  std::vector<AuditEntry> entries;
  while (true) {
    auto row = rows->step();
    if (!row) return row.error();
    if (!row.value()) break;
    entries.push_back({rows->integer(0),
                       {rows->integer(1), rows->text(2), rows->text(3), rows->text(4),
                        rows->text(5), rows->text(6)},
                       toDigest(rows->blob(7))});
  }
  return entries;
}

Result<AuditVerification, store::StoreError> AuditLog::verify() {
  AuditVerification v;
  auto rows = database_.prepare(
      "SELECT sequence, at_ms, actor, action, target, outcome, detail, prev_hash, hash "
      "FROM audit ORDER BY rowid");
  if (!rows) return rows.error();
  Sha256 previous{};
  auto fail = [&](std::int64_t sequence, std::string problem) {
    v.intact = false;
    v.first_bad_sequence = sequence;
    v.problem = std::move(problem);
  };
  while (true) {
    auto row = rows->step();
    if (!row) return row.error();
    if (!row.value()) break;
    const std::int64_t sequence = rows->integer(0);
    const std::int64_t expected = v.entries + 1;
    AuditRecord r{rows->integer(1), rows->text(2), rows->text(3),
                  rows->text(4),    rows->text(5), rows->text(6)};
    const Sha256 stored_previous = toDigest(rows->blob(7));
    const Sha256 stored = toDigest(rows->blob(8));
    ++v.entries;
    if (sequence != expected) {
      fail(expected, "entry " + std::to_string(expected) + " is missing or out of order (found " +
                         std::to_string(sequence) + ")");
      break;
    }
    if (stored_previous != previous) {
      fail(sequence, "entry " + std::to_string(sequence) +
                         " does not follow the entry before it (its previous-hash differs)");
      break;
    }
    if (entryHash(previous, sequence, r) != stored) {
      fail(sequence, "entry " + std::to_string(sequence) + " was changed after it was written");
      break;
    }
    previous = stored;
  }
  v.head = previous;
  return v;
}

Result<std::optional<std::int64_t>, store::StoreError> AuditLog::sequenceOf(const Sha256& hash) {
  auto query = database_.prepare("SELECT sequence FROM audit WHERE hash = ?");
  if (!query) return query.error();
  query->bindBlob(1, hash);
  auto row = query->step();
  if (!row) return row.error();
  if (!row.value()) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(query->integer(0));
}

}  // namespace easgate::agent
