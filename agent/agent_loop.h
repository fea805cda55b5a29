#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "agent/commands/command_executor.h"
#include "agent/harvest/harvester.h"
#include "agent/time/clock.h"

namespace easgate::agent {

struct AgentLoopOptions {
  std::int64_t full_harvest_every_ms = 6 * 3600'000;  // 0: never
  std::int64_t delta_harvest_every_ms = 15 * 60'000;  // 0: never
  // The longest (by the loop's clock) between looks at the journal: commands submitted by
  // another process sharing the store are picked up within this.
  std::chrono::milliseconds poll{1000};
  // Called on the harvest thread after each harvest that succeeded (new events may be stored).
  std::function<void()> after_harvest;
};

// The agent's heart: runs journaled commands as they fall due, and harvests on its timers.
// Commands and harvests run on their own threads, so a long harvest never holds up a wipe.
class AgentLoop {
 public:
  AgentLoop(CommandExecutor& executor, Harvester& harvester, const Clock& clock,
            AgentLoopOptions options = {});

  // Runs until stop(). With `until_idle`, runs commands only (no harvests) and returns once
  // none is left unfinished: a batch mode for scripts and tests.
  void run(bool until_idle = false);
  void stop();
  // A command was submitted: look at the journal now rather than at the next poll.
  void wake();
  // Harvest now (on demand), whatever the timers say; a harvest already running finishes
  // first.
  void requestHarvest(HarvestKind kind);
  // Harvests that failed since the start, by kind and class (for /metrics).
  std::uint64_t harvestFailures(HarvestKind kind, HarvestErrc why) const {
    return failures_[static_cast<int>(kind)][static_cast<int>(why)].load();
  }

 private:
  void runCommands(bool until_idle);
  void runHarvests();
  // Waits on the clock until `until_ms`, a stop, or `woken` (which it resets).
  void sleepUntil(std::int64_t until_ms, bool& woken);

  CommandExecutor& executor_;
  Harvester& harvester_;
  const Clock& clock_;
  AgentLoopOptions options_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  bool stopping_ = false;
  bool commands_woken_ = false;                     // wake(): the journal has news
  bool harvests_woken_ = false;                     // requestHarvest()
  std::optional<HarvestKind> requested_;            // an on-demand harvest, not yet begun
  std::atomic<std::uint64_t> failures_[2][3] = {};  // [HarvestKind][HarvestErrc]
};

}  // namespace easgate::agent
