#include "agent/policy/policy_applies.h"

#include "common/json/json_value.h"
#include "common/json/json_writer.h"

namespace easgate::agent::policy {
namespace {

std::string encodeAdded(const std::vector<std::pair<std::string, std::string>>& added) {
  std::string out;
  json::JsonWriter w(out);
  w.beginArray();
  for (const auto& [mailbox, id] : added) {
    w.beginArray();
    w.string(mailbox);
    w.string(id);
    w.endArray();
  }
  w.endArray();
  return out;
}

std::vector<std::pair<std::string, std::string>> decodeAdded(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  auto doc = json::parseJson(text);
  if (!doc || !doc->asArray()) return out;
  for (const auto& pair : *doc->asArray()) {
    const auto* items = pair.asArray();
    if (!items || items->size() != 2 || !(*items)[0].asString() || !(*items)[1].asString()) {
      continue;
    }
    out.emplace_back(*(*items)[0].asString(), *(*items)[1].asString());
  }
  return out;
}

std::string encodeRuleChanges(const std::vector<AppliedRuleChange>& changes) {
  std::string out;
  json::JsonWriter w(out);
  w.beginArray();
  for (const auto& c : changes) {
    w.beginObject();
    w.key("remove");
    w.boolean(c.remove);
    for (auto [name, value] :
         {std::pair{"queryString", &c.query_string}, std::pair{"characteristic", &c.characteristic},
          std::pair{"level", &c.level}, std::pair{"previousLevel", &c.previous_level}}) {
      w.key(name);
      w.string(*value);
    }
    w.endObject();
  }
  w.endArray();
  return out;
}

std::vector<AppliedRuleChange> decodeRuleChanges(const std::string& text) {
  std::vector<AppliedRuleChange> out;
  auto doc = json::parseJson(text);
  if (!doc || !doc->asArray()) return out;
  for (const auto& item : *doc->asArray()) {
    auto member = [&](const char* name) {
      const json::JsonValue* v = item.find(name);
      return v && v->asString() ? *v->asString() : std::string();
    };
    const json::JsonValue* remove = item.find("remove");
    out.push_back({remove && remove->asBool() && *remove->asBool(), member("queryString"),
                   member("characteristic"), member("level"), member("previousLevel")});
  }
  return out;
}

constexpr const char* kColumns =
    "id, plan, at_ms, requested_by, previous_level, level, added, rolled_back_by, rule_changes";

}  // namespace

Result<void, store::StoreError> recordApply(store::Database& db, const PolicyApply& a) {
  auto q = db.prepare(std::string("INSERT INTO policy_applies (") + kColumns +
                      ") VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)");
  if (!q) return q.error();
  return q->bind(1, a.id)
      .bind(2, a.plan)
      .bind(3, a.at_ms)
      .bind(4, a.requested_by)
      .bind(5, a.previous_level)
      .bind(6, a.level)
      .bind(7, encodeAdded(a.added))
      .bind(8, encodeRuleChanges(a.rule_changes))
      .run();
}

Result<std::optional<PolicyApply>, store::StoreError> findApply(store::Database& db,
                                                                std::optional<std::int64_t> id) {
  auto q = db.prepare(std::string("SELECT ") + kColumns + " FROM policy_applies " +
                      (id ? "WHERE id = ?" : "WHERE rolled_back_by IS NULL ORDER BY id DESC") +
                      " LIMIT 1");
  if (!q) return q.error();
  if (id) q->bind(1, *id);
  auto row = q->step();
  if (!row) return row.error();
  if (!row.value()) return std::optional<PolicyApply>();
  PolicyApply a;
  a.id = q->integer(0);
  a.plan = q->text(1);
  a.at_ms = q->integer(2);
  a.requested_by = q->text(3);
  a.previous_level = q->text(4);
  a.level = q->text(5);
  a.added = decodeAdded(q->text(6));
  if (!q->isNull(7)) a.rolled_back_by = q->integer(7);
  a.rule_changes = decodeRuleChanges(q->text(8));
  return std::optional(std::move(a));
}

Result<void, store::StoreError> markRolledBack(store::Database& db, std::int64_t id,
                                               std::int64_t rollback_command) {
  auto q = db.prepare("UPDATE policy_applies SET rolled_back_by = ? WHERE id = ?");
  if (!q) return q.error();
  return q->bind(1, rollback_command).bind(2, id).run();
}

}  // namespace easgate::agent::policy
