#include "agent/commands/command_journal.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <string_view>
#include <tuple>

#include "agent/inventory/object_text.h"
#include "common/json/json_value.h"
#include "common/json/json_writer.h"

namespace easgate::agent {
namespace {

constexpr const char* kColumns =
    "id, idempotency_key, kind, mailbox, device_id, device_ids, partnership, requested_by, "
    "state, attempts, created_ms, updated_ms, next_attempt_ms, deadline_ms, last_error, result, "
    "mailbox_key, organisation, after_first, after_last";

// The unfinished states, as the indexes of unfinished commands (store schema 14) name them: a
// query names them the same way to be answered from those indexes.
// `alias` names the table in a query that reads it more than once.
std::string openStates(std::string_view alias = {}) {
  std::string out(alias);
  if (!out.empty()) out += '.';
  return out + "state IN ('queued', 'running', 'retrying')";
}

// The names of the kinds for which `pick` holds, as an SQL list ('wipe', 'block'). They come
// from the kind table, never from a request.
template <typename Pick>
std::string kindNames(Pick pick) {
  std::string out;
  for (const auto& kind : protocol::kCommandKindTable) {
    if (!pick(kind)) continue;
    if (!out.empty()) out += ", ";
    out.append("'").append(kind.name).append("'");
  }
  return out;
}

const std::string& organisationKinds() {
  static const std::string names = kindNames([](const protocol::CommandKindInfo& k) {
    return k.target == protocol::CommandTarget::kOrganisation;
  });
  return names;
}

const std::string& urgentKinds() {
  static const std::string names =
      kindNames([](const protocol::CommandKindInfo& k) { return k.urgent; });
  return names;
}

// The questions that choose what runs next (CommandJournal::dueHeads), each answered from the
// indexes of unfinished commands.
// SQLite is told which index to read (without statistics it may choose to read every unfinished
// command by state, and sort them): a query the index cannot answer fails to prepare.
std::string selectOpen(std::string_view index, std::string_view alias = {}) {
  return std::string("SELECT ") + kColumns + " FROM commands " + std::string(alias) +
         " INDEXED BY " + std::string(index) + " WHERE " + openStates(alias);
}
// ?1 at most this many.
std::string unresolvedSql() {
  return selectOpen("commands_open_by_mailbox") + " AND mailbox_key IS NULL AND kind NOT IN (" +
         organisationKinds() + ") ORDER BY id LIMIT ?";
}
// ?1 before this id, ?2 at most this many mailboxes.
std::string urgentMailboxesSql() {
  return "SELECT mailbox_key, count(*) FROM commands INDEXED BY commands_open_by_kind WHERE " +
         openStates() + " AND kind IN (" + urgentKinds() +
         ") AND mailbox_key IS NOT NULL AND id < ? GROUP BY mailbox_key ORDER BY min(id) LIMIT ?";
}
// ?1 the mailbox's key.
std::string oldestOfMailboxSql() {
  return selectOpen("commands_open_by_mailbox") + " AND mailbox_key = ? ORDER BY id LIMIT 1";
}
std::string oldestOfOrganisationSql() {
  return selectOpen("commands_open_by_kind") + " AND kind IN (" + organisationKinds() +
         ") ORDER BY id LIMIT 1";
}
// ?1 before this id, ?2 due by this time, ?3 at most this many: commands with no unfinished one
// of their mailbox before them, none they wait for unfinished.
std::string mailboxHeadsSql() {
  return selectOpen("commands_open", "c") +
         " AND c.id < ? AND c.next_attempt_ms <= ? AND c.mailbox_key IS NOT NULL "
         "AND NOT EXISTS (SELECT 1 FROM commands e INDEXED BY commands_open_by_mailbox WHERE " +
         openStates("e") +
         " AND e.mailbox_key = c.mailbox_key AND e.id < c.id) "
         "AND NOT EXISTS (SELECT 1 FROM commands d INDEXED BY commands_open WHERE " +
         openStates("d") +
         " AND d.id BETWEEN c.after_first AND c.after_last) ORDER BY c.id LIMIT ?";
}
// ?1 the mailbox's key, ?2 after this id, ?3 at most this many.
std::string queuedBehindSql() {
  return selectOpen("commands_open_by_mailbox") +
         " AND mailbox_key = ? AND id > ? ORDER BY id LIMIT ?";
}
// ?1 from this id (openFrom() before the harvest began), ?2 finished since then. A range of
// the journal's ids, never the whole journal: those before it were final when it began.
// ?1 up to this id.
std::string earliestDueSql() {
  return "SELECT min(next_attempt_ms) FROM commands INDEXED BY commands_open WHERE " +
         openStates() + " AND id <= ?";
}
std::string listCommandsSinceSql() {
  return "SELECT kind, mailbox_key FROM commands WHERE id >= ? AND (" + openStates() +
         " OR updated_ms >= ?)";
}
// ?1 ?2 the range a command waits for: whether one of them is unfinished.
std::string waitsSql() {
  return "SELECT EXISTS (SELECT 1 FROM commands INDEXED BY commands_open WHERE " + openStates() +
         " AND id BETWEEN ? AND ?)";
}

CommandError storeError(const store::StoreError& e) {
  return CommandError{CommandErrc::kStore, e.message};
}

std::string encodeIds(const std::vector<std::string>& ids) {
  std::string out;
  json::JsonWriter w(out);
  w.beginArray();
  for (const auto& id : ids) w.string(id);
  w.endArray();
  return out;
}

// The organisation's commands' arguments, as the `organisation` column keeps them.
std::string encodeOrganisation(const CommandRequest& r) {
  std::string out;
  json::JsonWriter w(out);
  w.beginObject();
  for (auto [name, value] :
       {std::pair{"accessLevel", &r.access_level}, std::pair{"queryString", &r.rule_query},
        std::pair{"characteristic", &r.rule_characteristic}}) {
    if (value->empty()) continue;
    w.key(name);
    w.string(*value);
  }
  if (r.kind == CommandKind::kSetAdminMailRecipients) {
    w.key("adminMailRecipients");
    w.beginArray();
    for (const auto& a : r.recipients) w.string(a);
    w.endArray();
  }
  w.endObject();
  return out;
}

void readOrganisation(const std::string& text, CommandRequest& r) {
  auto doc = json::parseJson(text);
  if (!doc || !doc->asObject()) return;
  auto member = [&](const char* name) {
    const json::JsonValue* v = doc->find(name);
    return v && v->asString() ? *v->asString() : std::string();
  };
  r.access_level = member("accessLevel");
  r.rule_query = member("queryString");
  r.rule_characteristic = member("characteristic");
  if (const json::JsonValue* list = doc->find("adminMailRecipients"); list && list->asArray()) {
    for (const auto& a : *list->asArray()) {
      if (a.asString()) r.recipients.push_back(*a.asString());
    }
  }
}

std::vector<std::string> decodeIds(const std::string& text) {
  std::vector<std::string> ids;
  auto doc = json::parseJson(text);
  if (doc && doc->asArray()) {
    for (const auto& v : *doc->asArray()) {
      if (v.asString()) ids.push_back(*v.asString());
    }
  }
  return ids;
}

// Idempotency keys are the client's own: stored as "<requested_by>\n<key>" (a key has no line
// break), so the same key from another client is another command, and reveals nothing.
std::string scopedKey(const CommandRequest& r) { return r.requested_by + "\n" + r.idempotency_key; }

std::string unscopedKey(const std::string& stored) {
  const auto newline = stored.find('\n');
  return newline == std::string::npos ? stored : stored.substr(newline + 1);
}

CommandRecord readRecord(const store::Statement& row) {
  CommandRecord c;
  c.id = row.integer(0);
  c.request.idempotency_key = unscopedKey(row.optionalText(1).value_or(""));
  c.request.kind = commandKindFromName(row.text(2)).value_or(CommandKind::kAllow);
  c.request.mailbox = row.text(3);
  c.request.device_id = row.text(4);
  c.request.device_ids = decodeIds(row.text(5));
  c.request.partnership = row.text(6);
  c.request.requested_by = row.text(7);
  c.state = commandStateFromName(row.text(8)).value_or(CommandState::kFailed);
  c.attempts = static_cast<int>(row.integer(9));
  c.created_ms = row.integer(10);
  c.updated_ms = row.integer(11);
  c.next_attempt_ms = row.integer(12);
  c.deadline_ms = row.integer(13);
  c.last_error = row.text(14);
  c.result = row.text(15);
  c.mailbox_key = row.optionalText(16).value_or("");
  readOrganisation(row.text(17), c.request);
  if (!row.isNull(18)) c.request.after = CommandRange{row.integer(18), row.integer(19)};
  return c;
}

// Every row of a query of kColumns, in its order.
Result<std::vector<CommandRecord>, store::StoreError> readRecords(store::Statement& q) {
  std::vector<CommandRecord> out;
  while (true) {
    auto row = q.step();
    if (!row) return row.error();
    if (!row.value()) return out;
    out.push_back(readRecord(q));
  }
}

// The audit entry's target: what the command acts on.
std::string targetOf(const CommandRequest& r) {
  if (commandKindInfo(r.kind).target == protocol::CommandTarget::kOrganisation) {
    if (!r.rule_query.empty())
      return "organisation rule " + r.rule_query + " (" + r.rule_characteristic + ")";
    return "organisation";
  }
  if (!r.partnership.empty()) return r.partnership;
  if (!r.device_id.empty()) return r.mailbox + " " + r.device_id;
  return r.mailbox;
}

// What the MDM wants the lists to hold, kept under the mailbox's key for drift checks:
// allow/revoke/block/unblock edit the desired lists, set-allowed and set-blocked replace one.
// Exchange keeps an ID on one list only, so an ID put on one list leaves the other.
Result<void, store::StoreError> recordDesiredLists(store::Database& db, const CommandRequest& r,
                                                   const std::string& key) {
  const std::string list(listOf(r.kind));
  if (list.empty()) return {};
  const std::string other = list == "allowed" ? "blocked" : "allowed";
  auto exec = [&](const char* sql, std::initializer_list<std::string> values) {
    auto st = db.prepare(sql);
    if (!st) return Result<void, store::StoreError>(st.error());
    int i = 1;
    for (const auto& v : values) st->bind(i++, v);
    return st->run();
  };
  constexpr const char* kManage =
      "INSERT OR IGNORE INTO managed_lists (mailbox, list) VALUES (?, ?)";
  constexpr const char* kAdd =
      "INSERT OR IGNORE INTO mailbox_lists (mailbox, list, source, device_id) "
      "VALUES (?, ?, 'desired', ?)";
  constexpr const char* kRemove =
      "DELETE FROM mailbox_lists WHERE mailbox = ? AND list = ? AND source = 'desired' "
      "AND lower(device_id) = lower(?)";
  if (auto m = exec(kManage, {key, list}); !m) return m;
  std::vector<std::string> add;
  if (r.kind == CommandKind::kSetAllowed || r.kind == CommandKind::kSetBlocked) {
    if (auto c = exec("DELETE FROM mailbox_lists WHERE mailbox = ? AND list = ? AND "
                      "source = 'desired'",
                      {key, list});
        !c) {
      return c;
    }
    add = r.device_ids;
  } else if (r.kind == CommandKind::kAllow || r.kind == CommandKind::kBlock) {
    add = {r.device_id};
  } else if (auto d = exec(kRemove, {key, list, r.device_id}); !d) {
    return d;
  }
  for (const auto& id : add) {
    if (auto a = exec(kAdd, {key, list, id}); !a) return a;
    if (auto o = exec(kRemove, {key, other, id}); !o) return o;
  }
  return {};
}

}  // namespace

Result<void, store::StoreError> CommandJournal::insert(const CommandRequest& request,
                                                       std::int64_t deadline_ms, std::int64_t now,
                                                       Submitted& out,
                                                       std::optional<CommandError>& refusal) {
  if (!request.idempotency_key.empty()) {
    auto seen = database_.prepare(std::string("SELECT ") + kColumns +
                                  " FROM commands WHERE idempotency_key = ?");
    if (!seen) return seen.error();
    seen->bind(1, scopedKey(request));
    auto row = seen->step();
    if (!row) return row.error();
    if (row.value()) {
      out.command = readRecord(seen.value());
      out.repeated = true;
      if (!(out.command.request == request)) {
        refusal =
            CommandError{CommandErrc::kConflict, "idempotency key '" + request.idempotency_key +
                                                     "' was used for a different command (" +
                                                     std::to_string(out.command.id) + ")"};
      }
      return {};
    }
  }
  auto insert = database_.prepare(
      "INSERT INTO commands (idempotency_key, kind, mailbox, device_id, device_ids, "
      "partnership, requested_by, state, attempts, created_ms, updated_ms, next_attempt_ms, "
      "deadline_ms, last_error, result, organisation, after_first, after_last) VALUES (?, ?, ?, ?, "
      "?, ?, ?, 'queued', 0, ?, ?, ?, ?, '', '', ?, ?, ?)");
  if (!insert) return insert.error();
  insert
      ->bind(1, request.idempotency_key.empty() ? std::optional<std::string>()
                                                : std::optional(scopedKey(request)))
      .bind(2, commandKindName(request.kind))
      .bind(3, request.mailbox)
      .bind(4, request.device_id)
      .bind(5, encodeIds(request.device_ids))
      .bind(6, request.partnership)
      .bind(7, request.requested_by)
      .bind(8, now)
      .bind(9, now)
      .bind(10, now)
      .bind(11, deadline_ms)
      .bind(12, encodeOrganisation(request));
  if (request.after) {
    insert->bind(13, request.after->first).bind(14, request.after->last);
  } else {
    insert->bind(13, nullptr).bind(14, nullptr);
  }
  if (auto r = insert->run(); !r) return r;
  out.command.id = database_.lastInsertId();
  out.command.request = request;
  out.command.created_ms = out.command.updated_ms = out.command.next_attempt_ms = now;
  out.command.deadline_ms = deadline_ms;
  std::string detail = "{\"command\":" + std::to_string(out.command.id);
  if (const std::string o = encodeOrganisation(request); o != "{}") {
    detail += ",\"organisation\":" + o;
  }
  if (request.after) detail += ",\"after\":" + commandRangeJson(*request.after);
  detail += "}";
  auto audited =
      audit_.append({now, request.requested_by, std::string(commandKindName(request.kind)),
                     targetOf(request), "accepted", detail},
                    /*in_transaction=*/true);
  if (!audited) return audited.error();
  return {};
}

Result<CommandJournal::Submitted, CommandError> CommandJournal::submit(
    const CommandRequest& request, std::int64_t deadline_ms) {
  std::lock_guard lock(mutex_);
  Submitted out;
  std::optional<CommandError> refusal;
  const std::int64_t now = clock_.nowMs();
  auto written = database_.transaction([&]() -> Result<void, store::StoreError> {
    return insert(request, deadline_ms, now, out, refusal);
  });
  if (!written) return storeError(written.error());
  if (refusal) return *refusal;
  if (!out.repeated) {
    spdlog::info("command {}: accepted: {} {} from {}", out.command.id,
                 commandKindName(request.kind), targetOf(request), request.requested_by);
  }
  return out;
}

Result<std::vector<CommandRecord>, CommandError> CommandJournal::submitSequence(
    std::vector<CommandRequest> requests, std::int64_t deadline_ms, const AlsoWrite& also) {
  std::lock_guard lock(mutex_);
  std::vector<CommandRecord> out;
  std::optional<CommandError> refusal;
  const std::int64_t now = clock_.nowMs();
  auto written = database_.transaction([&]() -> Result<void, store::StoreError> {
    out.clear();
    // The commands of the sequence so far are one run of ids: journaled here, one after the
    // other, in this transaction, under the journal's lock. A repeat of an earlier command (an
    // idempotency key) would break the run, so a sequence takes none.
    std::optional<CommandRange> before;        // every command of the sequence so far
    std::optional<std::int64_t> organisation;  // the last organisation command so far
    for (auto& request : requests) {
      if (!request.idempotency_key.empty()) {
        refusal =
            CommandError{CommandErrc::kInvalid, "a sequence of commands takes no idempotency key"};
        return store::StoreError{store::StoreErrc::kConstraint, refusal->message};
      }
      const bool org =
          commandKindInfo(request.kind).target == protocol::CommandTarget::kOrganisation;
      if (org) {
        request.after = before;
      } else if (organisation) {
        request.after = CommandRange{*organisation, *organisation};
      }
      Submitted one;
      if (auto r = insert(request, deadline_ms, now, one, refusal); !r) return r;
      if (refusal) {
        return store::StoreError{store::StoreErrc::kConstraint, refusal->message};
      }
      if (before && one.command.id != before->last + 1) {
        return store::StoreError{store::StoreErrc::kConstraint,
                                 "command " + std::to_string(one.command.id) +
                                     " does not follow the sequence's last, " +
                                     std::to_string(before->last)};
      }
      before = CommandRange{before ? before->first : one.command.id, one.command.id};
      if (org) organisation = one.command.id;
      out.push_back(std::move(one.command));
    }
    return also ? also(database_, out) : Result<void, store::StoreError>{};
  });
  if (refusal) return *refusal;
  if (!written) return storeError(written.error());
  for (const auto& c : out) {
    spdlog::info("command {}: accepted: {} {} from {}", c.id, commandKindName(c.request.kind),
                 targetOf(c.request), c.request.requested_by);
  }
  return out;
}

Result<void, CommandError> CommandJournal::resolveMailbox(std::int64_t id, const std::string& key) {
  return resolveMailboxes({{id, key}});
}

Result<void, CommandError> CommandJournal::resolveMailboxes(
    const std::vector<std::pair<std::int64_t, std::string>>& resolved) {
  std::lock_guard lock(mutex_);
  auto written = database_.transaction([&]() -> Result<void, store::StoreError> {
    auto q = database_.prepare(std::string("SELECT ") + kColumns + " FROM commands WHERE id = ?");
    if (!q) return q.error();
    auto update = database_.prepare("UPDATE commands SET mailbox_key = ? WHERE id = ?");
    if (!update) return update.error();
    // By mailbox, each mailbox's in journal order (its desired lists follow that order; no two
    // mailboxes share a list): the keys go into the index by mailbox in its order, each page of
    // it written once, where journal order wrote one at a random place for each command.
    std::vector<std::pair<std::int64_t, std::string>> by_mailbox = resolved;
    std::sort(by_mailbox.begin(), by_mailbox.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second, a.first) < std::tie(b.second, b.first);
    });
    for (const auto& [id, key] : by_mailbox) {
      q->reset();
      q->bind(1, id);
      auto row = q->step();
      if (!row) return row.error();
      if (!row.value()) {
        return store::StoreError{store::StoreErrc::kConstraint,
                                 "command " + std::to_string(id) + " is unknown"};
      }
      const CommandRecord command = readRecord(q.value());
      if (command.mailbox_key == key) continue;
      update->reset();
      if (auto r = update->bind(1, key).bind(2, id).run(); !r) return r;
      if (auto r = recordDesiredLists(database_, command.request, key); !r) return r;
    }
    return {};
  });
  if (!written) return storeError(written.error());
  return {};
}

