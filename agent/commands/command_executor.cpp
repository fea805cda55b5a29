#include "agent/commands/command_executor.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "agent/inventory/object_text.h"
#include "powershell/clixml/ps_value.h"

namespace easgate::agent {
namespace {

constexpr std::int64_t kUnixEpochTicks = 621'355'968'000'000'000;
// Exchange's clock and ours may differ; a wipe requested this long before the command was
// journaled is an older one.
constexpr std::int64_t kClockSkewMs = 10 * 60'000;

std::optional<std::int64_t> unixMs(const powershell::PsObject& o, std::string_view property) {
  const powershell::PsValue* v = o.property(property);
  if (!v || !v->asDateTime()) return std::nullopt;
  return (v->asDateTime()->utcTicks() - kUnixEpochTicks) / 10'000;
}

bool contains(const std::vector<std::string>& list, const std::string& id) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& x) { return lowerAscii(x) == lowerAscii(id); });
}

std::string joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out.empty() ? "none" : out;
}

}  // namespace

CommandExecutor::CommandExecutor(CommandJournal& journal, ExchangeGateway& gateway,
                                 const Clock& clock, ExecutorOptions options)
    : journal_(journal),
      gateway_(gateway),
      clock_(clock),
      options_(options),
      rng_(options.jitter_seed ? options.jitter_seed : std::random_device{}()) {
  if (options_.parallelism == 0) options_.parallelism = 1;
}

Result<std::vector<CommandRecord>, CommandError> CommandExecutor::dueHeads() {
  auto unfinished = journal_.unfinished();
  if (!unfinished) return unfinished.error();
  std::map<std::string, bool> seen;  // lower-case mailbox: its head was considered
  std::vector<CommandRecord> due;
  const std::int64_t now = clock_.nowMs();
  for (auto& c : unfinished.value()) {
    if (seen[lowerAscii(c.request.mailbox)]) continue;  // waits for the one before
    seen[lowerAscii(c.request.mailbox)] = true;
    if (c.next_attempt_ms <= now) due.push_back(std::move(c));
  }
  return due;
}

Result<std::optional<std::int64_t>, CommandError> CommandExecutor::nextDue() {
  auto unfinished = journal_.unfinished();
  if (!unfinished) return unfinished.error();
  std::optional<std::int64_t> next;
  for (const auto& c : unfinished.value()) {
    if (!next || c.next_attempt_ms < *next) next = c.next_attempt_ms;
  }
  return next;
}

Result<std::size_t, CommandError> CommandExecutor::runDue() {
  auto due = dueHeads();
  if (!due) return due.error();
  const auto& commands = due.value();
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < commands.size(); i = next++) {
      const CommandRecord& command = commands[i];
      {
        if (!journal_.markRunning(command.id)) continue;  // final meanwhile
      }
      settle(command, execute(command));
    }
  };
  std::vector<std::thread> workers;
  const std::size_t n = std::min(options_.parallelism, commands.size());
  for (std::size_t i = 1; i < n; ++i) workers.emplace_back(worker);
  if (n > 0) worker();
  for (auto& w : workers) w.join();
  return commands.size();
}

std::int64_t CommandExecutor::retryDelay(int attempts, const GatewayError& error) {
  std::int64_t delay = options_.first_retry_ms;
  for (int i = 1; i < attempts && delay < options_.max_retry_ms; ++i) delay *= 2;
  delay = std::min(delay, options_.max_retry_ms);
  {
    std::lock_guard lock(rng_mutex_);
    std::uniform_real_distribution<double> jitter(0.5, 1.0);  // spreads retries out
    delay = static_cast<std::int64_t>(static_cast<double>(delay) * jitter(rng_));
  }
  return std::max(delay, error.retry_after_ms);  // Exchange's own wait comes first
}

void CommandExecutor::settle(const CommandRecord& command, const Outcome& outcome) {
  if (outcome.succeeded) {
    (void)journal_.markSucceeded(command.id, outcome.text);
    return;
  }
  const int attempts = command.attempts + 1;  // this one included
  if (outcome.error && outcome.error->retryable()) {
    const std::int64_t next = clock_.nowMs() + retryDelay(attempts, *outcome.error);
    if (next <= command.deadline_ms) {
      (void)journal_.markRetrying(command.id, outcome.text, next);
      return;
    }
    (void)journal_.markFailed(command.id, "gave up at the deadline after " +
                                              std::to_string(attempts) +
                                              " attempts; last error: " + outcome.text);
    return;
  }
  (void)journal_.markFailed(command.id, outcome.text);
}

