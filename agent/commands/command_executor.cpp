#include "agent/commands/command_executor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "agent/inventory/object_text.h"
#include "common/memory/return_freed_memory.h"
#include "common/time/utc_time.h"
#include "powershell/clixml/ps_value.h"
#include "powershell/exchange/access_decision.h"

namespace easgate::agent {
namespace {

// Commands resolved in one run from which the memory they took is handed back to the system.
constexpr std::size_t kLargePage = 1'000;

// Exchange's clock and ours may differ; a wipe requested this long before the command was
// journaled is an older one.
constexpr std::int64_t kClockSkewMs = 10 * 60'000;

std::optional<std::int64_t> unixMs(const powershell::PsObject& o, std::string_view property) {
  const powershell::PsValue* v = o.property(property);
  if (!v || !v->asDateTime()) return std::nullopt;
  return (v->asDateTime()->utcTicks() - utc::kUnixEpochDotNetTicks) / 10'000;
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

// A rule's name, as Exchange names it (normalizeCommand checked the characteristic).
std::string ruleName(const CommandRequest& r) {
  namespace exchange = powershell::exchange;
  return exchange::DeviceAccessRule{
      exchange::characteristicNamed(r.rule_characteristic).value_or(exchange::Characteristic{}),
      r.rule_query, exchange::AccessLevel::kAllow}
      .name();
}

// The mailbox as Exchange is asked about it: by its key (a Guid Exchange takes as -Identity and
// that no rename changes), else the name the MDM gave.
std::string exchangeName(const CommandRecord& c) {
  return c.mailbox_key.empty() ? c.request.mailbox : c.mailbox_key;
}

}  // namespace

CommandExecutor::CommandExecutor(CommandJournal& journal, ExchangeGateway& gateway,
                                 MailboxDirectory& directory, const Clock& clock,
                                 ExecutorOptions options)
    : journal_(journal),
      gateway_(gateway),
      directory_(directory),
      clock_(clock),
      options_(options),
      rng_(options.jitter_seed ? options.jitter_seed : std::random_device{}()) {
  if (options_.parallelism == 0) options_.parallelism = 1;
}

std::optional<std::string> CommandExecutor::knownKey(const std::string& name) {
  std::lock_guard lock(directory_mutex_);
  NameLookup known = directory_.lookup(name);
  if (known.kind != NameLookup::Kind::kFound) return std::nullopt;
  return std::move(known.key);
}

CommandExecutor::Answer CommandExecutor::askExchange(const std::string& name) {
  // Exchange knows every name of every mailbox. An ambiguous name in the directory is asked too:
  // Exchange may still tell the two apart (a full address, say).
  auto failed = [](GatewayError e, const std::string& why) {
    return Answer{std::nullopt, Outcome{false, why + ": " + e.message, std::move(e)}};
  };
  std::vector<MailboxEntry> found;
  auto asked = gateway_.casMailbox(name, [&](std::vector<powershell::PsValue>&& batch) {
    for (const auto& v : batch) {
      if (const auto* o = v.asObject()) {
        if (auto e = mailboxEntryFromCasMailbox(*o)) found.push_back(std::move(*e));
      }
    }
  });
  // Failures take the path any attempt's do (settle): retried while retryable, else final.
  if (!asked) {
    const GatewayError& e = asked.error();
    return failed(e, e.retryable()                      ? "resolving the mailbox '" + name + "'"
                     : e.code == GatewayErrc::kNotFound ? "Exchange has no mailbox '" + name + "'"
                     : e.code == GatewayErrc::kAmbiguous
                         ? "the name '" + name +
                               "' fits more than one mailbox in Exchange; name it by its SMTP "
                               "address or Guid"
                         : "Exchange refused the mailbox name '" + name + "'");
  }
  if (found.size() != 1) {
    GatewayError e{found.empty() ? GatewayErrc::kNotFound : GatewayErrc::kAmbiguous,
                   found.empty() ? "Exchange returned no mailbox for '" + name + "'"
                                 : "the name '" + name + "' fits " + std::to_string(found.size()) +
                                       " mailboxes in Exchange; name it by its SMTP address or "
                                       "Guid",
                   "", 0};
    return Answer{std::nullopt, Outcome{false, e.message, e}};
  }
  std::lock_guard lock(directory_mutex_);
  if (auto recorded = directory_.record(found.front(), clock_.nowMs(), /*lists=*/true, name);
      !recorded) {
    return failed(GatewayError{GatewayErrc::kTransient, "", "", 0},
                  "the store: " + recorded.error().message);
  }
  return Answer{std::move(found.front().key), {}};
}

std::map<std::string, CommandExecutor::Answer> CommandExecutor::askExchange(
    const std::vector<std::string>& names, const std::function<bool()>& keep_going) {
  std::map<std::string, Answer> answers;
  std::mutex answers_mutex;
  const std::size_t n = std::min(options_.parallelism, names.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < names.size(); i = next++) {
      // As for the commands of a run: each worker asks one, so that every run moves on.
      if (i >= n && keep_going && !keep_going()) return;
      // Another name of the same mailbox, answered meanwhile, may have taught the directory this
      // one (an address after the identity, say).
      auto known = knownKey(names[i]);
      Answer answer = known ? Answer{std::move(known), {}} : askExchange(names[i]);
      std::lock_guard lock(answers_mutex);
      answers.emplace(names[i], std::move(answer));
    }
  };
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < n; ++i) workers.emplace_back(worker);
  if (n > 0) worker();
  for (auto& w : workers) w.join();
  return answers;
}