Result<CommandRecord, CommandError> CommandJournal::get(std::int64_t id) {
  std::lock_guard lock(mutex_);
  auto q = database_.prepare(std::string("SELECT ") + kColumns + " FROM commands WHERE id = ?");
  if (!q) return storeError(q.error());
  q->bind(1, id);
  auto row = q->step();
  if (!row) return storeError(row.error());
  if (!row.value()) {
    return CommandError{CommandErrc::kNotFound, "no command " + std::to_string(id)};
  }
  return readRecord(q.value());
}

Result<CommandJournal::Unsucceeded, CommandError> CommandJournal::unsucceeded(
    const CommandRange& range) {
  std::lock_guard lock(mutex_);
  auto succeeded = database_.prepare(
      "SELECT count(*) FROM commands WHERE id BETWEEN ? AND ? AND state = 'succeeded'");
  if (!succeeded) return storeError(succeeded.error());
  succeeded->bind(1, range.first).bind(2, range.last);
  if (auto row = succeeded->step(); !row) return storeError(row.error());
  Unsucceeded out;
  out.count = range.size() - succeeded->integer(0);
  if (out.count == 0) return out;
  auto first = database_.prepare(std::string("SELECT ") + kColumns +
                                 " FROM commands WHERE id BETWEEN ? AND ? AND state <> "
                                 "'succeeded' ORDER BY id LIMIT 1");
  if (!first) return storeError(first.error());
  first->bind(1, range.first).bind(2, range.last);
  auto row = first->step();
  if (!row) return storeError(row.error());
  if (row.value()) out.first = readRecord(first.value());
  return out;
}

