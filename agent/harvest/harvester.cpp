#include "agent/harvest/harvester.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "agent/inventory/exchange_mapping.h"
#include "agent/inventory/object_text.h"
#include "common/json/json_value.h"
#include "common/json/json_writer.h"

namespace easgate::agent {
namespace {

constexpr std::int64_t kCommandDeadlineMs = 7LL * 24 * 3600 * 1000;

std::set<std::string> lowerSet(const std::vector<std::string>& ids) {
  std::set<std::string> out;
  for (const auto& id : ids) out.insert(lowerAscii(id));
  return out;
}

// A mailbox with partnerships as Get-CASMailbox gave it.
struct HarvestedMailbox {
  std::string identity;
  std::string address;
  std::vector<std::string> allowed;
  std::vector<std::string> blocked;
};

using FieldTexts = std::map<std::string, std::string>;  // field name -> text

FieldTexts fieldTexts(const DeviceRecord& r) {
  FieldTexts out;
  for (const auto& f : deviceFields()) out[std::string(f.name)] = fieldText(r, f);
  return out;
}

std::string encodeFields(const FieldTexts& fields) {
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

FieldTexts decodeFields(const std::string& text) {
  FieldTexts out;
  auto doc = json::parseJson(text);
  if (doc && doc->asObject()) {
    for (const auto& [name, value] : *doc->asObject()) {
      if (value.asString()) out[name] = *value.asString();
    }
  }
  return out;
}

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

using StoreResult = Result<void, store::StoreError>;

}  // namespace

Harvester::Harvester(store::Database& database, ExchangeGateway& gateway, CommandJournal* journal,
                     const Clock& clock, HarvestOptions options)
    : database_(database), gateway_(gateway), journal_(journal), clock_(clock), options_(options) {
  if (options_.parallelism == 0) options_.parallelism = 1;
}

Result<HarvestReport, HarvestError> Harvester::run(HarvestKind requested) {
  std::unique_lock one_at_a_time(running_, std::try_to_lock);
  if (!one_at_a_time) return HarvestError{HarvestErrc::kBusy, "a harvest is already running"};
  auto storeFailure = [](const store::StoreError& e) {
    return HarvestError{HarvestErrc::kStore, e.message};
  };

  HarvestReport report;
  report.started_ms = clock_.nowMs();
  std::optional<std::int64_t> last_start;
  {
    auto q = database_.prepare("SELECT max(started_ms) FROM harvests");
    if (!q) return storeFailure(q.error());
    auto row = q->step();
    if (!row) return storeFailure(row.error());
    if (row.value() && !q->isNull(0)) last_start = q->integer(0);
  }
  report.kind =
      requested == HarvestKind::kDelta && last_start ? HarvestKind::kDelta : HarvestKind::kFull;
  const bool full = report.kind == HarvestKind::kFull;

  // 1. Read from Exchange. Nothing is written until everything has been read.
  InventoryBuilder builder;
  std::mutex gathered;
  std::set<std::string> mailboxes_with_devices;
  std::set<std::string> listed_devices;  // keys of the partnerships Get-MobileDevice returned
  std::map<std::string, HarvestedMailbox> harvested_mailboxes;  // lower-case identity
  std::atomic<std::size_t> calls{0};
  ObjectSink sink = [&](std::vector<powershell::PsValue>&& batch) {
    std::lock_guard lock(gathered);
    for (const auto& v : batch) {
      if (const powershell::PsObject* o = v.asObject()) {
        switch (classifyExchangeObject(*o)) {
          case ExchangeObjectKind::kMobileDevice: {
            const std::string identity = propertyText(*o, "Identity");
            std::string mailbox = mailboxOfDeviceIdentity(identity);
            if (!mailbox.empty()) mailboxes_with_devices.insert(mailbox);
            listed_devices.insert(partnershipKey(identity));
            break;
          }
          case ExchangeObjectKind::kCasMailbox: {
            HarvestedMailbox m{propertyText(*o, "Identity"), propertyText(*o, "PrimarySmtpAddress"),
                               propertyList(*o, "ActiveSyncAllowedDeviceIDs"),
                               propertyList(*o, "ActiveSyncBlockedDeviceIDs")};
            harvested_mailboxes[lowerAscii(m.identity)] = std::move(m);
            break;
          }
          default: break;
        }
      }
      builder.add(v);
    }
  };
  auto call = [&](GatewayResult r) -> std::optional<HarvestError> {
    ++calls;
    if (r) return std::nullopt;
    return HarvestError{HarvestErrc::kExchange, r.error().message};
  };
  if (full) {
    if (auto e = call(gateway_.listDevices(sink))) return *e;
    if (auto e = call(gateway_.casMailboxes(sink))) return *e;
  } else {
    const std::int64_t since = *last_start - options_.delta_overlap_ms;
    if (auto e = call(gateway_.listDevicesChangedSince(sink, since))) return *e;
  }
  {
    const std::vector<std::string> mailboxes(mailboxes_with_devices.begin(),
                                             mailboxes_with_devices.end());
    std::atomic<std::size_t> next{0};
    std::mutex failure_mutex;
    std::optional<HarvestError> failure;
    auto worker = [&] {
      for (std::size_t i = next++; i < mailboxes.size(); i = next++) {
        if (auto e = call(gateway_.deviceStatistics(mailboxes[i], sink))) {
          std::lock_guard lock(failure_mutex);
          if (!failure) failure = e;
          return;
        }
      }
    };
    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < std::min(options_.parallelism, mailboxes.size()); ++i) {
      workers.emplace_back(worker);
    }
    worker();
    for (auto& w : workers) w.join();
    if (failure) return *failure;
  }
  std::vector<DeviceRecord> records = std::move(builder).finish();
  // A delta's statistics bring in the changed partnerships' neighbours too; they are not read.
  report.devices = full ? records.size() : listed_devices.size();
  report.calls = calls;

