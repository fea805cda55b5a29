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

namespace easgate::agent {
namespace {

constexpr std::int64_t kCommandDeadlineMs = 7LL * 24 * 3600 * 1000;
// The directory is written in background store transactions that last at most this long, and
// less when the journal wants the store: a command the MDM sends meanwhile is journaled at once.
constexpr auto kDirectoryTransactionBudget = std::chrono::milliseconds(50);

}  // namespace

struct Harvester::Gathered {
  std::vector<DeviceRecord> records;
  std::set<std::string> listed;           // keys of the partnerships Get-MobileDevice returned
  std::set<std::string> with_statistics;  // keys of the partnerships statistics came for
  std::vector<MailboxEntry> mailboxes;    // Get-CASMailbox (full harvests)
  std::vector<FailedMailbox> failed;      // mailboxes whose statistics were skipped
  std::size_t calls = 0;
};

struct Harvester::Correction {
  std::string mailbox;  // the mailbox's Identity, for the command
  std::string list;
  std::vector<std::string> wanted;
};

Harvester::Harvester(store::Database& store, InventoryStore& inventory, ExchangeGateway& gateway,
                     CommandJournal* journal, const Clock& clock, HarvestOptions options)
    : store_(store),
      inventory_(inventory),
      directory_(store),
      gateway_(gateway),
      journal_(journal),
      clock_(clock),
      options_(options) {
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

Result<Harvester::Gathered, HarvestError> Harvester::gather(bool full, std::int64_t since_ms) {
  // Each call's objects are what its cmdlet returns, whatever type names this Exchange gives
  // them.
  Gathered g;
  InventoryBuilder builder;
  std::mutex gathered;
  std::set<std::string> mailboxes_with_devices;
  auto sinkFor = [&](ExchangeObjectKind origin) -> ObjectSink {
    return [&, origin](std::vector<powershell::PsValue>&& batch) {
      std::lock_guard lock(gathered);
      for (const auto& v : batch) {
        if (const powershell::PsObject* o = v.asObject()) {
          if (origin == ExchangeObjectKind::kMobileDevice) {
            const std::string identity = propertyText(*o, "Identity");
            std::string mailbox = mailboxOfDeviceIdentity(identity);
            if (!mailbox.empty()) mailboxes_with_devices.insert(mailbox);
            g.listed.insert(partnershipKey(identity));
          } else if (origin == ExchangeObjectKind::kMobileDeviceStatistics) {
            g.with_statistics.insert(partnershipKey(propertyText(*o, "Identity")));
          } else if (origin == ExchangeObjectKind::kCasMailbox) {
            if (auto entry = mailboxEntryFromCasMailbox(*o))
              g.mailboxes.push_back(std::move(*entry));
          }
        }
        builder.add(v, origin);
      }
    };
  };
  auto call = [&](GatewayResult r) -> std::optional<HarvestError> {
    ++g.calls;
    if (r) return std::nullopt;
    return HarvestError{HarvestErrc::kExchange, r.error().message};
  };
  if (full) {
    if (auto e = call(gateway_.listDevices(sinkFor(ExchangeObjectKind::kMobileDevice)))) return *e;
    if (auto e = call(gateway_.casMailboxes(sinkFor(ExchangeObjectKind::kCasMailbox)))) return *e;
  } else if (auto e = call(gateway_.listDevicesChangedSince(
                 sinkFor(ExchangeObjectKind::kMobileDevice), since_ms))) {
    return *e;
  }
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
        g.failed.push_back({mailboxes[i], e->message});
      }
    }
    std::lock_guard lock(failure_mutex);
    g.calls += my_calls;
  };
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < std::min(options_.parallelism, mailboxes.size()); ++i) {
    workers.emplace_back(worker);
  }
  worker();
  for (auto& w : workers) w.join();
  std::sort(g.failed.begin(), g.failed.end(),
            [](const FailedMailbox& a, const FailedMailbox& b) { return a.mailbox < b.mailbox; });
  g.records = std::move(builder).finish();
  return g;
}