Result<std::vector<CommandRecord>, CommandError> CommandJournal::unfinished() {
  std::lock_guard lock(mutex_);
  auto q = database_.prepare(selectOpen("commands_open") + " ORDER BY id");
  if (!q) return storeError(q.error());
  auto records = readRecords(q.value());
  if (!records) return storeError(records.error());
  return std::move(records).value();
}

Result<std::vector<CommandRecord>, CommandError> CommandJournal::unresolved(std::size_t limit) {
  std::lock_guard lock(mutex_);
  auto q = database_.prepare(unresolvedSql());
  if (!q) return storeError(q.error());
  q->bind(1, static_cast<std::int64_t>(limit));
  auto records = readRecords(q.value());
  if (!records) return storeError(records.error());
  return std::move(records).value();
}

Result<CommandJournal::DueHeads, CommandError> CommandJournal::dueHeads(std::int64_t now,
                                                                        std::int64_t before_id,
                                                                        std::size_t limit) {
  std::lock_guard lock(mutex_);
  const auto max_rows = static_cast<std::int64_t>(limit);
  auto waits = database_.prepare(waitsSql());
  if (!waits) return storeError(waits.error());
  std::optional<store::StoreError> failed;  // of a question asked inside `due`
  // Whether a head (its mailbox's or the organisation's oldest unfinished command) may run.
  auto due = [&](const CommandRecord& c) {
    if (c.id >= before_id || c.next_attempt_ms > now) return false;
    if (!c.request.after) return true;
    waits->reset();
    waits->bind(1, c.request.after->first).bind(2, c.request.after->last);
    auto row = waits->step();
    if (!row) failed = row.error();
    return row && row.value() && waits->integer(0) == 0;
  };
  // The oldest unfinished command of a mailbox (by its key), or of the organisation.
  auto oldest = [&](const std::optional<std::string>& mailbox_key)
      -> Result<std::optional<CommandRecord>, store::StoreError> {
    auto q = database_.prepare(mailbox_key ? oldestOfMailboxSql() : oldestOfOrganisationSql());
    if (!q) return q.error();
    if (mailbox_key) q->bind(1, *mailbox_key);
    auto records = readRecords(q.value());
    if (!records) return records.error();
    if (records->empty()) return std::optional<CommandRecord>();
    return std::optional<CommandRecord>(std::move(records->front()));
  };
  auto byId = [](const CommandRecord& a, const CommandRecord& b) { return a.id < b.id; };

  DueHeads out;
  std::set<std::int64_t> taken;
  {
    // The mailboxes with an urgent command queued, the oldest first, and each one's head.
    auto q = database_.prepare(urgentMailboxesSql());
    if (!q) return storeError(q.error());
    q->bind(1, before_id).bind(2, max_rows);
    std::vector<std::pair<std::string, std::int64_t>> urgent;  // mailbox key, urgent commands
    while (true) {
      auto row = q->step();
      if (!row) return storeError(row.error());
      if (!row.value()) break;
      urgent.emplace_back(q->text(0), q->integer(1));
    }
    for (const auto& [key, queued] : urgent) {
      auto head = oldest(key);
      if (!head) return storeError(head.error());
      if (!head.value() || !due(**head)) continue;
      const bool itself = commandKindInfo(head.value()->request.kind).urgent;
      if (queued > (itself ? 1 : 0)) out.urgent_behind = true;
      taken.insert(head.value()->id);
      out.commands.push_back(std::move(**head));
    }
    std::sort(out.commands.begin(), out.commands.end(), byId);
    out.urgent = out.commands.size();
  }
  // The rest, oldest first: the organisation's head, and each mailbox's command that has no
  // unfinished one before it.
  std::vector<CommandRecord> rest;
  {
    auto head = oldest(std::nullopt);
    if (!head) return storeError(head.error());
    if (head.value() && due(**head)) rest.push_back(std::move(**head));
  }
  {
    auto q = database_.prepare(mailboxHeadsSql());
    if (!q) return storeError(q.error());
    q->bind(1, before_id).bind(2, now).bind(3, max_rows);
    auto heads = readRecords(q.value());
    if (!heads) return storeError(heads.error());
    for (auto& c : heads.value()) {
      if (!taken.contains(c.id)) rest.push_back(std::move(c));
    }
  }
  if (failed) return storeError(*failed);
  std::sort(rest.begin(), rest.end(), byId);
  if (rest.size() > limit) rest.resize(limit);
  for (auto& c : rest) out.commands.push_back(std::move(c));
  return out;
}

