#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "agent/commands/command_journal.h"
#include "agent/gateway/exchange_gateway.h"
#include "agent/harvest/harvest_diff.h"
#include "agent/inventory/device_record.h"
#include "agent/inventory/inventory_store.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/store/database.h"
#include "agent/time/clock.h"

namespace easgate::agent {

enum class HarvestKind { kFull, kDelta };

// Mailboxes whose statistics go to a bridge together (Bridge::runEach, a request each), then
// are applied together: a lot. Lots of 128 rather than 32 made the simulator's full harvest of
// 100,000 mailboxes 1.7-2 s faster (each lot costs a read of its staged partnerships, a read
// transaction of the directory and a turn of the bridge; tests/bench/README.md).
inline constexpr std::size_t kStatisticsPerLot = 128;

struct HarvestOptions {
  // Lots of statistics requests at once (each on one bridge): at most the bridge pool's size.
  // The harvest has one worker more, applying what was read meanwhile.
  std::size_t parallelism = 4;
  bool correct_drift = false;  // queue a set-allowed/-blocked when Exchange's list drifted
  // A mailbox whose statistics fail with a retryable error (throttling, a database offline) is
  // tried this often within the harvest, then skipped.
  int statistics_attempts = 3;
  std::int64_t statistics_retry_ms = 2'000;  // the first wait, doubling; Exchange's own comes first
  std::int64_t statistics_max_wait_ms = 60'000;
  // Delta harvests ask for changes since the last harvest began, less this margin, so a
  // difference between Exchange's clock and ours loses nothing.
  std::int64_t delta_overlap_ms = 5 * 60'000;
  // After each full harvest, field history and events older than this are deleted (every
  // synchronisation changes a device's sync times: kept for ever, history grows with every
  // harvest); 0: kept.
  std::int64_t keep_history_ms = 0;
};

struct HarvestReport {
  HarvestKind kind = HarvestKind::kFull;
  std::size_t devices = 0;            // partnerships harvested
  std::size_t calls = 0;              // Exchange cmdlet calls made
  std::size_t discovered = 0;         // new partnerships
  std::size_t changed = 0;            // partnerships with a changed field
  std::size_t removed = 0;            // partnerships Exchange no longer has (full harvests only)
  std::size_t drifted = 0;            // managed lists that differ from what the MDM set
  std::size_t corrections = 0;        // set-allowed/-blocked commands queued to correct drift
  std::size_t failed_mailboxes = 0;   // mailboxes whose statistics could not be read: skipped
  std::size_t history_forgotten = 0;  // field changes older than HarvestOptions keep
  std::size_t events_forgotten = 0;   // events of the feed older than that
  bool partial() const { return failed_mailboxes > 0; }
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
};

// How far a harvest has come, for a person waiting on it (`easgate export --live`): the Exchange
// calls made so far, and of the statistics calls (one per mailbox, most of the time a full
// harvest takes) how many mailboxes are done of how many; `statistics_total` is 0 until the
// partnerships are read.
struct HarvestProgress {
  std::size_t calls = 0;
  std::size_t statistics_done = 0;
  std::size_t statistics_total = 0;
};
using HarvestProgressCallback = std::function<void(const HarvestProgress&)>;

// kStopped: the agent is stopping (Harvester::requestStop), and the harvest ended with nothing of
// it kept; no failure.
enum class HarvestErrc { kBusy, kExchange, kStore, kStopped };
using HarvestError = Error<HarvestErrc>;

// Reads the ActiveSync inventory from Exchange and brings the inventory (devices, their history
// field by field, events for what changed: device discovered, access state changed, wipe status
// changed, partnership removed, list drift) and the store's mailbox directory (keys, names,
// lists as Exchange holds them) up to date.
//
// A full harvest reads every partnership, every mailbox with one, and the statistics of each
// such mailbox; it alone can see removals and list drift. A delta harvest reads only the
// partnerships changed since the last harvest and their mailboxes' statistics. Harvests never
// overlap.
//
// A harvest streams: it holds one mailbox's partnerships at a time (and the keys of the
// mailboxes it read), never the organisation.
//   1. mailboxes (full harvests): Get-CASMailbox, written to the directory as they arrive, in
//      short background transactions of the store that end when a journal write waits;
//   2. partnerships: Get-MobileDevice (a delta: those changed since the last harvest), staged
//      on disk beside the inventory (HarvestWrite::stage). When the options allow more than one
//      bridge call at once, 1 and 2 are read together, each on a thread and a bridge of its own
//      (the two touch different files), and 3 begins when both are done;
//   3. statistics, a lot of kStatisticsPerLot mailboxes to a bridge (Bridge::runEach), several
//      lots at once: each mailbox's partnerships joined with them, diffed against the inventory
//      (harvest_diff.h, pure) and applied;
//   4. what only a full harvest can tell: removals, and managed lists that drifted
//      (corrections queued in the journal after the harvest).
// Steps 2 to 4 are one transaction of the inventory file: a harvest that fails changes nothing
// there, and readers see the harvest before or after, never a mix. The journal is in the store,
// and the mailbox directory in a file of its own: the MDM's commands never wait for a harvest.
//
// Objects are classified by the cmdlet that returned them, not by their type names, which
// differ across Exchange versions. Mailboxes are keyed by Exchange's immutable id (the
// directory, agent/mailboxes/), so lists and drift are per mailbox whatever the MDM calls it.
// A mailbox whose statistics cannot be read (a database offline, throttling that outlasts the
// retries) does not fail the harvest: its devices keep their last known statistics, marked
// stale, an event names the mailbox and the error, and the harvest is reported partial. A
// mailbox or partnership gone between listing and statistics is no error.
class Harvester {
 public:
  // `directory` (the mailbox directory's file, agent/mailboxes/directory_file.h), `store` (the
  // MDM's lists; commands are written through `journal`) and `inventory` are connections of the
  // harvester's own. `journal` may be null; drift is then reported for every managed list and
  // never corrected.
  Harvester(store::Database& directory, store::Database& store, InventoryStore& inventory,
            ExchangeGateway& gateway, CommandJournal* journal, const Clock& clock,
            HarvestOptions options = {});

