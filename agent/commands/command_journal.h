#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/audit/audit_log.h"
#include "agent/commands/command.h"
#include "agent/store/database.h"
#include "agent/time/clock.h"

namespace easgate::agent {

// The durable command journal. A command is in the store (and its acceptance in the audit
// log, in the same transaction) before submit() returns, so an acknowledged command survives
// any crash. Every change of state is journaled the same way. Safe to use from several
// threads: calls take turns on the store's connection.
class CommandJournal {
 public:
  CommandJournal(store::Database& database, AuditLog& audit, const Clock& clock)
      : database_(database), audit_(audit), clock_(clock) {}

  struct Submitted {
    CommandRecord command;
    bool repeated = false;  // the idempotency key was seen before: this is the first command
  };
  // Journals a normalized request. Retries stop at `deadline_ms`. A repeated idempotency key
  // returns the command it first named; the same key with a different request is a conflict.
  Result<Submitted, CommandError> submit(const CommandRequest& request, std::int64_t deadline_ms);

  // Journals commands that go together, in one transaction with `also` (what the caller keeps
  // of them in the same store): all of them, or none. An organisation command waits for every
  // command before it in the sequence, and the commands after it wait for it (their `after` is
  // set here). The agent makes sequences, once each: their requests carry no idempotency key.
  using AlsoWrite = std::function<Result<void, store::StoreError>(
      store::Database&, const std::vector<CommandRecord>&)>;
  Result<std::vector<CommandRecord>, CommandError> submitSequence(
      std::vector<CommandRequest> requests, std::int64_t deadline_ms, const AlsoWrite& also = {});

  Result<CommandRecord, CommandError> get(std::int64_t id);

  // Of the commands a command waits for, how many did not succeed (those missing from the
  // journal among them) and the first of them in the journal. Two questions of the journal's
  // ids, however long the range.
  struct Unsucceeded {
    std::int64_t count = 0;
    std::optional<CommandRecord> first;  // none when every one succeeded, or none is there
  };
  Result<Unsucceeded, CommandError> unsucceeded(const CommandRange& range);

  // Records the key of the command's mailbox (agent/mailboxes/) and, for a list command, what
  // the MDM now wants that mailbox's list to hold. Called once per command, in journal order
  // per mailbox, before it first runs.
  Result<void, CommandError> resolveMailbox(std::int64_t id, const std::string& key);
  // The same for many commands, in one transaction (a policy apply's allows, each mailbox
  // known to the directory).
  Result<void, CommandError> resolveMailboxes(
      const std::vector<std::pair<std::int64_t, std::string>>& resolved);

  // Every command not yet succeeded or failed, oldest first.
  Result<std::vector<CommandRecord>, CommandError> unfinished();

  // Unfinished commands for a mailbox whose key is not known yet, oldest first, at most `limit`
  // (resolving them goes a page at a time).
  Result<std::vector<CommandRecord>, CommandError> unresolved(std::size_t limit);

  // What may run at `now`: each resolved mailbox's oldest unfinished command and the
  // organisation's oldest, where its time has come and every command it waits for (`after`) is
  // final. Only commands before `before_id`: one whose mailbox is not resolved yet may be for any
  // mailbox. The heads of mailboxes with an urgent command queued (protocol/command_kinds.h)
  // come first, then the rest oldest first; at most `limit` of each. Read from indexes of the
  // unfinished commands (store schema 14): its cost follows `limit`, not how many are queued.
  struct DueHeads {
    std::vector<CommandRecord> commands;
    std::size_t urgent = 0;      // the first `urgent` are those of the urgent mailboxes
    bool urgent_behind = false;  // an urgent command waits behind one of those heads
  };
  Result<DueHeads, CommandError> dueHeads(std::int64_t now, std::int64_t before_id,
                                          std::size_t limit);
  // The unfinished commands of a command's mailbox after it, oldest first, at most `limit`.
  Result<std::vector<CommandRecord>, CommandError> queuedBehind(const CommandRecord& head,
                                                                std::size_t limit);

  // How SQLite answers the questions asked again and again (unresolved(), dueHeads(),
  // queuedBehind(), earliestDue(), listCommandsSince()): a line a step, an empty line after each
  // question (tests check that none reads the whole journal).
  Result<std::string, CommandError> queryPlans();
  // When the earliest unfinished command up to `up_to_id` is next due; nullopt when none is
  // unfinished. One aggregate, however many are queued (a policy apply's allows).
  Result<std::optional<std::int64_t>, CommandError> earliestDue(
      std::int64_t up_to_id = std::numeric_limits<std::int64_t>::max());

  Result<void, CommandError> markRunning(std::int64_t id);
  Result<void, CommandError> markSucceeded(std::int64_t id, const std::string& result);
  Result<void, CommandError> markRetrying(std::int64_t id, const std::string& error,
                                          std::int64_t next_attempt_ms);
  Result<void, CommandError> markFailed(std::int64_t id, const std::string& error);

  // Where a harvest's view of the journal begins: every command not final now, or submitted
  // later, has this id or a larger one. Taken before the harvest's start time.
  Result<std::int64_t, CommandError> openFrom();
  // The list commands a harvest that began at `since_ms` must not take for drift: those not
  // finished, and those that finished since (Exchange's lists may have been read before them).
  // Reads the commands from `from_id` (openFrom() before the harvest began) on, not the journal.
  struct ListCommandsInFlight {
    std::set<std::string> mailbox_keys;  // of those that know their mailbox
    bool unresolved = false;             // one does not know its mailbox yet: it may be any
  };
  Result<ListCommandsInFlight, CommandError> listCommandsSince(std::int64_t from_id,
                                                               std::int64_t since_ms);

  // A mutation the client was not allowed: into the audit trail beside the commands, so "who
  // tried to wipe what" has one answer. `action` is what was asked ("wipe", "PUT ...").
  Result<void, CommandError> recordDenied(const std::string& actor, const std::string& action,
                                          const std::string& target, const std::string& reason);

 private:
  // One command into the journal and the audit trail, inside the caller's transaction.
  Result<void, store::StoreError> insert(const CommandRequest& request, std::int64_t deadline_ms,
                                         std::int64_t now, Submitted& out,
                                         std::optional<CommandError>& refusal);
  Result<void, CommandError> transition(std::int64_t id, CommandState state,
                                        const std::string& text, std::int64_t next_attempt_ms,
                                        bool new_attempt);

  store::Database& database_;
  AuditLog& audit_;
  const Clock& clock_;
  std::mutex mutex_;  // one transaction at a time on the connection
};

// How many commands the journal holds in each state, over any connection to the store.
Result<std::map<CommandState, std::int64_t>, store::StoreError> commandCountsByState(
    store::Database& database);

}  // namespace easgate::agent