Result<std::vector<CommandRecord>, CommandError> CommandJournal::queuedBehind(
    const CommandRecord& head, std::size_t limit) {
  std::lock_guard lock(mutex_);
  if (head.mailbox_key.empty()) return std::vector<CommandRecord>();
  auto q = database_.prepare(queuedBehindSql());
  if (!q) return storeError(q.error());
  q->bind(1, head.mailbox_key).bind(2, head.id).bind(3, static_cast<std::int64_t>(limit));
  auto records = readRecords(q.value());
  if (!records) return storeError(records.error());
  return std::move(records).value();
}

Result<std::string, CommandError> CommandJournal::queryPlans() {
  std::lock_guard lock(mutex_);
  std::string plan;
  for (const std::string& sql : {unresolvedSql(), urgentMailboxesSql(), oldestOfMailboxSql(),
                                 oldestOfOrganisationSql(), mailboxHeadsSql(), waitsSql(),
                                 queuedBehindSql(), earliestDueSql(), listCommandsSinceSql()}) {
    auto q = database_.prepare("EXPLAIN QUERY PLAN " + sql);
    if (!q) return storeError(q.error());
    while (true) {
      auto row = q->step();
      if (!row) return storeError(row.error());
      if (!row.value()) break;
      plan += q->text(3) + "\n";
    }
    plan += "\n";
  }
  return plan;
}

