#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "agent/commands/command_journal.h"
#include "agent/gateway/exchange_gateway.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/time/clock.h"

namespace easgate::agent {

struct ExecutorOptions {
  std::size_t parallelism = 4;              // commands at once; at most the bridge pool's cap
  std::int64_t first_retry_ms = 5'000;      // the first retry's delay, doubling each time
  std::int64_t max_retry_ms = 15 * 60'000;  // the longest delay between attempts
  std::uint64_t jitter_seed = 0;            // 0: seeded from the system's random device
  // A run takes at most this many commands (and as many more of mailboxes with an urgent one
  // queued), so that what it reads and holds does not grow with what is queued.
  std::size_t commands_per_run = 1'000;
  // A run resolves the mailboxes of at most this many commands (in one journal transaction); the
  // commands after them wait for the next run.
  std::size_t resolved_per_run = 10'000;
  // A run asks Exchange who at most this many names are that the directory does not know, up to
  // `parallelism` at once (each a Get-CASMailbox, a second or more on a busy server); the
  // commands from the first name not asked wait for the next run, so that those resolved run
  // first and a stop does not wait for a page of look-ups.
  std::size_t lookups_per_run = 16;
};

// Runs journaled commands against Exchange: in order per mailbox (a mailbox's next command
// waits until the one before is final), in parallel across mailboxes. A mailbox is one
// mailbox whatever name each command gives it: before a command first runs, its mailbox is
// resolved to its key through the directory, or, for a name the directory does not know, with
// one Get-CASMailbox call (a name Exchange does not know fails the command with Exchange's
// message): a few names a run, several at once, so that the commands resolved run meanwhile. While
// a command's mailbox cannot be resolved yet (Exchange throttles), the commands after it wait too,
// since they may be for the same mailbox. Retryable errors (throttling, session limits, a bridge
// that failed) are retried with exponential backoff and jitter until the command's deadline;
// permanent ones fail the command at once with Exchange's message.
//
// List commands edit both lists in one Set-CASMailbox call, as Exchange keeps them: an ID put
// on one list is taken off the other. A mailbox's edits queued one behind the other (a policy
// apply's allows) go in the same call, the last edit of each ID deciding; a call Exchange
// refuses for good is tried again one edit a call, so that only the edit it refuses fails.
// After an edit the lists are read back and stored, so reads are current at once.
//
// A command may wait for others (`after`): it is due once they are all final, and fails
// without reaching Exchange if one of them failed. The organisation's commands (its
// DefaultAccessLevel) queue in order of their own, apart from the mailboxes.
//
// A command found "running" (the agent stopped mid-flight) or being retried may already have
// reached Exchange. A wipe is then checked against the device's statistics first and is never
// sent again if Exchange already holds it; a removal that finds no partnership is done.
class CommandExecutor {
 public:
  // `directory` is used on the executor's threads only (its store connection is its own).
  CommandExecutor(CommandJournal& journal, ExchangeGateway& gateway, MailboxDirectory& directory,
                  const Clock& clock, ExecutorOptions options = {});

  // Runs the commands due now (each mailbox's oldest unfinished one, if its time has come), and
  // waits for them. The mailboxes with an urgent command queued (protocol/command_kinds.h: a
  // wipe, a block) go first; when their heads are other commands (a policy apply's allows),
  // the run ends after those, so that the next run takes the urgent ones.
  // Returns how many ran. Once each worker has run one, `keep_going` is asked before each
  // further command: false ends the run there, the rest staying queued for the next (the agent
  // stopping, or a command submitted meanwhile that may go before them).
  Result<std::size_t, CommandError> runDue(const std::function<bool()>& keep_going = {});

  // Whether a command changed the organisation's policy since the last call (then a harvest
  // shows its effect: the policy, and devices Exchange decided again).
  bool takeOrganisationChanged() { return organisation_changed_.exchange(false); }