Result<CommandJournal::DueHeads, CommandError> CommandExecutor::dueHeads(
    const std::function<bool()>& keep_going) {
  const std::int64_t now = clock_.nowMs();
  // First the commands whose mailbox is not known yet learn it, in journal order, a page a run,
  // journaled in one transaction (a policy apply queues an allow for every device kept in). The
  // names the directory does not know are asked of Exchange first, a few a run and several at
  // once. The first command still unresolved holds up every command after it, since they may
  // be for its mailbox: one Exchange cannot resolve now (it throttles) until it can, one past
  // the page or whose name was not asked until a next run (so that the first allows of a large
  // apply run while the rest are resolved, run after run).
  auto page = journal_.unresolved(options_.resolved_per_run + 1);
  if (!page) return page.error();
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  if (page->size() > options_.resolved_per_run) {
    before = page->back().id;
    page->pop_back();
  }
  // The page's part this run resolves: up to the first command whose resolving waits, or whose
  // name is past this run's share of look-ups.
  std::map<std::string, std::string> known;  // name: key, as the directory knows it
  std::vector<std::string> to_ask;
  std::size_t end = 0;
  for (; end < page->size(); ++end) {
    const CommandRecord& c = (*page)[end];
    if (c.next_attempt_ms > now) break;
    const std::string& name = c.request.mailbox;
    if (known.count(name) || std::find(to_ask.begin(), to_ask.end(), name) != to_ask.end()) {
      continue;
    }
    if (auto key = knownKey(name)) {
      known.emplace(name, std::move(*key));
    } else if (to_ask.size() < options_.lookups_per_run) {
      to_ask.push_back(name);
    } else {
      break;
    }
  }
  if (end < page->size()) before = (*page)[end].id;
  const auto answers = askExchange(to_ask, keep_going);
  std::vector<std::pair<std::int64_t, std::string>> resolved;  // (command, its mailbox's key)
  for (std::size_t i = 0; i < end; ++i) {
    const CommandRecord& c = (*page)[i];
    const std::string& name = c.request.mailbox;
    if (auto k = known.find(name); k != known.end()) {
      resolved.emplace_back(c.id, k->second);
      continue;
    }
    auto answer = answers.find(name);
    if (answer != answers.end() && answer->second.key) {
      resolved.emplace_back(c.id, *answer->second.key);
      continue;
    }
    if (answer != answers.end()) {
      // Failed for good (it then holds nothing up), or waiting to be asked again. A failure is
      // logged where it is settled; one the journal could not record is asked about again.
      (void)settle(c, answer->second.failure);
      if (auto settled = journal_.get(c.id); settled && isFinal(settled->state)) continue;
    }
    before = c.id;  // not asked (a stop), or asked again later: all after it wait
    break;
  }
  if (!resolved.empty()) {
    if (auto r = journal_.resolveMailboxes(resolved); !r) return r.error();
  }
  held_from_ = before;
  // A large page (a policy apply's) came and went: glibc would keep its memory, page after page.
  if (page->size() >= kLargePage) {
    page->clear();
    page->shrink_to_fit();
    memory::returnFreedMemory();
  }
  return journal_.dueHeads(now, before, options_.commands_per_run);
}