Result<std::optional<std::int64_t>, CommandError> CommandJournal::earliestDue(
    std::int64_t up_to_id) {
  std::lock_guard lock(mutex_);
  auto q = database_.prepare(earliestDueSql());
  if (!q) return storeError(q.error());
  q->bind(1, up_to_id);
  auto row = q->step();
  if (!row) return storeError(row.error());
  if (!row.value() || q->isNull(0)) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(q->integer(0));
}

Result<std::int64_t, CommandError> CommandJournal::openFrom() {
  std::lock_guard lock(mutex_);
  auto q = database_.prepare(
      "SELECT coalesce((SELECT min(id) FROM commands INDEXED BY commands_open WHERE " +
      openStates() + "), (SELECT coalesce(max(id), 0) + 1 FROM commands))");
  if (!q) return storeError(q.error());
  auto row = q->step();
  if (!row) return storeError(row.error());
  return q->integer(0);
}

Result<CommandJournal::ListCommandsInFlight, CommandError> CommandJournal::listCommandsSince(
    std::int64_t from_id, std::int64_t since_ms) {
  std::lock_guard lock(mutex_);
  auto q = database_.prepare(listCommandsSinceSql());
  if (!q) return storeError(q.error());
  q->bind(1, from_id).bind(2, since_ms);
  ListCommandsInFlight out;
  while (true) {
    auto row = q->step();
    if (!row) return storeError(row.error());
    if (!row.value()) break;
    auto kind = commandKindFromName(q->text(0));
    if (!kind || listOf(*kind).empty()) continue;
    if (q->isNull(1)) {
      out.unresolved = true;
    } else {
      out.mailbox_keys.insert(q->text(1));
    }
  }
  return out;
}