Result<void, store::StoreError> Harvester::recordMailboxes(
    const std::vector<MailboxEntry>& mailboxes, std::int64_t now_ms, bool full) {
  // In key order: the directory's tables are kept by key, so each transaction writes pages
  // side by side, not all over the file.
  std::vector<const MailboxEntry*> in_order;
  in_order.reserve(mailboxes.size());
  for (const auto& m : mailboxes) in_order.push_back(&m);
  std::sort(in_order.begin(), in_order.end(),
            [](const MailboxEntry* a, const MailboxEntry* b) { return a->key < b->key; });
  const auto background = store::Database::Priority::kBackground;
  std::size_t next = 0;
  while (next < in_order.size()) {
    auto written = store_.transaction(
        [&]() -> Result<void, store::StoreError> {
          const auto until = std::chrono::steady_clock::now() + kDirectoryTransactionBudget;
          do {
            if (auto x = directory_.record(*in_order[next], now_ms, /*lists=*/true); !x) return x;
            ++next;
          } while (next < in_order.size() && !store_.foregroundWaiting() &&
                   std::chrono::steady_clock::now() < until);
          return {};
        },
        background);
    if (!written) return written;
  }
  if (!full) return {};
  return store_.transaction(
      [&]() -> Result<void, store::StoreError> {
        if (auto x = directory_.rekeyLegacyLists(); !x) return x.error();
        return {};
      },
      background);
}

Result<std::vector<Harvester::Correction>, store::StoreError> Harvester::findDrift(
    const Gathered& g, std::int64_t started_ms, std::vector<HarvestEvent>& events) {
  // A managed list that Exchange holds otherwise. A mailbox with a list command still to run,
  // or one that ran while this harvest was reading (its lists may have been read before it),
  // is not drifting, only behind. While any list command has not learned its mailbox's key, no
  // correction is queued (it may be for any mailbox, and a correction queued now would run
  // after it and undo it).
  CommandJournal::ListCommandsInFlight in_flight;
  if (journal_) {
    auto read = journal_->listCommandsSince(started_ms);
    if (!read) return store::StoreError{store::StoreErrc::kSql, read.error().message};
    in_flight = std::move(read).value();
  }
  std::map<std::string, const MailboxEntry*> harvested_by_key;
  for (const auto& m : g.mailboxes) harvested_by_key[m.key] = &m;
  auto managed = directory_.managedLists();
  if (!managed) return managed.error();
  std::vector<Correction> corrections;
  for (const auto& [key, list] : managed.value()) {
    auto found = harvested_by_key.find(key);
    // No partnership on it now: nothing for Exchange to enforce. A command pending: behind.
    if (found == harvested_by_key.end() || in_flight.mailbox_keys.count(key)) continue;
    auto wanted = directory_.list(key, list, MailboxDirectory::Source::kDesired);
    if (!wanted) return wanted.error();
    const MailboxEntry& m = *found->second;
    const auto& actual = list == "allowed" ? m.allowed : m.blocked;
    if (!listDiffers(wanted.value(), actual)) continue;
    events.push_back(listDriftEvent(m.identity, list, wanted.value(), actual));
    if (!in_flight.unresolved) corrections.push_back({m.identity, list, wanted.value()});
  }
  return corrections;
}

