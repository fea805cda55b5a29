#include "agent/harvest/harvester.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "agent/inventory/exchange_mapping.h"
#include "agent/inventory/object_text.h"
#include "agent/policy/organisation_policy.h"
#include "common/threads/priority.h"
#include "protocol/validation.h"

namespace easgate::agent {
namespace {

constexpr std::int64_t kCommandDeadlineMs = 7LL * 24 * 3600 * 1000;
// The directory is written in background transactions of its file that last at most this long,
// and less when a command's thread wants to write it (a name Exchange resolved). Until the
// directory had a file of its own (store migration 13) they held the store's write lock, which
// the journal needs: during a first harvest of 100,000 mailboxes, 50 ms gave commands a p99 of
// 42-45 ms, 5 ms 23.5 ms, for a first harvest a tenth to a third longer; since checkpoints are
// made after a commit, not in it (store/database.cpp), 5 ms gave 8.5-10 ms, and 2 or 20 ms no
// better (tests/bench/README.md).
constexpr auto kDirectoryTransactionBudget = std::chrono::milliseconds(5);
// Mailboxes are written to the directory, and taken for their statistics, this many at a time.
constexpr std::size_t kMailboxBatch = 512;
// Names (or fingerprints) of new mailboxes the directory adds at a time, in name (key) order,
// within the transactions above.
constexpr std::size_t kDeferredNamesAtOnce = 256;
// The page cache of the harvest's connection to the directory while a harvest runs (SQLite's
// default, 2 MB, again after). A full harvest looks every mailbox up there and a first one
// writes every mailbox's row and names: at 100,000 mailboxes a first harvest read 281,000 pages
// of the file instead of 1.44 million and the usual one 9,000 instead of 223,000; the first took
// 23.4 s instead of 26.0 s at the median, for 20-33 MB more peak RSS (tests/bench/README.md).
// Bounded whatever the organisation's size.
constexpr std::int64_t kHarvestDirectoryCacheKiB = 16 * 1024;

}  // namespace

struct Harvester::Correction {
  std::string mailbox;  // the mailbox's Identity, for the command
  std::string list;
  std::vector<std::string> wanted;
};

// One harvest's reading and what it counted, shared by its parts.
struct Harvester::Pass {
  bool full = false;
  HarvestWrite* write = nullptr;
  std::size_t calls = 0;
  std::size_t devices = 0;  // partnerships this harvest read and applied
  std::size_t failed_mailboxes = 0;
  std::size_t discovered = 0;
  std::size_t changed = 0;
  std::size_t removed = 0;
  std::unordered_set<std::string> mailbox_keys;  // full: every mailbox Get-CASMailbox gave
  std::map<std::string, std::set<std::string>> desired_allowed;  // by mailbox key
  // The journal's commands from this id on were not final when the harvest began, or came after.
  std::int64_t commands_from = 0;
  const HarvestProgressCallback* progress = nullptr;
  HarvestProgress progress_now;
};

Harvester::Harvester(store::Database& directory, store::Database& store, InventoryStore& inventory,
                     ExchangeGateway& gateway, CommandJournal* journal, const Clock& clock,
                     HarvestOptions options)
    : directory_file_(directory),
      inventory_(inventory),
      directory_(directory, store),
      gateway_(gateway),
      journal_(journal),
      clock_(clock),
      options_(options) {
  if (options_.parallelism == 0) options_.parallelism = 1;
}

void Harvester::readStatisticsOf(const std::vector<std::string>& mailboxes,
                                 std::vector<std::vector<DeviceRecord>>& statistics,
                                 std::vector<std::optional<GatewayError>>& failures,
                                 std::size_t& calls) {
  statistics.assign(mailboxes.size(), {});
  failures.assign(mailboxes.size(), std::nullopt);
  std::vector<std::size_t> asking(mailboxes.size());  // indices into `mailboxes`
  for (std::size_t i = 0; i < asking.size(); ++i) asking[i] = i;
  std::int64_t wait_ms = options_.statistics_retry_ms;
  for (int attempt = 1;; ++attempt) {
    std::vector<std::string> names;
    for (std::size_t i : asking) {
      names.push_back(mailboxes[i]);
      statistics[i].clear();  // what a failed attempt gave is not trusted
    }
    calls += names.size();
    // Each object is kept as the record it makes, not as the object.
    auto results = gateway_.deviceStatisticsOfEach(
        names, powershell::IndexedBatchSink::ofObjects(
                   [&](std::size_t j, const powershell::PropertyView& o) {
                     statistics[asking[j]].push_back(statisticsRecord(o));
                   }));
    std::vector<std::size_t> again;
    std::int64_t asked_to_wait = 0;
    for (std::size_t j = 0; j < asking.size(); ++j) {
      const std::size_t i = asking[j];
      failures[i].reset();
      if (results[j]) continue;
      const GatewayError& e = results[j].error();
      // Deleted since it was listed, or its partnerships removed: nothing to read, no failure.
      if (e.code == GatewayErrc::kNotFound) {
        statistics[i].clear();
        continue;
      }
      failures[i] = e;
      if (e.retryable() && attempt < options_.statistics_attempts) {
        again.push_back(i);
        asked_to_wait = std::max(asked_to_wait, e.retry_after_ms);
      } else {
        statistics[i].clear();
      }
    }
    if (again.empty()) return;
    const std::int64_t wait =
        std::min(std::max(wait_ms, asked_to_wait), options_.statistics_max_wait_ms);
    if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    wait_ms *= 2;
    asking = std::move(again);
  }
}

Harvester::MailboxesRead Harvester::readMailboxes(std::int64_t now_ms) {
  MailboxesRead out;
  auto failure = [&](HarvestErrc code, std::string message) {
    out.error = HarvestError{code, std::move(message)};
    return std::move(out);
  };
  // Written as they arrive, a batch at a time: the directory holds them, not the harvest.
  // Mailboxes it did not hold go in after the listing, their rows in key order and their names
  // in name order (see MailboxDirectory::deferNames), before anything looks a mailbox up.
  if (auto x = directory_.deferNames(); !x) return failure(HarvestErrc::kStore, x.error().message);
  // Mailboxes still kept aside when this ends (a failed harvest's) are forgotten: the next
  // harvest records them again.
  struct EndDeferring {
    MailboxDirectory& directory;
    ~EndDeferring() {
      if (auto x = directory.endDeferringNames(); !x) {
        spdlog::warn("harvest: mailboxes kept aside could not be forgotten: {}", x.error().message);
      }
    }
  } end_deferring{directory_};
  std::vector<MailboxEntry> batch;
  std::optional<store::StoreError> failed;
  auto flush = [&] {
    if (!failed && !batch.empty()) {
      if (auto x = recordMailboxes(batch, now_ms); !x) failed = x.error();
    }
    batch.clear();
  };
  ++out.calls;
  auto read = gateway_.casMailboxes(
      powershell::BatchSink::ofObjects([&](const powershell::PropertyView& o) {
        auto entry = mailboxEntryFromCasMailbox(o);
        if (!entry) return;
        out.keys.insert(entry->key);
        batch.push_back(std::move(*entry));
        if (batch.size() >= kMailboxBatch) flush();
      }));
  flush();
  if (failed) return failure(HarvestErrc::kStore, failed->message);
  if (!read) return failure(HarvestErrc::kExchange, read.error().message);
  if (auto x = addDeferredNames(); !x) return failure(HarvestErrc::kStore, x.error().message);
  // Lists an earlier release kept under a name: looked for in a read, moved (under the write
  // lock) only when there are some.
  bool legacy = false;
  auto looked = directory_file_.read([&]() -> Result<void, store::StoreError> {
    auto has = directory_.hasLegacyLists();
    if (!has) return has.error();
    legacy = has.value();
    return {};
  });
  if (!looked) return failure(HarvestErrc::kStore, looked.error().message);
  if (!legacy) return out;
  // In a transaction of the store's (the MDM's lists are there).
  if (auto rekeyed = directory_.rekeyLegacyLists(); !rekeyed) {
    return failure(HarvestErrc::kStore, rekeyed.error().message);
  }
  return out;
}

Result<void, store::StoreError> Harvester::recordMailboxes(std::vector<MailboxEntry>& mailboxes,
                                                           std::int64_t now_ms) {
  // In key order: the directory's tables are kept by key, so each transaction writes pages
  // side by side, not all over the file.
  std::sort(mailboxes.begin(), mailboxes.end(),
            [](const MailboxEntry& a, const MailboxEntry& b) { return a.key < b.key; });
  // Which mailboxes the directory does not hold as they are now, found in one read: a harvest
  // that finds them as they were (the usual one) never takes the directory's write lock, which
  // a command's thread needs to record a name Exchange resolved.
  std::vector<const MailboxEntry*> changed;
  auto checked = directory_file_.read([&]() -> Result<void, store::StoreError> {
    for (const MailboxEntry& m : mailboxes) {
      auto held = directory_.holds(m, /*lists=*/true);
      if (!held) return held.error();
      if (!held.value()) changed.push_back(&m);
    }
    return {};
  });
  if (!checked) return checked;
  std::size_t next = 0;
  while (next < changed.size()) {
    auto written = directory_file_.transaction(
        [&]() -> Result<void, store::StoreError> {
          const auto until = std::chrono::steady_clock::now() + kDirectoryTransactionBudget;
          do {
            if (auto x = directory_.record(*changed[next], now_ms, /*lists=*/true); !x) return x;
            ++next;
          } while (next < changed.size() && !directory_file_.foregroundWaiting() &&
                   std::chrono::steady_clock::now() < until);
          return {};
        },
        store::Database::Priority::kBackground);
    if (!written) return written;
  }
  return {};
}

Result<void, store::StoreError> Harvester::addDeferredNames() {
  auto deferred = directory_.sortDeferredNames();
  if (!deferred) return deferred.error();
  if (deferred.value() == 0) return {};  // the usual harvest: nothing new, no write lock
  for (bool done = false; !done;) {
    auto written = directory_file_.transaction(
        [&]() -> Result<void, store::StoreError> {
          const auto until = std::chrono::steady_clock::now() + kDirectoryTransactionBudget;
          do {
            auto added = directory_.addDeferredNames(kDeferredNamesAtOnce);
            if (!added) return added.error();
            done = added.value();
          } while (!done && !directory_file_.foregroundWaiting() &&
                   std::chrono::steady_clock::now() < until);
          return {};
        },
        store::Database::Priority::kBackground);
    if (!written) return written;
  }
  return {};
}

namespace {

HarvestError stoppedError() {
  return {HarvestErrc::kStopped, "the agent is stopping: the harvest ended, nothing of it kept"};
}

}  // namespace

std::optional<HarvestError> Harvester::readPartnerships(Pass& p, std::int64_t since_ms) {
  std::optional<store::StoreError> failed;
  // Each partnership is read for what the record takes, not built whole first.
  auto stage = powershell::BatchSink::ofObjects([&](const powershell::PropertyView& o) {
    if (failed) return;
    DeviceRecord r;
    mergeMobileDevice(r, o);
    if (r.identity.empty()) return;  // nothing to know it by
    if (auto x = p.write->stage(partnershipKey(r.identity),
                                std::string(protocol::mailboxOfPartnership(r.identity)),
                                mailboxDnOfDeviceDn(propertyText(o, "DistinguishedName")), r);
        !x) {
      failed = x.error();
    }
  });
  ++p.calls;
  auto read =
      p.full ? gateway_.listDevices(stage) : gateway_.listDevicesChangedSince(stage, since_ms);
  if (failed) return HarvestError{HarvestErrc::kStore, failed->message};
  if (!read) return HarvestError{HarvestErrc::kExchange, read.error().message};
  return std::nullopt;
}

std::optional<HarvestError> Harvester::readStatistics(Pass& p) {
  // Mailboxes are taken in order from the staged partnerships, a chunk at a time; each one's
  // statistics are read outside the lock (several calls at once) and applied under it, so
  // the inventory's and the directory's connections serve one thread at a time. Taking has a
  // lock of its own: a worker asks for its next lot while another applies, so the bridges are
  // not left idle for that time; only reading the next chunk waits for the connection.
  std::mutex taking;  // before `applying`, when both are held
  std::mutex applying;
  std::vector<std::string> chunk;
  std::size_t taken = 0;
  bool exhausted = false;
  std::optional<store::StoreError> failed;        // under `applying`
  auto nextMailbox = [&](std::string& mailbox) {  // under `taking`
    if (taken == chunk.size()) {
      if (exhausted) return false;
      std::lock_guard connection(applying);
      if (failed) return false;
      auto more =
          p.write->stagedMailboxes(chunk.empty() ? std::string() : chunk.back(), kMailboxBatch);
      if (!more) {
        failed = more.error();
        return false;
      }
      chunk = std::move(more).value();
      taken = 0;
      exhausted = chunk.empty();
      if (exhausted) return false;
    }
    mailbox = chunk[taken++];
    return true;
  };
  auto worker = [&] {
    std::size_t calls = 0;
    std::vector<std::string> mailboxes;
    std::vector<std::vector<DeviceRecord>> statistics;
    std::vector<std::optional<GatewayError>> failures;
    while (true) {
      mailboxes.clear();
      {
        std::lock_guard lock(taking);
        std::string mailbox;
        while (mailboxes.size() < kStatisticsPerLot && nextMailbox(mailbox)) {
          mailboxes.push_back(std::move(mailbox));
        }
      }
      if (mailboxes.empty()) break;
      if (stop_requested_) break;  // run() ends the harvest after this
      readStatisticsOf(mailboxes, statistics, failures, calls);
      std::lock_guard lock(applying);
      p.calls += std::exchange(calls, 0);
      if (failed) break;
      // The lot's staged partnerships with what is stored for each, in one read.
      auto staged = p.write->staged(mailboxes.front(), mailboxes.back());
      if (!staged) {
        failed = staged.error();
        break;
      }
      // The lot's mailboxes are looked up in the directory in one read transaction: a read lock
      // taken and released per statement was most of what the lookups cost beyond page reads.
      auto applied = directory_file_.read([&]() -> Result<void, store::StoreError> {
        auto next = staged.value().begin();
        for (std::size_t i = 0; i < mailboxes.size(); ++i) {
          std::vector<StagedPartnership> own;
          for (; next != staged.value().end() && next->mailbox == mailboxes[i]; ++next) {
            own.push_back(std::move(*next));
          }
          if (auto x = applyMailbox(p, mailboxes[i], std::move(own), statistics[i], failures[i]);
              !x) {
            return x;
          }
          if (p.progress && *p.progress) {
            ++p.progress_now.statistics_done;
            p.progress_now.calls = p.calls;
            (*p.progress)(p.progress_now);
          }
        }
        return {};
      });
      if (!applied) {
        failed = applied.error();
        break;
      }
    }
    std::lock_guard lock(applying);
    p.calls += calls;
  };
  std::vector<std::thread> workers;
  // One worker more than requests at once: while one applies what it read, the bridges are
  // all asked. (One more again, to read a lot's answers while another applies, was within this
  // VM's noise: tests/bench/README.md.) Each at the harvest's own priority (AgentLoop's thread
  // runs below normal; Windows does not pass a thread's priority on to those it starts).
  const threads::Priority priority = threads::thisThreadPriority();
  for (std::size_t i = 0; i < options_.parallelism; ++i) {
    workers.emplace_back([&worker, priority] {
      (void)threads::setThisThreadPriority(priority);  // refused: the worker runs as it is
      worker();
    });
  }
  worker();
  for (auto& w : workers) w.join();
  // Partnerships whose Identity names no mailbox: no statistics to ask for.
  if (!failed) {
    auto staged = p.write->staged("", "");
    if (!staged) {
      failed = staged.error();
    } else if (auto x = applyMailbox(p, "", std::move(staged).value(), {}, std::nullopt); !x) {
      failed = x.error();
    }
  }
  if (failed) return HarvestError{HarvestErrc::kStore, failed->message};
  return std::nullopt;
}

Result<void, store::StoreError> Harvester::applyMailbox(
    Pass& p, const std::string& mailbox, std::vector<StagedPartnership> partnerships,
    const std::vector<DeviceRecord>& statistics, const std::optional<GatewayError>& failure) {
  HarvestWrite& w = *p.write;
  auto emit = [&](const HarvestEvent& e) {
    return w.event(e.kind, e.mailbox, e.device_key, e.detail);
  };
  if (failure) {
    ++p.failed_mailboxes;
    if (auto x = emit(statisticsFailedEvent(mailbox, failure->message)); !x) return x;
  }
  // Statistics join their partnership by Identity, else by Guid (the two cmdlets may write
  // the Identity differently).
  std::vector<bool> with_statistics(partnerships.size(), false);
  for (const DeviceRecord& s : statistics) {
    auto at = joinStatistics(partnerships, s, /*keep_unlisted=*/p.full);
    if (!at) continue;
    with_statistics.resize(partnerships.size(), false);
    with_statistics[*at] = true;
  }

  // The mailbox's key and address, from the directory (partnerships of one mailbox share them).
  std::string resolved_for;
  std::string key_of_mailbox;
  std::string address;
  auto resolve = [&](const StagedPartnership& s) {
    const std::string name = s.record.mailbox_identity + '\n' + s.mailbox_dn;
    if (name == resolved_for) return;
    resolved_for = name;
    key_of_mailbox.clear();
    address.clear();
    for (const std::string* n : {&s.record.mailbox_identity, &s.mailbox_dn}) {
      if (n->empty()) continue;
      auto found = directory_.lookup(*n);
      if (found.kind != NameLookup::Kind::kFound) continue;
      key_of_mailbox = found.key;
      auto entry = directory_.entry(found.key);
      if (entry && entry.value()) address = entry.value()->address;
      return;
    }
  };
  for (std::size_t i = 0; i < partnerships.size(); ++i) {
    StagedPartnership& s = partnerships[i];
    DeviceRecord& r = s.record;
    resolve(s);
    if (r.mailbox_address.empty()) r.mailbox_address = address;
    // Read with it, unless only the statistics named it.
    auto stored =
        s.stored_read
            ? Result<std::optional<StoredPartnership>, store::StoreError>(std::move(s.stored))
            : w.stored(s.key);
    if (!stored) return stored.error();
    const bool discovered = !stored.value() || stored.value()->removed;
    bool allowed_by_mdm = false;
    if (discovered && !key_of_mailbox.empty()) {
      auto wanted = p.desired_allowed.find(key_of_mailbox);
      allowed_by_mdm =
          wanted != p.desired_allowed.end() && wanted->second.count(lowerAscii(r.device_id)) > 0;
    }
    const PartnershipDiff diff =
        diffPartnership(stored.value(), r, s.key, with_statistics[i], allowed_by_mdm);
    const bool unchanged = diff.kind == PartnershipDiff::Kind::kUnchanged &&
                           stored.value()->statistics_stale == !with_statistics[i];
    // Read with it (stored_read) means staged; the rest only the statistics named.
    const auto source =
        s.stored_read ? HarvestWrite::Source::kStaged : HarvestWrite::Source::kStatisticsOnly;
    if (auto x = unchanged ? w.unchanged(s.key, /*touch=*/!p.full, source)
                           : w.save(s.key, stored.value(), r.mailbox_identity, diff.fields,
                                    !with_statistics[i], source);
        !x) {
      return x;
    }
    for (const auto& c : diff.changes) {
      if (auto x = w.change(s.key, c.field, c.old_value, c.new_value); !x) return x;
    }
    for (const auto& e : diff.events) {
      if (auto x = emit(e); !x) return x;
    }
    ++p.devices;
    if (diff.kind == PartnershipDiff::Kind::kDiscovered) ++p.discovered;
    if (diff.kind == PartnershipDiff::Kind::kChanged) ++p.changed;
  }
  return {};
}

Result<std::vector<Harvester::Correction>, store::StoreError> Harvester::findDrift(
    const Pass& p, std::int64_t started_ms, std::vector<HarvestEvent>& events) {
  // A managed list that Exchange holds otherwise. A mailbox with a list command still to run,
  // or one that ran while this harvest was reading (its lists may have been read before it),
  // is not drifting, only behind. While any list command has not learned its mailbox's key, no
  // correction is queued (it may be for any mailbox, and a correction queued now would run
  // after it and undo it).
  CommandJournal::ListCommandsInFlight in_flight;
  if (journal_) {
    auto read = journal_->listCommandsSince(p.commands_from, started_ms);
    if (!read) return store::StoreError{store::StoreErrc::kSql, read.error().message};
    in_flight = std::move(read).value();
  }
  auto managed = directory_.managedLists();
  if (!managed) return managed.error();
  std::vector<Correction> corrections;
  for (const auto& [key, list] : managed.value()) {
    // No partnership on it now: nothing for Exchange to enforce. A command pending: behind.
    if (!p.mailbox_keys.count(key) || in_flight.mailbox_keys.count(key)) continue;
    auto wanted = directory_.list(key, list, MailboxDirectory::Source::kDesired);
    if (!wanted) return wanted.error();
    // As this harvest read it: readMailboxes() wrote every list it found.
    auto actual = directory_.list(key, list, MailboxDirectory::Source::kHarvested);
    if (!actual) return actual.error();
    if (!listDiffers(wanted.value(), actual.value())) continue;
    auto entry = directory_.entry(key);
    if (!entry) return entry.error();
    const std::string identity = entry.value() ? entry.value()->identity : key;
    events.push_back(listDriftEvent(identity, list, wanted.value(), actual.value()));
    if (!in_flight.unresolved) corrections.push_back({identity, list, wanted.value()});
  }
  return corrections;
}

std::optional<std::string> Harvester::readPolicy(Pass& p) {
  std::vector<powershell::PsObject> settings, rules;
  auto into = [](std::vector<powershell::PsObject>& out) {
    return [&out](std::vector<powershell::PsValue>&& values) {
      for (const auto& v : values) {
        powershell::forEachObject(v, [&](const powershell::PsObject& o) { out.push_back(o); });
      }
    };
  };
  ++p.calls;
  auto read = gateway_.organisationSettings(into(settings));
  if (read) {
    ++p.calls;
    read = gateway_.deviceAccessRules(into(rules));
  }
  if (!read || settings.empty()) {
    spdlog::warn(
        "harvest: the organisation's ActiveSync policy was not read ({}); the one read before "
        "is kept",
        read ? "Get-ActiveSyncOrganizationSettings returned nothing" : read.error().message);
    return std::nullopt;
  }
  return policy::policyJson(policy::policyFromExchange(settings.front(), rules));
}

Result<HarvestReport, HarvestError> Harvester::run(HarvestKind requested,
                                                   const HarvestProgressCallback& progress) {
  std::unique_lock one_at_a_time(running_, std::try_to_lock);
  if (!one_at_a_time) return HarvestError{HarvestErrc::kBusy, "a harvest is already running"};
  if (stop_requested_) return stoppedError();
  auto storeFailure = [](const store::StoreError& e) {
    return HarvestError{HarvestErrc::kStore, e.message};
  };
  if (auto x = directory_file_.setPageCacheKiB(kHarvestDirectoryCacheKiB); !x) {
    return storeFailure(x.error());
  }
  struct GiveTheCacheBack {
    store::Database& directory_file;
    ~GiveTheCacheBack() {
      if (auto x = directory_file.setPageCacheKiB(store::kDefaultPageCacheKiB); !x) {
        spdlog::warn("harvest: the directory's page cache could not be given back: {}",
                     x.error().message);
      }
    }
  } give_the_cache_back{directory_file_};

  // Where the journal's commands that drift correction must know of begin: read before the
  // harvest's start time, so that no command final since then is before it.
  std::int64_t commands_from = 0;
  if (journal_) {
    auto from = journal_->openFrom();
    if (!from) return storeFailure(store::StoreError{store::StoreErrc::kSql, from.error().message});
    commands_from = from.value();
  }
  HarvestReport report;
  report.started_ms = clock_.nowMs();
  auto last_start = inventory_.lastHarvestStart();
  if (!last_start) return storeFailure(last_start.error());
  report.kind = requested == HarvestKind::kDelta && last_start.value() ? HarvestKind::kDelta
                                                                       : HarvestKind::kFull;
  Pass p;
  p.commands_from = commands_from;
  p.full = report.kind == HarvestKind::kFull;
  p.progress = &progress;

  // 1. The mailboxes, into the directory: the partnerships find their mailbox's key and address
  // through it when they are applied (3). When more than one bridge call may run at once, they
  // are read on a thread of their own while the partnerships are listed (2): each listing is
  // parsed on its own core, and the two write different files (the store; the inventory's
  // staging). Either way, 3 begins once both are done.
  const bool beside = p.full && options_.parallelism > 1;
  MailboxesRead mailboxes;
  std::thread mailbox_reader;
  struct JoinOnEveryPath {
    std::thread& thread;
    ~JoinOnEveryPath() {
      if (thread.joinable()) thread.join();
    }
  } join_mailbox_reader{mailbox_reader};
  if (beside) {
    const threads::Priority priority = threads::thisThreadPriority();
    mailbox_reader = std::thread([this, &mailboxes, priority, now_ms = report.started_ms] {
      (void)threads::setThisThreadPriority(priority);  // refused: the reader runs as it is
      mailboxes = readMailboxes(now_ms);
    });
  } else if (p.full) {
    mailboxes = readMailboxes(report.started_ms);
  }
  // The mailboxes read (and what the MDM wants allowed, by the keys they gave).
  auto mailboxesRead = [&]() -> std::optional<HarvestError> {
    if (mailbox_reader.joinable()) mailbox_reader.join();
    if (mailboxes.error) return *mailboxes.error;
    p.calls += std::exchange(mailboxes.calls, 0);
    p.mailbox_keys = std::move(mailboxes.keys);
    auto desired_allowed = directory_.desiredAllowed();
    if (!desired_allowed) return storeFailure(desired_allowed.error());
    p.desired_allowed = std::move(desired_allowed).value();
    return std::nullopt;
  };
  if (!beside) {
    if (auto e = mailboxesRead()) return *e;
  }

  // The organisation's policy (two small calls, every harvest, so that a policy change shows
  // with the next delta): kept as it was when it cannot be read, which costs only freshness.
  std::optional<std::string> policy_document = readPolicy(p);

  // 2. The partnerships, staged; 3. each mailbox's statistics, then its partnerships diffed
  // and applied; 4. what a full harvest alone can tell: removals and drift. All in one
  // transaction of the inventory.
  std::optional<HarvestError> stopped;
  auto stop = [&](const HarvestError& e) -> Result<void, store::StoreError> {
    stopped = e;
    return store::StoreError{store::StoreErrc::kSql, e.message};
  };
  std::vector<Correction> corrections;
  HarvestRun run{p.full ? "full" : "delta", report.started_ms, report.started_ms, 0, 0, 0};
  auto applied =
      inventory_.applyHarvest(run, [&](HarvestWrite& w) -> Result<void, store::StoreError> {
        p.write = &w;
        if (policy_document) {
          if (auto x = w.policy(*policy_document); !x) return x;
        }
        const std::int64_t since = last_start.value().value_or(0) - options_.delta_overlap_ms;
        if (auto e = readPartnerships(p, since)) return stop(*e);
        if (stop_requested_) return stop(stoppedError());
        if (beside) {
          if (auto e = mailboxesRead()) return stop(*e);
        }
        if (progress) {
          auto staged_mailboxes = w.stagedMailboxCount();
          if (!staged_mailboxes) return staged_mailboxes.error();
          p.progress_now = {p.calls, 0, staged_mailboxes.value()};
          progress(p.progress_now);
        }
        if (auto e = readStatistics(p)) return stop(*e);
        if (stop_requested_) return stop(stoppedError());
        if (p.full) {
          auto emit = [&](const HarvestEvent& e) {
            return w.event(e.kind, e.mailbox, e.device_key, e.detail);
          };
          if (auto x = w.removeUnseen([&](const std::string& key, const DeviceFieldTexts& stored) {
                ++p.removed;
                return emit(removalEvent(key, stored));
              });
              !x) {
            return x;
          }
          std::vector<HarvestEvent> drift_events;
          auto drift = findDrift(p, report.started_ms, drift_events);
          if (!drift) return drift.error();
          corrections = std::move(drift).value();
          report.drifted = drift_events.size();
          for (const auto& e : drift_events) {
            if (auto x = emit(e); !x) return x;
          }
        }
        run.finished_ms = clock_.nowMs();
        run.devices = static_cast<std::int64_t>(p.devices);
        run.calls = static_cast<std::int64_t>(p.calls);
        run.failed_mailboxes = static_cast<std::int64_t>(p.failed_mailboxes);
        return w.finished(run);
      });
  if (!applied) return stopped ? *stopped : storeFailure(applied.error());
  report.devices = p.devices;
  report.calls = p.calls;
  report.failed_mailboxes = p.failed_mailboxes;
  report.discovered = p.discovered;
  report.changed = p.changed;
  report.removed = p.removed;
  report.finished_ms = run.finished_ms;

  // 5. Forget history and events older than the options keep, once a full harvest is stored.
  if (p.full && options_.keep_history_ms > 0) {
    const std::int64_t cutoff = run.finished_ms - options_.keep_history_ms;
    auto forgotten = inventory_.forgetChangesBefore(cutoff);
    if (!forgotten) return storeFailure(forgotten.error());
    report.history_forgotten = forgotten.value();
    auto events = inventory_.forgetEventsBefore(cutoff);
    if (!events) return storeFailure(events.error());
    report.events_forgotten = events.value();
  }

  // 6. Correct drift.
  if (options_.correct_drift && journal_) {
    for (const auto& c : corrections) {
      CommandRequest set;
      set.kind = c.list == "allowed" ? CommandKind::kSetAllowed : CommandKind::kSetBlocked;
      set.mailbox = c.mailbox;
      set.device_ids = c.wanted;
      set.requested_by = "easgate (drift correction)";
      if (journal_->submit(set, run.finished_ms + kCommandDeadlineMs)) ++report.corrections;
    }
  }
  return report;
}

}  // namespace easgate::agent
