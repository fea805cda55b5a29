#include "agent/agent_loop.h"

#include <algorithm>
#include <limits>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/threads/priority.h"

namespace easgate::agent {

AgentLoop::AgentLoop(CommandExecutor& executor, Harvester& harvester, const Clock& clock,
                     AgentLoopOptions options)
    : executor_(executor), harvester_(harvester), clock_(clock), options_(options) {}

void AgentLoop::run(bool until_idle) {
  std::thread harvests;
  if (!until_idle) harvests = std::thread([this] { runHarvests(); });
  runCommands(until_idle);
  if (until_idle) stop();
  if (harvests.joinable()) harvests.join();
}

void AgentLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  harvester_.requestStop();  // a full harvest may have many minutes to go
  wakeup_.notify_all();
}

void AgentLoop::wake() {
  {
    std::lock_guard lock(mutex_);
    commands_woken_ = true;
  }
  wakeup_.notify_all();
}

void AgentLoop::requestHarvest(HarvestKind kind) {
  {
    std::lock_guard lock(mutex_);
    // A full harvest asked for is not downgraded by a later delta request.
    if (!requested_ || kind == HarvestKind::kFull) requested_ = kind;
    harvests_woken_ = true;
  }
  wakeup_.notify_all();
}

void AgentLoop::sleepUntil(std::int64_t until_ms, bool& woken) {
  std::unique_lock lock(mutex_);
  clock_.waitUntil(lock, wakeup_, until_ms, [&] { return stopping_ || woken; });
  woken = false;
}

void AgentLoop::runCommands(bool until_idle) {
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      commands_woken_ = false;  // what is submitted from now on, the run below may not see
    }
    // A run of many (each mailbox's next of a policy apply's allows) ends early when the agent
    // stops, or when a command is submitted: the next run takes it in, the urgent first.
    auto ran = executor_.runDue([this] {
      std::lock_guard lock(mutex_);
      return !stopping_ && !commands_woken_;
    });
    if (!ran) spdlog::error("commands: {}", ran.error().message);
    // A policy change shows at once: the settings and the devices Exchange decided again.
    if (executor_.takeOrganisationChanged()) requestHarvest(HarvestKind::kDelta);
    auto next = executor_.nextDue();
    if (!next) {
      spdlog::error("commands: {}", next.error().message);
    } else if (!next.value() && until_idle) {
      return;  // nothing left to do
    }
    if (ran && ran.value() > 0) continue;  // a mailbox's next command may be due now
    std::int64_t until = clock_.nowMs() + options_.poll.count();
    if (next && next.value()) until = std::min(until, *next.value());
    sleepUntil(until, commands_woken_);
  }
}

void AgentLoop::runHarvests() {
  // Harvests give way to the threads that answer the MDM: on two cores, a command's p99 during
  // the usual full harvest of 100,000 mailboxes was 5.9-8.2 ms at the same priority, 4.5-5.5 ms
  // below it (tests/bench/README.md). The harvest takes as long: its CPU is what others leave.
  if (!threads::setThisThreadPriority(threads::Priority::kBelowNormal)) {
    spdlog::warn("harvests run at the agent's own priority: the system refused a lower one");
  }
  // When each kind is next due. A full harvest comes first; after a failure, the same kind is
  // tried again a minute later rather than at once.
  constexpr std::int64_t kRetryAfterFailureMs = 60'000;
  const bool full_on = options_.full_harvest_every_ms > 0;
  const bool delta_on = options_.delta_harvest_every_ms > 0;
  std::int64_t next_full = clock_.nowMs(), next_delta = clock_.nowMs();
  constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  while (true) {
    std::optional<HarvestKind> due;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      due = requested_;  // on demand first
      requested_.reset();
    }
    const std::int64_t now = clock_.nowMs();
    if (!due && full_on && now >= next_full) due = HarvestKind::kFull;
    if (!due && delta_on && now >= next_delta) due = HarvestKind::kDelta;
    if (due) {
      auto report = harvester_.run(*due);
      if (report) {
        spdlog::info(
            "{} harvest: {} devices, {} discovered, {} changed, {} removed, {} drifted, "
            "{} calls in {} ms; {} changes and {} events older than the history keeps deleted",
            report->kind == HarvestKind::kFull ? "full" : "delta", report->devices,
            report->discovered, report->changed, report->removed, report->drifted, report->calls,
            report->finished_ms - report->started_ms, report->history_forgotten,
            report->events_forgotten);
        if (report->kind == HarvestKind::kFull) next_full = now + options_.full_harvest_every_ms;
        next_delta = now + options_.delta_harvest_every_ms;
        if (options_.after_harvest) options_.after_harvest();
      } else if (report.error().code == HarvestErrc::kStopped) {
        spdlog::info("harvest: {}", report.error().message);
      } else {
        spdlog::error("harvest: {}", report.error().message);
        ++failures_[static_cast<int>(*due)][static_cast<int>(report.error().code)];
        (*due == HarvestKind::kFull ? next_full : next_delta) = now + kRetryAfterFailureMs;
      }
      continue;  // the other kind may be due too
    }
    // Until the next timer, or a request.
    sleepUntil(std::min(full_on ? next_full : kNever, delta_on ? next_delta : kNever),
               harvests_woken_);
  }
}

}  // namespace easgate::agent