Result<HarvestReport, HarvestError> Harvester::run(HarvestKind requested) {
  std::unique_lock one_at_a_time(running_, std::try_to_lock);
  if (!one_at_a_time) return HarvestError{HarvestErrc::kBusy, "a harvest is already running"};
  auto storeFailure = [](const store::StoreError& e) {
    return HarvestError{HarvestErrc::kStore, e.message};
  };

  HarvestReport report;
  report.started_ms = clock_.nowMs();
  auto last_start = inventory_.lastHarvestStart();
  if (!last_start) return storeFailure(last_start.error());
  report.kind = requested == HarvestKind::kDelta && last_start.value() ? HarvestKind::kDelta
                                                                       : HarvestKind::kFull;
  const bool full = report.kind == HarvestKind::kFull;

  // 1. Gather. Nothing is written until everything has been read.
  auto gathered = gather(full, last_start.value().value_or(0) - options_.delta_overlap_ms);
  if (!gathered) return gathered.error();
  const Gathered& g = gathered.value();
  // A delta's statistics bring in the changed partnerships' neighbours too; they are not read.
  report.devices = full ? g.records.size() : g.listed.size();
  report.calls = g.calls;
  report.failed_mailboxes = g.failed.size();
  const std::int64_t now = clock_.nowMs();

  // 2. The directory first: the partnerships below find their mailbox's key through it.
  if (auto x = recordMailboxes(g.mailboxes, now, full); !x) return storeFailure(x.error());
  auto desired_allowed = directory_.desiredAllowed();
  if (!desired_allowed) return storeFailure(desired_allowed.error());
  // Only discoveries ask, and only about mailboxes with a desired list: most ask nothing.
  std::map<std::string, std::string> key_of;  // a mailbox's name -> its key ("" unknown)
  auto keyOf = [&](const std::string& name) -> const std::string& {
    auto [it, added] = key_of.emplace(name, "");
    if (added && !name.empty()) {
      auto known = directory_.lookup(name);
      if (known.kind == NameLookup::Kind::kFound) it->second = known.key;
    }
    return it->second;
  };
  auto mdmAllowed = [&](const DeviceRecord& r) {
    if (desired_allowed->empty()) return false;
    std::string key = keyOf(r.mailbox_identity);
    if (key.empty()) key = keyOf(r.mailbox_address);
    auto it = desired_allowed->find(key);
    return it != desired_allowed->end() && it->second.count(lowerAscii(r.device_id)) > 0;
  };
  // Only a full harvest sees every list, so only it can tell what drifted.
  std::vector<HarvestEvent> drift_events;
  std::vector<Correction> corrections;
  if (full) {
    auto drift = findDrift(g, report.started_ms, drift_events);
    if (!drift) return storeFailure(drift.error());
    corrections = std::move(drift).value();
    report.drifted = drift_events.size();
  }

  // 3. Diff and apply, in one transaction of the inventory.
  HarvestRun run{full ? "full" : "delta",
                 report.started_ms,
                 now,
                 static_cast<std::int64_t>(report.devices),
                 static_cast<std::int64_t>(report.calls),
                 static_cast<std::int64_t>(report.failed_mailboxes)};
  HarvestReport counted = report;
  std::int64_t finished = now;
  auto apply = [&](HarvestWrite& w) -> Result<void, store::StoreError> {
    auto emit = [&](const HarvestEvent& e) {
      return w.event(e.kind, e.mailbox, e.device_key, e.detail);
    };
    for (const auto& f : g.failed) {
      if (auto x = emit(statisticsFailedEvent(f.mailbox, f.error)); !x) return x;
    }
    for (const auto& r : g.records) {
      if (r.identity.empty()) continue;
      const std::string key = partnershipKey(r.identity);
      // A delta reads a whole mailbox's statistics for one changed partnership: the others'
      // statistics alone are no record to store.
      if (!full && !g.listed.count(key)) continue;
      auto stored = w.stored(key);
      if (!stored) return stored.error();
      const bool statistics_came = g.with_statistics.count(key) > 0;
      const bool discovered = !stored.value() || stored.value()->removed;
      const PartnershipDiff diff =
          diffPartnership(stored.value(), r, key, statistics_came, discovered && mdmAllowed(r));
      const bool unchanged = diff.kind == PartnershipDiff::Kind::kUnchanged &&
                             stored.value()->statistics_stale == !statistics_came;
      if (auto x = unchanged ? w.unchanged(key, /*touch=*/!full)
                             : w.save(key, r.mailbox_identity, diff.fields, !statistics_came);
          !x) {
        return x;
      }
      for (const auto& c : diff.changes) {
        if (auto x = w.change(key, c.field, c.old_value, c.new_value); !x) return x;
      }
      for (const auto& e : diff.events) {
        if (auto x = emit(e); !x) return x;
      }
      if (diff.kind == PartnershipDiff::Kind::kDiscovered) ++counted.discovered;
      if (diff.kind == PartnershipDiff::Kind::kChanged) ++counted.changed;
    }
    if (!full) return {};
    // Only a full harvest sees everything, so only it can tell what is gone.
    if (auto x = w.removeUnseen([&](const std::string& key, const DeviceFieldTexts& stored) {
          ++counted.removed;
          return emit(removalEvent(key, stored));
        });
        !x) {
      return x;
    }
    for (const auto& e : drift_events) {
      if (auto x = emit(e); !x) return x;
    }
    return {};
  };
  auto applied =
      inventory_.applyHarvest(run, [&](HarvestWrite& w) -> Result<void, store::StoreError> {
        if (auto x = apply(w); !x) return x;
        finished = clock_.nowMs();
        return w.finishedAt(finished);
      });
  if (!applied) return storeFailure(applied.error());
  report = counted;
  report.finished_ms = finished;

  // 4. Correct drift.
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