Result<std::optional<std::int64_t>, CommandError> CommandExecutor::nextDue() {
  // Those after a command whose mailbox waits to be resolved wait with it: not due before it.
  return journal_.earliestDue(held_from_.load());
}

Result<std::size_t, CommandError> CommandExecutor::runDue(const std::function<bool()>& keep_going) {
  auto due = dueHeads(keep_going);
  if (!due) return due.error();
  const auto& commands = due->commands;
  const std::size_t n = std::min(options_.parallelism, commands.size());
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> ran{0};
  std::mutex failure_mutex;
  std::optional<CommandError> failure;  // the first outcome the journal could not record
  auto unrecorded = [&](const CommandError& e) {
    std::lock_guard lock(failure_mutex);
    if (!failure) failure = e;
  };
  auto worker = [&] {
    for (std::size_t i = next++; i < commands.size(); i = next++) {
      // A run that moved a mailbox forward for an urgent command queued behind its head ends
      // once those heads are taken: the next run takes the urgent command, first.
      if (i >= due->urgent && due->urgent_behind) return;
      if (i >= n && keep_going && !keep_going()) return;
      ran += runHead(commands[i], unrecorded);
    }
  };
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < n; ++i) workers.emplace_back(worker);
  if (n > 0) worker();
  for (auto& w : workers) w.join();
  if (failure) return *failure;
  return ran.load();
}

std::size_t CommandExecutor::runHead(const CommandRecord& head,
                                     const std::function<void(const CommandError&)>& unrecorded) {
  auto settled = [&](const CommandRecord& c, const Outcome& outcome) {
    if (outcome.succeeded &&
        commandKindInfo(c.request.kind).target == protocol::CommandTarget::kOrganisation) {
      organisation_changed_ = true;
    }
    if (auto s = settle(c, outcome); !s) unrecorded(s.error());
  };
  if (!journal_.markRunning(head.id)) return 1;  // final meanwhile
  std::vector<CommandRecord> together{head};
  for (auto& c : editsBehind(head)) {
    if (!journal_.markRunning(c.id)) break;  // the rest wait for the next run
    together.push_back(std::move(c));
  }
  if (together.size() == 1) {
    settled(head, execute(head));
    return 1;
  }
  const Outcome outcome = editLists(together);
  if (outcome.succeeded || (outcome.error && outcome.error->retryable())) {
    for (const auto& c : together) settled(c, outcome);
  } else {
    // Refused as a whole for good: each again on its own, so that only what Exchange refuses
    // fails.
    for (const auto& c : together) settled(c, execute(c));
  }
  return together.size();
}