  // A delta harvest when there was an earlier harvest, otherwise a full one. `progress`, when
  // set, is called as mailboxes' statistics are applied (from the harvest's own threads, one
  // at a time).
  Result<HarvestReport, HarvestError> run(HarvestKind kind,
                                          const HarvestProgressCallback& progress = {});

  // The agent is stopping: the harvest running ends after the lots of statistics being read
  // (kStopped, nothing of it kept, as for any harvest that fails), and so does every later one.
  // From any thread.
  void requestStop() { stop_requested_ = true; }

 private:
  struct Pass;
  struct Correction;
  // The parts of a harvest, in order. Each returns why it stopped, if it did.
  // The organisation's policy as a document for the inventory; nullopt when it cannot be read.
  std::optional<std::string> readPolicy(Pass& p);
  // What readMailboxes() counted, kept apart from the Pass while it runs beside the partnerships.
  struct MailboxesRead {
    std::size_t calls = 0;
    std::unordered_set<std::string> keys;  // every mailbox Get-CASMailbox gave
    std::optional<HarvestError> error;
  };
  MailboxesRead readMailboxes(std::int64_t now_ms);
  Result<void, store::StoreError> recordMailboxes(std::vector<MailboxEntry>& mailboxes,
                                                  std::int64_t now_ms);
  // The names of the mailboxes recordMailboxes() found new, in name order.
  Result<void, store::StoreError> addDeferredNames();
  std::optional<HarvestError> readPartnerships(Pass& pass, std::int64_t since_ms);
  std::optional<HarvestError> readStatistics(Pass& pass);
  // Diffs and applies a mailbox's staged partnerships with the statistics read for it.
  Result<void, store::StoreError> applyMailbox(Pass& pass, const std::string& mailbox,
                                               std::vector<StagedPartnership> partnerships,
                                               const std::vector<DeviceRecord>& statistics,
                                               const std::optional<GatewayError>& failure);
  Result<std::vector<Correction>, store::StoreError> findDrift(const Pass& pass,
                                                               std::int64_t started_ms,
                                                               std::vector<HarvestEvent>& events);
  // The statistics of a lot of mailboxes, in one request to a bridge; the mailboxes that
  // failed retryably are asked again together, after one wait (the longest Exchange asked
  // for, at least the options' own, doubling), as often as HarvestOptions say. `failures[i]`
  // is set for a mailbox skipped; a mailbox Exchange no longer has is no failure.
  void readStatisticsOf(const std::vector<std::string>& mailboxes,
                        std::vector<std::vector<DeviceRecord>>& statistics,
                        std::vector<std::optional<GatewayError>>& failures, std::size_t& calls);

  store::Database& directory_file_;
  InventoryStore& inventory_;
  MailboxDirectory directory_;
  ExchangeGateway& gateway_;
  CommandJournal* journal_;
  const Clock& clock_;
  HarvestOptions options_;
  std::mutex running_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace easgate::agent
