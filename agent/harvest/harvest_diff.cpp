#include "agent/harvest/harvest_diff.h"

#include <set>

#include "agent/inventory/exchange_mapping.h"
#include "agent/inventory/object_text.h"
#include "common/json/json_writer.h"

namespace easgate::agent {
namespace {

// Event details are small JSON objects of text members (and lists).
class Detail {
 public:
  Detail() : w_(out_) { w_.beginObject(); }
  Detail& add(std::string_view key, std::string_view value) {
    w_.key(key);
    w_.string(value);
    return *this;
  }
  Detail& add(std::string_view key, bool value) {
    w_.key(key);
    w_.boolean(value);
    return *this;
  }
  Detail& add(std::string_view key, const std::vector<std::string>& values) {
    w_.key(key);
    w_.beginArray();
    for (const auto& v : values) w_.string(v);
    w_.endArray();
    return *this;
  }
  std::string done() {
    w_.endObject();
    return out_;
  }

 private:
  std::string out_;
  json::JsonWriter w_;
};

const std::string& valueOf(const DeviceFieldTexts& fields, const std::string& name) {
  static const std::string kNone;
  auto it = fields.find(name);
  return it == fields.end() ? kNone : it->second;
}

std::set<std::string> lowerSet(const std::vector<std::string>& ids) {
  std::set<std::string> out;
  for (const auto& id : ids) out.insert(lowerAscii(id));
  return out;
}

}  // namespace

bool isStatisticsField(std::string_view field) {
  return field == "lastSuccessSync" || field == "lastSyncAttemptTime" ||
         field == "lastPolicyUpdateTime" || field == "policyApplicationStatus" ||
         field.rfind("wipe", 0) == 0;
}

PartnershipDiff diffPartnership(const std::optional<StoredPartnership>& stored,
                                const DeviceRecord& read, const std::string& key,
                                bool statistics_came, bool allowed_by_mdm) {
  PartnershipDiff diff;
  // The usual case: read as it was stored (compared without building the fields).
  const bool as_stored =
      stored && !stored->removed && statistics_came && recordTextIs(read, stored->record);
  // Stored as read, statistics current: nothing to write, and no fields are built.
  if (as_stored && !stored->statistics_stale) return diff;
  diff.fields = fieldTextsOf(read);
  if (as_stored) return diff;
  if (!stored || stored->removed) {
    diff.kind = PartnershipDiff::Kind::kDiscovered;
    diff.events.push_back({"device-discovered", read.mailbox_identity, key,
                           Detail()
                               .add("deviceId", read.device_id)
                               .add("deviceType", read.device_type)
                               .add("accessState", read.access_state)
                               .add("allowedByMdm", allowed_by_mdm)
                               .done()});
    return diff;
  }
  // A record that does not parse is compared as empty: every field it had is written again.
  auto parsed = fieldTextsFromRecord(stored->record);
  const DeviceFieldTexts before = parsed ? std::move(parsed).value() : DeviceFieldTexts{};
  if (!statistics_came) {
    // No statistics this time (the mailbox was skipped, or is gone): keep what was known.
    for (auto& [name, value] : diff.fields) {
      auto old = before.find(name);
      if (isStatisticsField(name) && old != before.end()) value = old->second;
    }
  }
  bool access_changed = false, wipe_changed = false;
  for (const auto& [name, value] : diff.fields) {
    const std::string& old_value = valueOf(before, name);
    if (old_value == value) continue;
    access_changed |= name == "accessState" || name == "accessStateReason";
    wipe_changed |= name.rfind("wipe", 0) == 0;
    diff.changes.push_back({name, old_value, value});
  }
  if (diff.changes.empty()) return diff;
  diff.kind = PartnershipDiff::Kind::kChanged;
  if (access_changed) {
    diff.events.push_back({"access-state-changed", read.mailbox_identity, key,
                           Detail()
                               .add("deviceId", read.device_id)
                               .add("from", valueOf(before, "accessState"))
                               .add("to", read.access_state)
                               .add("reason", read.access_state_reason)
                               .done()});
  }
  if (wipe_changed) {
    diff.events.push_back({"wipe-status-changed", read.mailbox_identity, key,
                           Detail()
                               .add("deviceId", read.device_id)
                               .add("status", valueOf(diff.fields, "wipeStatus"))
                               .add("requested", valueOf(diff.fields, "wipeRequestTime"))
                               .add("sent", valueOf(diff.fields, "wipeSentTime"))
                               .add("acknowledged", valueOf(diff.fields, "wipeAckTime"))
                               .done()});
  }
  return diff;
}

bool listDiffers(const std::vector<std::string>& desired,
                 const std::vector<std::string>& exchange) {
  return lowerSet(desired) != lowerSet(exchange);
}

HarvestEvent removalEvent(const std::string& key, const DeviceFieldTexts& stored) {
  return {"partnership-removed", valueOf(stored, "mailboxIdentity"), key,
          Detail().add("deviceId", valueOf(stored, "deviceId")).done()};
}

HarvestEvent statisticsFailedEvent(const std::string& mailbox, const std::string& error) {
  return {"mailbox-statistics-failed", mailbox, "",
          Detail().add("mailbox", mailbox).add("error", error).done()};
}

HarvestEvent listDriftEvent(const std::string& mailbox_identity, const std::string& list,
                            const std::vector<std::string>& desired,
                            const std::vector<std::string>& exchange) {
  return {"list-drift", mailbox_identity, "",
          Detail().add("list", list).add("desired", desired).add("exchange", exchange).done()};
}

std::optional<std::size_t> joinStatistics(std::vector<StagedPartnership>& partnerships,
                                          const DeviceRecord& statistics, bool keep_unlisted) {
  const std::string key = partnershipKey(statistics.identity);
  const std::string& guid = statistics.guid;  // lower case
  std::size_t at = 0;
  while (at < partnerships.size() && (key.empty() || partnerships[at].key != key) &&
         (guid.empty() || partnerships[at].record.guid != guid)) {
    ++at;
  }
  if (at == partnerships.size()) {
    if (!keep_unlisted || key.empty()) return std::nullopt;
    StagedPartnership unlisted;
    unlisted.key = key;
    partnerships.push_back(std::move(unlisted));
  }
  mergeStatistics(partnerships[at].record, statistics);
  return at;
}

}  // namespace easgate::agent