Result<void, CommandError> CommandJournal::transition(std::int64_t id, CommandState state,
                                                      const std::string& text,
                                                      std::int64_t next_attempt_ms,
                                                      bool new_attempt) {
  std::lock_guard lock(mutex_);
  const std::int64_t now = clock_.nowMs();
  auto written = database_.transaction([&]() -> Result<void, store::StoreError> {
    auto update = database_.prepare(
        "UPDATE commands SET state = ?, updated_ms = ?, next_attempt_ms = ?, "
        "attempts = attempts + ?, "
        "last_error = CASE WHEN ? IN ('retrying', 'failed') THEN ? ELSE last_error END, "
        "result = CASE WHEN ? = 'succeeded' THEN ? ELSE result END "
        "WHERE id = ? AND state NOT IN ('succeeded', 'failed')");
    if (!update) return update.error();
    const std::string name(commandStateName(state));
    update->bind(1, name)
        .bind(2, now)
        .bind(3, next_attempt_ms)
        .bind(4, std::int64_t{new_attempt ? 1 : 0})
        .bind(5, name)
        .bind(6, text)
        .bind(7, name)
        .bind(8, text)
        .bind(9, id);
    if (auto r = update->run(); !r) return r;
    if (database_.changes() != 1) {
      return store::StoreError{store::StoreErrc::kConstraint,
                               "command " + std::to_string(id) + " is unknown or already final"};
    }
    // Every transition in the log as well: what was sent, what is retried and why, what failed
    // with Exchange's message.
    if (state == CommandState::kFailed || state == CommandState::kRetrying) {
      spdlog::warn("command {}: {}: {}", id, commandStateName(state), text);
    } else {
      spdlog::info("command {}: {}{}{}", id, commandStateName(state), text.empty() ? "" : ": ",
                   text);
    }
    if (!isFinal(state)) return {};
    auto q = database_.prepare(
        "SELECT kind, mailbox, device_id, partnership, requested_by FROM commands WHERE id = ?");
    if (!q) return q.error();
    q->bind(1, id);
    auto row = q->step();
    if (!row) return row.error();
    CommandRequest r;
    r.mailbox = q->text(1);
    r.device_id = q->text(2);
    r.partnership = q->text(3);
    auto audited =
        audit_.append({now, q->text(4), q->text(0), targetOf(r),
                       state == CommandState::kSucceeded ? "succeeded" : "failed: " + text,
                       "{\"command\":" + std::to_string(id) + "}"},
                      /*in_transaction=*/true);
    if (!audited) return audited.error();
    return {};
  });
  if (!written) return storeError(written.error());
  return {};
}

