#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

// The agent's embedded store: one SQLite file in the data directory, in WAL mode with full
// synchronous commits, so a committed transaction survives a crash or a power cut. sqlite3's
// own types stay in database.cpp.
namespace easgate::agent::store {

enum class StoreErrc {
  kOpen,        // the file cannot be opened or created
  kBusy,        // another process holds the lock past the busy timeout
  kConstraint,  // a UNIQUE, FOREIGN KEY, CHECK or trigger refused the change
  kCorrupt,     // the file is not a database, or is damaged
  kVersion,     // the file was written by a newer easgate
  kSql,         // anything else SQLite reports
};
using StoreError = Error<StoreErrc>;

class Database;

// A prepared statement. Bind parameters by 1-based index, step through rows, read columns by
// 0-based index. Moves, never copies.
class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, const std::string& text) {
    return bind(index, std::string_view(text));
  }
  Statement& bind(int index, std::nullptr_t);
  Statement& bind(int index, const std::optional<std::string>& text);
  Statement& bindBlob(int index, std::span<const std::uint8_t> bytes);

  // Runs to the next row: true when one is ready to read, false when done.
  Result<bool, StoreError> step();
  // Runs to completion (an INSERT, UPDATE, DELETE), then resets for reuse.
  Result<void, StoreError> run();
  // Rewinds for another run; bindings stay.
  void reset();

  bool isNull(int column) const;
  std::int64_t integer(int column) const;
  std::string text(int column) const;
  // The column's text where SQLite holds it: valid until the next step(), reset() or read of
  // the same column as another type. For a row that is copied elsewhere at once (a page of
  // devices written into its answer).
  std::string_view textView(int column) const;
  std::optional<std::string> optionalText(int column) const;
  std::vector<std::uint8_t> blob(int column) const;
  // The column's bytes where SQLite holds them, valid as long as textView()'s.
  std::span<const std::uint8_t> blobView(int column) const;

 private:
  friend class Database;
  struct Impl;
  explicit Statement(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A connection's page cache unless it sets another: SQLite's own default (cache_size -2000).
inline constexpr std::int64_t kDefaultPageCacheKiB = 2000;

class Database {
 public:
  // Whether the connection's writes to its file and its write-ahead log are metered to the
  // process's budget for bulk that can wait (store/paced_writes.h). Only for a connection whose
  // writes hold no lock the journal waits for.
  enum class Pacing { kNone, kPaced };
  // Opens or creates the store file (and its directory). A file it creates has pages of
  // `new_page_bytes` (a power of two from 512 to 65,536; SQLite's default, 4 KiB, when 0); a file
  // that exists keeps the page size it was written with.
  static Result<std::unique_ptr<Database>, StoreError> open(const std::filesystem::path& file,
                                                            Pacing pacing = Pacing::kNone,
                                                            std::uint32_t new_page_bytes = 0);
  // Opens an existing file only to read it: nothing is created, nothing written (for checks,
  // such as doctor's, that must leave the agent's files as they found them).
  static Result<std::unique_ptr<Database>, StoreError> openToRead(
      const std::filesystem::path& file);
  ~Database();

  // Runs SQL that returns no rows (one or more statements).
  Result<void, StoreError> execute(std::string_view sql);
  Result<Statement, StoreError> prepare(std::string_view sql);

  // Cuts the connection's temporary database (its temporary tables, in a file of its own,
  // deleted from the start) back to the pages it uses, when the transaction it runs in commits,
  // or at once outside one. Pages of temporary tables that were emptied are otherwise kept for
  // reuse, dirty in the operating system's cache, which sends them to the disk some 30 s later:
  // hundreds of megabytes written for nothing, with the journal's fsyncs queued behind them
  // (tests/bench/README.md). What a first harvest keeps aside of new mailboxes lives there (a
  // harvest's staging has a file of its own: InventoryStore::applyHarvest).
  Result<void, StoreError> releaseTemporaryPages();
  // The pages the temporary database has now: for the tests that hold its users to releasing
  // them, and for diagnosis.
  Result<std::int64_t, StoreError> temporaryPages();
  // Pages this connection has read from its files (not found in its own cache) since it was
  // opened: what a question costs beyond the CPU, for the tests that hold a hot path to it.
  std::int64_t pagesReadFromFile() const;

  // The most this connection keeps of its main file's pages in memory, in KiB (SQLite's
  // cache_size): kDefaultPageCacheKiB unless set. Made larger for a while by a part that reads
  // and writes more pages than that over and over (a harvest), and given back after.
  Result<void, StoreError> setPageCacheKiB(std::int64_t kib);
  Result<std::int64_t, StoreError> pageCacheKiB();

  // For a connection whose writes the next harvest reads again from Exchange anyway (the
  // inventory, the mailbox directory): its commits return before they reach the disk
  // (synchronous=NORMAL). A power cut may cost its last commits, never the file's consistency
  // (WAL). A connection opens with every commit durable, which the journal's must stay.
  Result<void, StoreError> commitWithoutWaitingForTheDisk();

  // Who goes first when connections of this process want to write the same file at once: the
  // journal's writes (an MDM's 202 waits for them) before a harvest's housekeeping.
  enum class Priority { kForeground, kBackground };

  // Runs `body` in a write transaction (BEGIN IMMEDIATE): committed when it succeeds, rolled
  // back when it fails. Not nestable. Connections of this process to one file take turns for
  // their transactions (SQLite's own lock, which waits by polling, is left to other processes);
  // a background transaction waits while any foreground one does. One connection runs one
  // transaction at a time (others wait); parts of the agent that work concurrently each open
  // their own connection. A background transaction that leaves the write-ahead log long
  // checkpoints it after its commit, once the other writers may go on; a foreground one only past
  // a higher mark, so that while a harvest writes the file a journal write never waits for the
  // copying back of what the harvest wrote.
  // `after`: kLeaveTheLog leaves that checkpoint to checkpointIfLong(), for a caller with
  // something to do first (a harvest closes its staging file, whose pages would otherwise age
  // into the kernel's write-back while the log is copied).
  enum class AfterCommit { kCheckpoint, kLeaveTheLog };
  Result<void, StoreError> transaction(const std::function<Result<void, StoreError>()>& body,
                                       Priority priority = Priority::kForeground,
                                       AfterCommit after = AfterCommit::kCheckpoint);
  // The checkpoint a transaction of `priority` left (AfterCommit::kLeaveTheLog): the log copied
  // back into the file if it is past that priority's mark, pushed to the disk as it goes.
  void checkpointIfLong(Priority priority = Priority::kForeground);

  // Runs `body` in a read transaction: every read in it sees the store as it was when the
  // first one began, and a run of small reads pays for one read lock instead of one each (a
  // harvest looks up its mailboxes a lot at a time). Writers of any connection go on meanwhile;
  // keep it short, for the write-ahead log cannot be checkpointed past it while it lasts. Reads
  // only: a body that writes is rolled back and fails (kSql). Not nestable, and one connection
  // runs one transaction of either kind at a time.
  Result<void, StoreError> read(const std::function<Result<void, StoreError>()>& body);

  // Whether a foreground transaction of this process waits for this file: a long background
  // one commits and lets it go first.
  bool foregroundWaiting() const;

  std::int64_t lastInsertId() const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int changes() const;
  const std::filesystem::path& file() const;

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  // `begin`, the body, COMMIT; rolled back when the body fails or throws, or wrote in a read.
  Result<void, StoreError> runTransaction(std::string_view begin,
                                          const std::function<Result<void, StoreError>()>& body,
                                          bool reads_only);
  // After a commit of `priority`: the checkpoint, when the log is past its mark.
  void checkpointPastMark(Priority priority);
  std::unique_ptr<Impl> impl_;
};

// Statements prepared once on a connection and reset for each use, for code that runs the same
// few statements many times. Keyed by the text: pass the same SQL for the same statement.
class StatementCache {
 public:
  explicit StatementCache(Database& database) : database_(database) {}
  Result<Statement*, StoreError> get(std::string_view sql);

 private:
  Database& database_;
  std::map<std::string, Statement, std::less<>> statements_;
};

}  // namespace easgate::agent::store