CommandExecutor::Outcome CommandExecutor::execute(const CommandRecord& c) {
  const CommandRequest& r = c.request;
  GatewayResult done = GatewayReply{};
  switch (r.kind) {
    case CommandKind::kAllow: done = gateway_.addAllowed(r.mailbox, {r.device_id}); break;
    case CommandKind::kRevoke: done = gateway_.removeAllowed(r.mailbox, {r.device_id}); break;
    case CommandKind::kBlock: done = gateway_.addBlocked(r.mailbox, {r.device_id}); break;
    case CommandKind::kUnblock: done = gateway_.removeBlocked(r.mailbox, {r.device_id}); break;
    case CommandKind::kSetAllowed: return setAllowed(c);
    case CommandKind::kWipe:
    case CommandKind::kWipeAccountOnly: return wipe(c);
    case CommandKind::kCancelWipe: done = gateway_.cancelWipe(r.partnership); break;
    case CommandKind::kRemovePartnership:
      done = gateway_.removePartnership(r.partnership);
      // An earlier attempt may have removed it before the agent heard back.
      if (!done && done.error().code == GatewayErrc::kNotFound && c.attempts > 0) {
        return Outcome{true, "the partnership is gone (removed by an earlier attempt)", {}};
      }
      break;
  }
  if (!done) return Outcome{false, done.error().message, done.error()};
  std::string result = "done";
  for (const auto& w : done->warnings) result += "; Exchange warned: " + w;
  return Outcome{true, result, {}};
}

CommandExecutor::Outcome CommandExecutor::setAllowed(const CommandRecord& c) {
  std::vector<std::string> current;
  bool found = false;
  auto read = gateway_.casMailbox(c.request.mailbox, [&](std::vector<powershell::PsValue>&& batch) {
    for (const auto& v : batch) {
      if (const auto* o = v.asObject()) {
        current = propertyList(*o, "ActiveSyncAllowedDeviceIDs");
        found = true;
      }
    }
  });
  if (!read) return Outcome{false, read.error().message, read.error()};
  if (!found) {
    GatewayError e{GatewayErrc::kNotFound, "Exchange returned no mailbox " + c.request.mailbox, "",
                   0};
    return Outcome{false, e.message, e};
  }
  std::vector<std::string> add, remove;
  for (const auto& id : c.request.device_ids) {
    if (!contains(current, id) && !contains(add, id)) add.push_back(id);
  }
  for (const auto& id : current) {
    if (!contains(c.request.device_ids, id)) remove.push_back(id);
  }
  if (add.empty() && remove.empty()) return Outcome{true, "the list was already so", {}};
  auto edited = gateway_.editList(c.request.mailbox, DeviceList::kAllowed, add, remove);
  if (!edited) return Outcome{false, edited.error().message, edited.error()};
  return Outcome{true, "added " + joined(add) + "; removed " + joined(remove), {}};
}

CommandExecutor::Outcome CommandExecutor::wipe(const CommandRecord& c) {
  const bool account_only = c.request.kind == CommandKind::kWipeAccountOnly;
  if (c.attempts > 0) {
    // An earlier attempt may have reached Exchange: look before wiping again.
    bool held = false;
    auto stats =
        gateway_.deviceStatistics(c.request.mailbox, [&](std::vector<powershell::PsValue>&& batch) {
          for (const auto& v : batch) {
            const auto* o = v.asObject();
            if (!o || partnershipKey(propertyText(*o, "Identity")) !=
                          partnershipKey(c.request.partnership))
              continue;
            auto requested = unixMs(
                *o, account_only ? "AccountOnlyDeviceWipeRequestTime" : "DeviceWipeRequestTime");
            held = requested && *requested >= c.created_ms - kClockSkewMs;
          }
        });
    if (!stats) return Outcome{false, stats.error().message, stats.error()};
    if (held) {
      return Outcome{true, "Exchange already holds this wipe (an earlier attempt reached it)", {}};
    }
  }
  auto done = gateway_.wipe(c.request.partnership,
                            account_only ? WipeScope::kAccountOnly : WipeScope::kDevice);
  if (!done) return Outcome{false, done.error().message, done.error()};
  return Outcome{true, "wipe requested", {}};
}

}  // namespace easgate::agent