  // Commands that failed since the executor started, by class: Exchange's error category
  // (not-found, invalid-argument, ...; powershell/bridge/bridge_error.h), "deadline" (retried
  // until its deadline), "prerequisite" (a command it waited for failed). Only classes seen.
  std::vector<std::pair<std::string, std::uint64_t>> failuresByClass() const;

  // When the earliest unfinished command is due, if there is one; of those the last run found
  // held up by a command still unresolved, only that command counts (when it may be resolved,
  // or at once when the next page waits).
  Result<std::optional<std::int64_t>, CommandError> nextDue();

 private:
  struct Outcome {
    bool succeeded = false;
    std::string text;  // the result, or the error
    std::optional<GatewayError> error;
  };
  Outcome execute(const CommandRecord& command);
  // A command's failure as Exchange answered it, naming the partnership Exchange does not know.
  static Outcome failedOn(const CommandRequest& request, GatewayError error);
  // Allow, revoke, block and unblock: in one Set-CASMailbox however many (one mailbox's).
  Outcome editLists(std::span<const CommandRecord> edits);
  // Runs a head and, where it edits a device ID's lists, the edits of its mailbox queued right
  // behind it (due, waiting for nothing), in the same Exchange call: a policy apply's allows
  // go one call a mailbox, not one a device. How many ran; what the journal could not record
  // goes to `unrecorded`.
  std::size_t runHead(const CommandRecord& head,
                      const std::function<void(const CommandError&)>& unrecorded);
  // The edits behind a head that go in its call (none when it is no edit).
  std::vector<CommandRecord> editsBehind(const CommandRecord& head);
  // At most this many edits in one call: a mailbox holds at most 100 partnerships by default.
  static constexpr std::size_t kEditsPerCall = 100;
  Outcome setList(const CommandRecord& command);
  Outcome wipe(const CommandRecord& command);
  Outcome setRule(const CommandRecord& command);
  void readBack(const CommandRecord& command);
  // Why a command may not run: one it waits for did not succeed (it fails, unsent), or the
  // journal could not say (tried again later); nullopt when every one succeeded.
  std::optional<Outcome> unmetPrerequisites(const CommandRecord& command);
  // Resolves the mailboxes of the commands that do not know theirs yet, then asks the journal
  // for the commands that may run: each mailbox's oldest unfinished one, if due, and the
  // organisation's, the heads of the mailboxes with an urgent command queued first.
  // `keep_going` false stops the look-ups of names the directory does not know.
  Result<CommandJournal::DueHeads, CommandError> dueHeads(const std::function<bool()>& keep_going);
  // What Exchange says of a name the directory does not know: its mailbox's key (recorded in
  // the directory), or the failure each command naming it settles with.
  struct Answer {
    std::optional<std::string> key;
    Outcome failure;
  };
  Answer askExchange(const std::string& name);
  // Asks Exchange for each name, up to `parallelism` at once; once each worker has asked one,
  // `keep_going` false ends the asking there. A name left unasked has no answer.
  std::map<std::string, Answer> askExchange(const std::vector<std::string>& names,
                                            const std::function<bool()>& keep_going);
  // The key of a mailbox name the directory knows; nullopt for one it does not, or shares.
  std::optional<std::string> knownKey(const std::string& name);
  // Journals the outcome: succeeded, retrying later, or failed. An error when the journal could
  // not record it (logged; the command is taken up again after a restart).
  Result<void, CommandError> settle(const CommandRecord& command, const Outcome& outcome);
  std::int64_t retryDelay(int attempts, const GatewayError& error);

  CommandJournal& journal_;
  ExchangeGateway& gateway_;
  MailboxDirectory& directory_;
  std::mutex directory_mutex_;  // the directory's connection, one caller at a time
  const Clock& clock_;
  ExecutorOptions options_;
  std::atomic<bool> organisation_changed_{false};
  // The first command the last run left unresolved (those after it wait for it), or the largest
  // id when none was.
  std::atomic<std::int64_t> held_from_{std::numeric_limits<std::int64_t>::max()};
  mutable std::mutex failures_mutex_;
  std::map<std::string, std::uint64_t> failures_;  // by class
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
};

}  // namespace easgate::agent