Result<void, CommandError> CommandJournal::recordDenied(const std::string& actor,
                                                        const std::string& action,
                                                        const std::string& target,
                                                        const std::string& reason) {
  std::lock_guard lock(mutex_);
  auto audited = audit_.append({clock_.nowMs(), actor, action, target, "denied: " + reason, "{}"});
  if (!audited) return storeError(audited.error());
  return {};
}

Result<void, CommandError> CommandJournal::markRunning(std::int64_t id) {
  return transition(id, CommandState::kRunning, "", clock_.nowMs(), /*new_attempt=*/true);
}

Result<void, CommandError> CommandJournal::markSucceeded(std::int64_t id,
                                                         const std::string& result) {
  return transition(id, CommandState::kSucceeded, result, clock_.nowMs(), false);
}

Result<void, CommandError> CommandJournal::markRetrying(std::int64_t id, const std::string& error,
                                                        std::int64_t next_attempt_ms) {
  return transition(id, CommandState::kRetrying, error, next_attempt_ms, false);
}

Result<void, CommandError> CommandJournal::markFailed(std::int64_t id, const std::string& error) {
  return transition(id, CommandState::kFailed, error, clock_.nowMs(), false);
}

Result<std::map<CommandState, std::int64_t>, store::StoreError> commandCountsByState(
    store::Database& database) {
  auto q = database.prepare("SELECT state, count(*) FROM commands GROUP BY state");
  if (!q) return q.error();
  std::map<CommandState, std::int64_t> out;
  while (true) {
    auto row = q->step();
    if (!row) return row.error();
    if (!row.value()) return out;
    if (auto state = commandStateFromName(q->text(0))) out[*state] = q->integer(1);
  }
}

}  // namespace easgate::agent
