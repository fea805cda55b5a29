#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "agent/commands/command_journal.h"
#include "agent/gateway/exchange_gateway.h"
#include "agent/store/database.h"
#include "agent/time/clock.h"

namespace easgate::agent {

enum class HarvestKind { kFull, kDelta };

struct HarvestOptions {
  std::size_t parallelism = 4;  // statistics calls at once; at most the bridge pool's cap
  bool correct_drift = false;   // queue a set-allowed when Exchange's allowed list drifted
  // Delta harvests ask for changes since the last harvest began, less this margin, so a
  // difference between Exchange's clock and ours loses nothing.
  std::int64_t delta_overlap_ms = 5 * 60'000;
};

struct HarvestReport {
  HarvestKind kind = HarvestKind::kFull;
  std::size_t devices = 0;      // partnerships harvested
  std::size_t calls = 0;        // Exchange cmdlet calls made
  std::size_t discovered = 0;   // new partnerships
  std::size_t changed = 0;      // partnerships with a changed field
  std::size_t removed = 0;      // partnerships Exchange no longer has (full harvests only)
  std::size_t drifted = 0;      // managed lists that differ from what the MDM set
  std::size_t corrections = 0;  // set-allowed commands queued to correct drift
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
};

enum class HarvestErrc { kBusy, kExchange, kStore };
using HarvestError = Error<HarvestErrc>;

// Reads the ActiveSync inventory from Exchange and brings the store up to date: devices,
// their history field by field, the mailboxes' lists, and events for what changed (device
// discovered, access state changed, wipe status changed, partnership removed, list drift).
//
// A full harvest reads every partnership, every mailbox with one, and the statistics of each
// such mailbox; it alone can see removals and list drift. A delta harvest reads only the
// partnerships changed since the last harvest and their mailboxes' statistics. A harvest is
// applied in one transaction: one that fails changes nothing. Harvests never overlap.
class Harvester {
 public:
  // `journal` may be null; drift is then reported but never corrected.
  Harvester(store::Database& database, ExchangeGateway& gateway, CommandJournal* journal,
            const Clock& clock, HarvestOptions options = {});

  // A delta harvest when there was an earlier harvest, otherwise a full one.
  Result<HarvestReport, HarvestError> run(HarvestKind kind);

 private:
  store::Database& database_;
  ExchangeGateway& gateway_;
  CommandJournal* journal_;
  const Clock& clock_;
  HarvestOptions options_;
  std::mutex running_;
};

}  // namespace easgate::agent