  // 2. Apply it, all or nothing.
  const std::int64_t now = clock_.nowMs();
  std::vector<std::pair<std::string, std::vector<std::string>>> corrections;  // mailbox, list
  auto applied = database_.transaction([&]() -> StoreResult {
    auto event = database_.prepare(
        "INSERT INTO events (at_ms, kind, mailbox, device_key, detail) VALUES (?, ?, ?, ?, ?)");
    if (!event) return event.error();
    auto recorded = database_.prepare(
        "INSERT INTO harvests (kind, started_ms, finished_ms, devices, calls) VALUES (?, ?, ?, ?, "
        "?)");
    if (!recorded) return recorded.error();
    if (auto x = recorded->bind(1, full ? "full" : "delta")
                     .bind(2, report.started_ms)
                     .bind(3, now)
                     .bind(4, static_cast<std::int64_t>(report.devices))
                     .bind(5, static_cast<std::int64_t>(report.calls))
                     .run();
        !x) {
      return x;
    }
    auto emit = [&](std::string_view kind, const std::string& mailbox, const std::string& key,
                    std::string detail) {
      return event->bind(1, now).bind(2, kind).bind(3, mailbox).bind(4, key).bind(5, detail).run();
    };
    // What the MDM wants on the allowed lists, by lower-case mailbox name.
    std::map<std::string, std::set<std::string>> desired_allowed;
    {
      auto q = database_.prepare(
          "SELECT mailbox, device_id FROM mailbox_lists WHERE source = 'desired' AND "
          "list = 'allowed'");
      if (!q) return q.error();
      while (true) {
        auto row = q->step();
        if (!row) return row.error();
        if (!row.value()) break;
        desired_allowed[q->text(0)].insert(lowerAscii(q->text(1)));
      }
    }
    std::map<std::string, std::string> address_of;  // lower identity -> lower address
    for (const auto& [key, m] : harvested_mailboxes) address_of[key] = lowerAscii(m.address);
    {
      auto q = database_.prepare("SELECT identity, address FROM mailboxes");
      if (!q) return q.error();
      while (true) {
        auto row = q->step();
        if (!row) return row.error();
        if (!row.value()) break;
        address_of.emplace(lowerAscii(q->text(0)), lowerAscii(q->text(1)));
      }
    }
    auto mdmAllowed = [&](const DeviceRecord& r) {
      for (const std::string& name : {lowerAscii(r.mailbox_identity), lowerAscii(r.mailbox_address),
                                      address_of.count(lowerAscii(r.mailbox_identity))
                                          ? address_of[lowerAscii(r.mailbox_identity)]
                                          : std::string()}) {
        auto it = desired_allowed.find(name);
        if (!name.empty() && it != desired_allowed.end() &&
            it->second.count(lowerAscii(r.device_id)))
          return true;
      }
      return false;
    };

    // What the store holds of the partnerships at hand: every one for a full harvest (it must
    // also find the missing), only those read for a delta.
    std::map<std::string, std::pair<FieldTexts, bool>> stored;  // key -> fields, removed
    {
      auto q = database_.prepare(
          full ? "SELECT key, record, removed_ms IS NOT NULL FROM devices"
               : "SELECT key, record, removed_ms IS NOT NULL FROM devices WHERE key = ?");
      if (!q) return q.error();
      auto readRows = [&]() -> StoreResult {
        while (true) {
          auto row = q->step();
          if (!row) return row.error();
          if (!row.value()) break;
          stored[q->text(0)] = {decodeFields(q->text(1)), q->integer(2) != 0};
        }
        q->reset();
        return {};
      };
      if (full) {
        if (auto r = readRows(); !r) return r;
      } else {
        for (const auto& key : listed_devices) {
          q->bind(1, key);
          if (auto r = readRows(); !r) return r;
        }
      }
    }
    auto insert = database_.prepare(
        "INSERT INTO devices (key, mailbox, record, first_seen_ms, last_seen_ms) "
        "VALUES (?, ?, ?, ?, ?)");
    auto update = database_.prepare(
        "UPDATE devices SET mailbox = ?, record = ?, last_seen_ms = ?, removed_ms = NULL "
        "WHERE key = ?");
    auto change = database_.prepare(
        "INSERT INTO device_changes (device_key, at_ms, field, old_value, new_value) "
        "VALUES (?, ?, ?, ?, ?)");
    if (!insert) return insert.error();
    if (!update) return update.error();
    if (!change) return change.error();
    auto save = [&](const DeviceRecord& r, const std::string& key, const FieldTexts& fields) {
      return update->bind(1, r.mailbox_identity)
          .bind(2, encodeFields(fields))
          .bind(3, now)
          .bind(4, key)
          .run();
    };
    std::set<std::string> seen;
    for (const auto& r : records) {
      if (r.identity.empty()) continue;
      const std::string key = partnershipKey(r.identity);
      // A delta reads a whole mailbox's statistics for one changed partnership: the others'
      // statistics alone are no record to store.
      if (!full && !listed_devices.count(key)) continue;
      seen.insert(key);
      const FieldTexts now_fields = fieldTexts(r);
      auto it = stored.find(key);
      if (it == stored.end() || it->second.second) {
        if (it == stored.end()) {
          if (auto x = insert->bind(1, key)
                           .bind(2, r.mailbox_identity)
                           .bind(3, encodeFields(now_fields))
                           .bind(4, now)
                           .bind(5, now)
                           .run();
              !x) {
            return x;
          }
        } else if (auto x = save(r, key, now_fields); !x) {
          return x;
        }
        ++report.discovered;
        if (auto x = emit("device-discovered", r.mailbox_identity, key,
                          Detail()
                              .add("deviceId", r.device_id)
                              .add("deviceType", r.device_type)
                              .add("accessState", r.access_state)
                              .add("allowedByMdm", mdmAllowed(r))
                              .done());
            !x) {
          return x;
        }
        continue;
      }
      const FieldTexts& before = it->second.first;
      bool access_changed = false, wipe_changed = false, any = false;
      for (const auto& [name, value] : now_fields) {
        auto old = before.find(name);
        const std::string old_value = old == before.end() ? "" : old->second;
        if (old_value == value) continue;
        any = true;
        access_changed |= name == "accessState" || name == "accessStateReason";
        wipe_changed |= name.rfind("wipe", 0) == 0;
        if (auto x = change->bind(1, key)
                         .bind(2, now)
                         .bind(3, name)
                         .bind(4, old_value)
                         .bind(5, value)
                         .run();
            !x) {
          return x;
        }
      }
      if (auto x = save(r, key, now_fields); !x) {
        return x;
      }
      if (any) ++report.changed;
      if (access_changed) {
        auto old_state = before.count("accessState") ? before.at("accessState") : "";
        if (auto x = emit("access-state-changed", r.mailbox_identity, key,
                          Detail()
                              .add("deviceId", r.device_id)
                              .add("from", old_state)
                              .add("to", r.access_state)
                              .add("reason", r.access_state_reason)
                              .done());
            !x) {
          return x;
        }
      }
      if (wipe_changed) {
        if (auto x = emit("wipe-status-changed", r.mailbox_identity, key,
                          Detail()
                              .add("deviceId", r.device_id)
                              .add("status", r.wipe_status)
                              .add("requested", now_fields.at("wipeRequestTime"))
                              .add("sent", now_fields.at("wipeSentTime"))
                              .add("acknowledged", now_fields.at("wipeAckTime"))
                              .done());
            !x) {
          return x;
        }
      }
    }
    if (!full) return {};

    // Only a full harvest sees everything, so only it can tell what is gone and what drifted.
    auto removed = database_.prepare("UPDATE devices SET removed_ms = ? WHERE key = ?");
    if (!removed) return removed.error();
    for (const auto& [key, entry] : stored) {
      if (entry.second || seen.count(key)) continue;
      if (auto x = removed->bind(1, now).bind(2, key).run(); !x) return x;
      ++report.removed;
      const auto id = entry.first.count("deviceId") ? entry.first.at("deviceId") : "";
      const auto mailbox =
          entry.first.count("mailboxIdentity") ? entry.first.at("mailboxIdentity") : "";
      if (auto x = emit("partnership-removed", mailbox, key, Detail().add("deviceId", id).done());
          !x) {
        return x;
      }
    }
    if (auto x = database_.execute("DELETE FROM mailbox_lists WHERE source = 'harvested'"); !x)
      return x;
    auto list_row = database_.prepare(
        "INSERT OR IGNORE INTO mailbox_lists (mailbox, list, source, device_id) "
        "VALUES (?, ?, 'harvested', ?)");
    auto mailbox_row = database_.prepare(
        "INSERT INTO mailboxes (identity, address, seen_ms) VALUES (?, ?, ?) "
        "ON CONFLICT (identity) DO UPDATE SET address = excluded.address, seen_ms = "
        "excluded.seen_ms");
    if (!list_row) return list_row.error();
    if (!mailbox_row) return mailbox_row.error();
    for (const auto& [key, m] : harvested_mailboxes) {
      if (auto x = mailbox_row->bind(1, m.identity).bind(2, m.address).bind(3, now).run(); !x)
        return x;
      for (const auto& [list, ids] :
           {std::pair{"allowed", &m.allowed}, std::pair{"blocked", &m.blocked}}) {
        for (const auto& id : *ids) {
          if (auto x = list_row->bind(1, m.identity).bind(2, list).bind(3, id).run(); !x) return x;
        }
      }
    }
    // Drift: a list the MDM manages that Exchange holds otherwise.
    auto managed =
        database_.prepare("SELECT mailbox, list FROM managed_lists ORDER BY mailbox, list");
    auto desired = database_.prepare(
        "SELECT device_id FROM mailbox_lists WHERE source = 'desired' AND mailbox = ? AND list = ? "
        "ORDER BY device_id");
    if (!managed) return managed.error();
    if (!desired) return desired.error();
    while (true) {
      auto row = managed->step();
      if (!row) return row.error();
      if (!row.value()) break;
      const std::string name = managed->text(0), list = managed->text(1);
      const HarvestedMailbox* found = nullptr;
      for (const auto& [key, m] : harvested_mailboxes) {
        if (key == name || lowerAscii(m.address) == name) found = &m;
      }
      if (!found) continue;  // no partnership on it now: nothing for Exchange to enforce
      std::vector<std::string> wanted;
      desired->bind(1, name).bind(2, list);
      while (true) {
        auto d = desired->step();
        if (!d) return d.error();
        if (!d.value()) break;
        wanted.push_back(desired->text(0));
      }
      desired->reset();
      const auto& actual = list == "allowed" ? found->allowed : found->blocked;
      if (lowerSet(wanted) == lowerSet(actual)) continue;
      ++report.drifted;
      if (auto x = emit(
              "list-drift", found->identity, "",
              Detail().add("list", list).add("desired", wanted).add("exchange", actual).done());
          !x) {
        return x;
      }
      if (list == "allowed") corrections.emplace_back(name, wanted);
    }
    return {};
  });
  if (!applied) return storeFailure(applied.error());

  report.finished_ms = now;

  if (options_.correct_drift && journal_ && !corrections.empty()) {
    // One correction at a time per mailbox: drift that persists while one is queued is the
    // same drift.
    std::set<std::string> pending;
    if (auto unfinished = journal_->unfinished()) {
      for (const auto& c : unfinished.value()) {
        if (c.request.kind == CommandKind::kSetAllowed)
          pending.insert(lowerAscii(c.request.mailbox));
      }
    }
    for (const auto& [mailbox, wanted] : corrections) {
      if (pending.count(mailbox)) continue;
      CommandRequest set;
      set.kind = CommandKind::kSetAllowed;
      set.mailbox = mailbox;
      set.device_ids = wanted;
      set.requested_by = "easgate (drift correction)";
      if (journal_->submit(set, now + kCommandDeadlineMs)) ++report.corrections;
    }
  }
  return report;
}

}  // namespace easgate::agent