std::vector<CommandRecord> CommandExecutor::editsBehind(const CommandRecord& head) {
  auto edits = [](const CommandRecord& c) {
    return commandKindInfo(c.request.kind).target == protocol::CommandTarget::kDeviceId &&
           !c.request.after;
  };
  std::vector<CommandRecord> out;
  if (!edits(head)) return out;
  auto behind = journal_.queuedBehind(head, kEditsPerCall - 1);
  if (!behind) {
    spdlog::debug("command {}: its mailbox's next commands are not read ({}); it runs alone",
                  head.id, behind.error().message);
    return out;
  }
  const std::int64_t now = clock_.nowMs();
  for (auto& c : behind.value()) {
    if (!edits(c) || c.next_attempt_ms > now) break;  // what follows waits for it
    out.push_back(std::move(c));
  }
  return out;
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

Result<void, CommandError> CommandExecutor::settle(const CommandRecord& command,
                                                   const Outcome& outcome) {
  // What happened is journaled; a store that refuses for a moment (busy) is asked again.
  auto record = [&](const std::function<Result<void, CommandError>()>& mark) {
    Result<void, CommandError> r;
    for (int attempt = 1; attempt <= 3; ++attempt) {
      r = mark();
      if (r) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    }
    spdlog::error(
        "command {}: the journal could not record its outcome ({}): {}; after a restart it is "
        "taken up again as interrupted",
        command.id, outcome.text, r.error().message);
    return r;
  };
  if (outcome.succeeded) {
    return record([&] { return journal_.markSucceeded(command.id, outcome.text); });
  }
  const int attempts = command.attempts + 1;  // this one included
  auto count = [&](std::string failure_class) {
    std::lock_guard lock(failures_mutex_);
    ++failures_[std::move(failure_class)];
  };
  if (outcome.error && outcome.error->retryable()) {
    const std::int64_t next = clock_.nowMs() + retryDelay(attempts, *outcome.error);
    if (next <= command.deadline_ms) {
      return record([&] { return journal_.markRetrying(command.id, outcome.text, next); });
    }
    count("deadline");
    return record([&] {
      return journal_.markFailed(command.id, "gave up at the deadline after " +
                                                 std::to_string(attempts) +
                                                 " attempts; last error: " + outcome.text);
    });
  }
  count(outcome.error ? std::string(powershell::categoryName(outcome.error->code))
                      : "prerequisite");
  return record([&] { return journal_.markFailed(command.id, outcome.text); });
}

std::vector<std::pair<std::string, std::uint64_t>> CommandExecutor::failuresByClass() const {
  std::lock_guard lock(failures_mutex_);
  return {failures_.begin(), failures_.end()};
}

CommandExecutor::Outcome CommandExecutor::failedOn(const CommandRequest& r, GatewayError e) {
  // A partnership Exchange does not know is named, as a mailbox it does not know is
  // (askExchange): a device removed since the last harvest, or an Identity mistyped.
  std::string text = e.code == GatewayErrc::kNotFound && !r.partnership.empty()
                         ? "Exchange has no partnership '" + r.partnership + "': " + e.message
                         : e.message;
  return Outcome{false, std::move(text), std::move(e)};
}

CommandExecutor::Outcome CommandExecutor::execute(const CommandRecord& c) {
  const CommandRequest& r = c.request;
  // A command that waits for others goes only where they all went: one that failed stops it
  // (a policy's rules and default never change after a failed allow).
  if (auto unmet = unmetPrerequisites(c)) return *std::move(unmet);
  GatewayResult done = GatewayReply{};
  switch (r.kind) {
    case CommandKind::kAllow:
    case CommandKind::kRevoke:
    case CommandKind::kBlock:
    case CommandKind::kUnblock: return editLists(std::span(&c, 1));
    case CommandKind::kSetAllowed:
    case CommandKind::kSetBlocked: return setList(c);
    case CommandKind::kWipe:
    case CommandKind::kWipeAccountOnly: return wipe(c);
    case CommandKind::kCancelWipe: done = gateway_.cancelWipe(r.partnership); break;
    case CommandKind::kSetDefaultAccessLevel:
      done = gateway_.setDefaultAccessLevel(r.access_level);
      break;
    case CommandKind::kSetDeviceAccessRule: return setRule(c);
    case CommandKind::kRemoveDeviceAccessRule: {
      const std::string name = ruleName(r);
      done = gateway_.removeDeviceAccessRule(name);
      if (!done && done.error().code == GatewayErrc::kNotFound) {
        return Outcome{true, "Exchange has no rule '" + name + "' (removed already)", {}};
      }
      break;
    }
    case CommandKind::kSetAdminMailRecipients:
      done = gateway_.setAdminMailRecipients(r.recipients);
      break;
    case CommandKind::kRemovePartnership:
      done = gateway_.removePartnership(r.partnership);
      // An earlier attempt may have removed it before the agent heard back.
      if (!done && done.error().code == GatewayErrc::kNotFound && c.attempts > 0) {
        return Outcome{true, "the partnership is gone (removed by an earlier attempt)", {}};
      }
      break;
  }
  if (!done) return failedOn(r, done.error());
  std::string result = "done";
  for (const auto& w : done->warnings) result += "; Exchange warned: " + w;
  return Outcome{true, result, {}};
}

CommandExecutor::Outcome CommandExecutor::editLists(std::span<const CommandRecord> edits) {
  // Exchange keeps an ID on one list: allowing takes it off the blocked list and blocking off
  // the allowed one, in the same call, so that Exchange and the desired lists agree. Edits of
  // one mailbox queued one behind the other go in one call: for each ID, on each list, the
  // last edit that touches it decides (device IDs compare without case, as Exchange's do).
  struct ListChange {
    std::vector<std::string> add, remove;
    bool touched = false;
  };
  ListChange allowed, blocked;
  auto put = [](ListChange& list, const std::string& id, bool on) {
    auto same = [&](const std::string& x) { return lowerAscii(x) == lowerAscii(id); };
    std::erase_if(list.add, same);
    std::erase_if(list.remove, same);
    (on ? list.add : list.remove).push_back(id);
    list.touched = true;
  };
  for (const auto& c : edits) {
    const std::string& id = c.request.device_id;
    switch (c.request.kind) {
      case CommandKind::kAllow:
        put(allowed, id, true);
        put(blocked, id, false);
        break;
      case CommandKind::kRevoke: put(allowed, id, false); break;
      case CommandKind::kBlock:
        put(blocked, id, true);
        put(allowed, id, false);
        break;
      default: put(blocked, id, false); break;  // unblock
    }
  }
  auto edit = [](const ListChange& list) {
    return list.touched ? std::optional(powershell::ListEdit{list.add, list.remove}) : std::nullopt;
  };
  const CommandRecord& head = edits.front();
  auto done = gateway_.editLists(exchangeName(head), edit(allowed), edit(blocked));
  if (!done) return Outcome{false, done.error().message, done.error()};
  readBack(head);
  std::string result = "done";
  if (edits.size() > 1) {
    result += " (one Exchange call for commands ";
    for (const auto& c : edits) result += (&c == &head ? "" : ", ") + std::to_string(c.id);
    result += ")";
  }
  for (const auto& w : done->warnings) result += "; Exchange warned: " + w;
  return Outcome{true, result, {}};
}

CommandExecutor::Outcome CommandExecutor::setList(const CommandRecord& c) {
  const bool allowed_list = c.request.kind == CommandKind::kSetAllowed;
  std::vector<std::string> current, other;
  bool found = false;
  auto read = gateway_.casMailbox(exchangeName(c), [&](std::vector<powershell::PsValue>&& batch) {
    for (const auto& v : batch) {
      if (const auto* o = v.asObject()) {
        current = propertyList(
            *o, allowed_list ? "ActiveSyncAllowedDeviceIDs" : "ActiveSyncBlockedDeviceIDs");
        other = propertyList(
            *o, allowed_list ? "ActiveSyncBlockedDeviceIDs" : "ActiveSyncAllowedDeviceIDs");
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
  std::vector<std::string> add, remove, off_other;
  for (const auto& id : c.request.device_ids) {
    if (!contains(current, id) && !contains(add, id)) add.push_back(id);
    if (contains(other, id) && !contains(off_other, id)) off_other.push_back(id);
  }
  for (const auto& id : current) {
    if (!contains(c.request.device_ids, id)) remove.push_back(id);
  }
  if (add.empty() && remove.empty() && off_other.empty()) {
    return Outcome{true, "the list was already so", {}};
  }
  std::optional<powershell::ListEdit> edit, other_edit;
  if (!add.empty() || !remove.empty()) edit = powershell::ListEdit{add, remove};
  if (!off_other.empty()) other_edit = powershell::ListEdit{{}, off_other};
  auto edited = allowed_list ? gateway_.editLists(exchangeName(c), edit, other_edit)
                             : gateway_.editLists(exchangeName(c), other_edit, edit);
  if (!edited) return Outcome{false, edited.error().message, edited.error()};
  readBack(c);
  std::string result = "added " + joined(add) + "; removed " + joined(remove);
  if (!off_other.empty()) {
    result += "; taken off the " + std::string(allowed_list ? "blocked" : "allowed") +
              " list: " + joined(off_other);
  }
  return Outcome{true, result, {}};
}

CommandExecutor::Outcome CommandExecutor::setRule(const CommandRecord& c) {
  // Idempotent: the rule is made when Exchange has none by its name, else its level is set, so
  // a retry after an attempt that reached Exchange does the same.
  const std::string name = ruleName(c.request);
  bool exists = false;
  auto found = gateway_.deviceAccessRule(
      name, [&](std::vector<powershell::PsValue>&& batch) { exists = exists || !batch.empty(); });
  if (!found && found.error().code != GatewayErrc::kNotFound) {
    return Outcome{false, found.error().message, found.error()};
  }
  auto done =
      exists ? gateway_.setDeviceAccessRuleLevel(name, c.request.access_level)
             : gateway_.newDeviceAccessRule(c.request.rule_query, c.request.rule_characteristic,
                                            c.request.access_level);
  if (!done) return Outcome{false, done.error().message, done.error()};
  return Outcome{true, (exists ? "set the level of '" : "made the rule '") + name + "'", {}};
}

std::optional<CommandExecutor::Outcome> CommandExecutor::unmetPrerequisites(
    const CommandRecord& c) {
  if (!c.request.after) return std::nullopt;
  auto found = journal_.unsucceeded(*c.request.after);
  if (!found) {
    const std::string why = "the commands it waits for cannot be read: " + found.error().message;
    return Outcome{false, why, GatewayError{GatewayErrc::kTransient, why, "", 0}};
  }
  if (found->count == 0) return std::nullopt;
  std::string why = "not sent: " + std::to_string(found->count) + " of the " +
                    std::to_string(c.request.after->size()) +
                    " commands it waits for did not succeed";
  if (const auto& first = found->first) {
    why += "; the first, command " + std::to_string(first->id) + " (" +
           std::string(commandKindName(first->request.kind)) + " " + first->request.mailbox + " " +
           first->request.device_id + ") failed: " + first->last_error;
  } else {
    why += " (they are not in the journal)";
  }
  return Outcome{false, why, std::nullopt};
}

void CommandExecutor::readBack(const CommandRecord& c) {
  // What Exchange now holds, so that reads are current before the next harvest. A failure here
  // costs only freshness: the edit itself succeeded.
  std::optional<MailboxEntry> entry;
  auto read = gateway_.casMailbox(exchangeName(c), [&](std::vector<powershell::PsValue>&& batch) {
    for (const auto& v : batch) {
      if (const auto* o = v.asObject()) entry = mailboxEntryFromCasMailbox(*o);
    }
  });
  if (!read || !entry) return;
  std::lock_guard lock(directory_mutex_);
  if (auto r = directory_.record(*entry, clock_.nowMs(), /*lists=*/true, c.request.mailbox); !r) {
    spdlog::debug("command {}: its mailbox's lists as read back are not kept: {}", c.id,
                  r.error().message);
  }
}

CommandExecutor::Outcome CommandExecutor::wipe(const CommandRecord& c) {
  const bool account_only = c.request.kind == CommandKind::kWipeAccountOnly;
  if (c.attempts > 0) {
    // An earlier attempt may have reached Exchange: look before wiping again.
    bool held = false;
    auto stats =
        gateway_.deviceStatistics(exchangeName(c), [&](std::vector<powershell::PsValue>&& batch) {
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
  if (!done) return failedOn(c.request, done.error());
  return Outcome{true, "wipe requested", {}};
}

}  // namespace easgate::agent
