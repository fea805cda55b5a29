#include "agent/harvest/harvester.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "agent/inventory/exchange_mapping.h"
#include "agent/inventory/object_text.h"
#include "agent/mailboxes/mailbox_directory.h"
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

// What only Get-MobileDeviceStatistics reports: kept from the last harvest when a mailbox's
// statistics could not be read this time.
bool statisticsField(std::string_view name) {
  return name == "lastSuccessSync" || name.rfind("wipe", 0) == 0;
}

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

std::optional<GatewayError> Harvester::statisticsOf(const std::string& mailbox,
                                                    const ObjectSink& sink, std::size_t& calls) {
  std::int64_t wait_ms = options_.statistics_retry_ms;
  for (int attempt = 1;; ++attempt) {
    ++calls;
    auto r = gateway_.deviceStatistics(mailbox, sink);
    if (r) return std::nullopt;
    const GatewayError& e = r.error();
    // Deleted since it was listed, or its partnerships removed: nothing to read, no failure.
    if (e.code == GatewayErrc::kNotFound) return std::nullopt;
    if (!e.retryable() || attempt >= options_.statistics_attempts) return e;
    const std::int64_t wait =
        std::min(std::max(wait_ms, e.retry_after_ms), options_.statistics_max_wait_ms);
    if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    wait_ms *= 2;
  }
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

  // 1. Read from Exchange. Nothing is written until everything has been read. Each call's
  // objects are what its cmdlet returns, whatever type names this Exchange gives them.
  InventoryBuilder builder;
  std::mutex gathered;
  std::set<std::string> mailboxes_with_devices;
  std::set<std::string> listed_devices;   // keys of the partnerships Get-MobileDevice returned
  std::set<std::string> with_statistics;  // keys of the partnerships statistics came for
  std::vector<MailboxEntry> harvested_mailboxes;
  std::size_t calls = 0;
  auto sinkFor = [&](ExchangeObjectKind origin) -> ObjectSink {
    return [&, origin](std::vector<powershell::PsValue>&& batch) {
      std::lock_guard lock(gathered);
      for (const auto& v : batch) {
        if (const powershell::PsObject* o = v.asObject()) {
          if (origin == ExchangeObjectKind::kMobileDevice) {
            const std::string identity = propertyText(*o, "Identity");
            std::string mailbox = mailboxOfDeviceIdentity(identity);
            if (!mailbox.empty()) mailboxes_with_devices.insert(mailbox);
            listed_devices.insert(partnershipKey(identity));
          } else if (origin == ExchangeObjectKind::kMobileDeviceStatistics) {
            with_statistics.insert(partnershipKey(propertyText(*o, "Identity")));
          } else if (origin == ExchangeObjectKind::kCasMailbox) {
            if (auto entry = mailboxEntryFromCasMailbox(*o)) {
              harvested_mailboxes.push_back(std::move(*entry));
            }
          }
        }
        builder.add(v, origin);
      }
    };
  };
  auto call = [&](GatewayResult r) -> std::optional<HarvestError> {
    ++calls;
    if (r) return std::nullopt;
    return HarvestError{HarvestErrc::kExchange, r.error().message};
  };
  if (full) {
    if (auto e = call(gateway_.listDevices(sinkFor(ExchangeObjectKind::kMobileDevice)))) return *e;
    if (auto e = call(gateway_.casMailboxes(sinkFor(ExchangeObjectKind::kCasMailbox)))) return *e;
  } else {
    const std::int64_t since = *last_start - options_.delta_overlap_ms;
    if (auto e = call(
            gateway_.listDevicesChangedSince(sinkFor(ExchangeObjectKind::kMobileDevice), since))) {
      return *e;
    }
  }
  std::vector<FailedMailbox> failed_mailboxes;
  {
    const std::vector<std::string> mailboxes(mailboxes_with_devices.begin(),
                                             mailboxes_with_devices.end());
    const ObjectSink statistics_sink = sinkFor(ExchangeObjectKind::kMobileDeviceStatistics);
    std::atomic<std::size_t> next{0};
    std::mutex failure_mutex;
    auto worker = [&] {
      std::size_t my_calls = 0;
      for (std::size_t i = next++; i < mailboxes.size(); i = next++) {
        if (auto e = statisticsOf(mailboxes[i], statistics_sink, my_calls)) {
          std::lock_guard lock(failure_mutex);
          failed_mailboxes.push_back({mailboxes[i], e->message});
        }
      }
      std::lock_guard lock(failure_mutex);
      calls += my_calls;
    };
    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < std::min(options_.parallelism, mailboxes.size()); ++i) {
      workers.emplace_back(worker);
    }
    worker();
    for (auto& w : workers) w.join();
    std::sort(failed_mailboxes.begin(), failed_mailboxes.end(),
              [](const FailedMailbox& a, const FailedMailbox& b) { return a.mailbox < b.mailbox; });
  }
  std::vector<DeviceRecord> records = std::move(builder).finish();
  // A delta's statistics bring in the changed partnerships' neighbours too; they are not read.
  report.devices = full ? records.size() : listed_devices.size();
  report.calls = calls;
  report.failed_mailboxes = failed_mailboxes.size();

  // 2. Apply it, all or nothing.
  const std::int64_t now = clock_.nowMs();
  struct Correction {
    std::string mailbox;  // the mailbox's Identity, for the command
    std::string key;
    std::string list;
    std::vector<std::string> wanted;
  };
  std::vector<Correction> corrections;
  MailboxDirectory directory(database_);
  auto applied = database_.transaction([&]() -> StoreResult {
    auto event = database_.prepare(
        "INSERT INTO events (at_ms, kind, mailbox, device_key, detail) VALUES (?, ?, ?, ?, ?)");
    if (!event) return event.error();
    auto recorded = database_.prepare(
        "INSERT INTO harvests (kind, started_ms, finished_ms, devices, calls, failed_mailboxes) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    if (!recorded) return recorded.error();
    if (auto x = recorded->bind(1, full ? "full" : "delta")
                     .bind(2, report.started_ms)
                     .bind(3, now)
                     .bind(4, static_cast<std::int64_t>(report.devices))
                     .bind(5, static_cast<std::int64_t>(report.calls))
                     .bind(6, static_cast<std::int64_t>(report.failed_mailboxes))
                     .run();
        !x) {
      return x;
    }
    auto emit = [&](std::string_view kind, const std::string& mailbox, const std::string& key,
                    std::string detail) {
      return event->bind(1, now).bind(2, kind).bind(3, mailbox).bind(4, key).bind(5, detail).run();
    };
    for (const auto& f : failed_mailboxes) {
      if (auto x = emit("mailbox-statistics-failed", f.mailbox, "",
                        Detail().add("mailbox", f.mailbox).add("error", f.error).done());
          !x) {
        return x;
      }
    }
    // The directory first: the partnerships below find their mailbox's key through it.
    for (const auto& m : harvested_mailboxes) {
      if (auto x = directory.record(m, now, /*lists=*/true); !x) return x;
    }
    if (full) {
      if (auto x = directory.rekeyLegacyLists(); !x) return x.error();
    }
    // What the MDM wants on the allowed lists, by mailbox key.
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
    // Only discoveries ask, and only about mailboxes with a desired list: most ask nothing.
    std::map<std::string, std::string> key_of;  // a mailbox's name -> its key ("" unknown)
    auto keyOf = [&](const std::string& name) -> const std::string& {
      auto [it, added] = key_of.emplace(name, "");
      if (added && !name.empty()) {
        auto known = directory.lookup(name);
        if (known.kind == NameLookup::Kind::kFound) it->second = known.key;
      }
      return it->second;
    };
    auto mdmAllowed = [&](const DeviceRecord& r) {
      if (desired_allowed.empty()) return false;
      std::string key = keyOf(r.mailbox_identity);
      if (key.empty()) key = keyOf(r.mailbox_address);
      auto it = desired_allowed.find(key);
      return it != desired_allowed.end() && it->second.count(lowerAscii(r.device_id)) > 0;
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
    auto stale = database_.prepare("UPDATE devices SET statistics_stale_ms = ? WHERE key = ?");
    if (!stale) return stale.error();
    auto save = [&](const DeviceRecord& r, const std::string& key, const FieldTexts& fields) {
      if (auto x = update->bind(1, r.mailbox_identity)
                       .bind(2, encodeFields(fields))
                       .bind(3, now)
                       .bind(4, key)
                       .run();
          !x) {
        return x;
      }
      // Statistics that came are fresh; those kept from before are as old as they were.
      const bool fresh = with_statistics.count(key) > 0;
      return stale->bind(1, fresh ? std::optional<std::string>() : std::to_string(now))
          .bind(2, key)
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
      const FieldTexts fieldsNow = fieldTexts(r);
      auto it = stored.find(key);
      if (it == stored.end() || it->second.second) {
        if (it == stored.end()) {
          if (auto x = insert->bind(1, key)
                           .bind(2, r.mailbox_identity)
                           .bind(3, encodeFields(fieldsNow))
                           .bind(4, now)
                           .bind(5, now)
                           .run();
              !x) {
            return x;
          }
          if (!with_statistics.count(key)) {
            if (auto x = stale->bind(1, now).bind(2, key).run(); !x) return x;
          }
        } else if (auto x = save(r, key, fieldsNow); !x) {
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
      FieldTexts now_fields = fieldsNow;
      if (!with_statistics.count(key)) {
        // No statistics this time (the mailbox was skipped, or is gone): keep what was known.
        for (auto& [name, value] : now_fields) {
          auto old = before.find(name);
          if (statisticsField(name) && old != before.end()) value = old->second;
        }
      }
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
    // Drift: a list the MDM manages that Exchange holds otherwise. A mailbox with a list command
    // still to run, or one that ran while this harvest was reading (its lists may have been
    // read before it), is not drifting, only behind. While any list command has not learned
    // its mailbox's key, no correction is queued (it may be for any mailbox, and a correction
    // queued now would run after it and undo it).
    std::set<std::string> busy;
    bool unresolved = false;
    {
      auto q = database_.prepare(
          "SELECT mailbox_key FROM commands WHERE kind IN ('allow', 'revoke', 'block', "
          "'unblock', 'set-allowed', 'set-blocked') AND (state NOT IN ('succeeded', 'failed') "
          "OR updated_ms >= ?)");
      if (!q) return q.error();
      q->bind(1, report.started_ms);
      while (true) {
        auto row = q->step();
        if (!row) return row.error();
        if (!row.value()) break;
        if (q->isNull(0)) {
          unresolved = true;
        } else {
          busy.insert(q->text(0));
        }
      }
    }
    std::map<std::string, const MailboxEntry*> harvested_by_key;
    for (const auto& m : harvested_mailboxes) harvested_by_key[m.key] = &m;
    auto managed =
        database_.prepare("SELECT mailbox, list FROM managed_lists ORDER BY mailbox, list");
    if (!managed) return managed.error();
    while (true) {
      auto row = managed->step();
      if (!row) return row.error();
      if (!row.value()) break;
      const std::string key = managed->text(0), list = managed->text(1);
      auto found = harvested_by_key.find(key);
      // No partnership on it now: nothing for Exchange to enforce. A command pending: behind.
      if (found == harvested_by_key.end() || busy.count(key)) continue;
      auto wanted = directory.list(key, list, MailboxDirectory::Source::kDesired);
      if (!wanted) return wanted.error();
      const MailboxEntry& m = *found->second;
      const auto& actual = list == "allowed" ? m.allowed : m.blocked;
      if (lowerSet(wanted.value()) == lowerSet(actual)) continue;
      ++report.drifted;
      if (auto x = emit("list-drift", m.identity, "",
                        Detail()
                            .add("list", list)
                            .add("desired", wanted.value())
                            .add("exchange", actual)
                            .done());
          !x) {
        return x;
      }
      if (!unresolved) corrections.push_back({m.identity, key, list, wanted.value()});
    }
    return {};
  });
  if (!applied) return storeFailure(applied.error());

  report.finished_ms = now;

  if (options_.correct_drift && journal_) {
    for (const auto& c : corrections) {
      CommandRequest set;
      set.kind = c.list == "allowed" ? CommandKind::kSetAllowed : CommandKind::kSetBlocked;
      set.mailbox = c.mailbox;
      set.device_ids = c.wanted;
      set.requested_by = "easgate (drift correction)";
      if (journal_->submit(set, now + kCommandDeadlineMs)) ++report.corrections;
    }
  }
  return report;
}

}  // namespace easgate::agent
