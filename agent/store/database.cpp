// The SQLite adapter: every sqlite3 call of the agent is in this file.
#include "agent/store/database.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include <sqlite3.h>

#include "agent/store/paced_writes.h"
#include "agent/store/write_behind.h"

namespace easgate::agent::store {
namespace {

constexpr int kBusyTimeoutMs = 10'000;
// The write-ahead log is copied back into the file (a checkpoint, with an fsync of the file) once
// it holds this many bytes of pages (1,000 pages of SQLite's default 4 KiB), by the connection
// whose background transaction brought it there, after its commit and out of the writers' turn
// (Database::transaction): a checkpoint inside a commit (what SQLite does by itself) would keep a
// journal write waiting on a harvest's checkpoint. In bytes, not pages: a file of larger pages
// (the inventory's) keeps a log of the same size, and checkpoints of the same length.
constexpr std::int64_t kCheckpointBytes = 1'000 * 4096;
// A foreground transaction (the journal's: a 202 waits for it) checkpoints only past a higher
// mark, and so does a write outside a transaction, in its commit: while a harvest writes the
// file, the harvest copies back what it wrote, and the log stays bounded whoever writes.
constexpr std::int64_t kCheckpointBytesHigh = 4'000 * 4096;

StoreError errorFrom(sqlite3* db, int code, std::string_view doing) {
  StoreErrc kind = StoreErrc::kSql;
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: kind = StoreErrc::kBusy; break;
    case SQLITE_CONSTRAINT: kind = StoreErrc::kConstraint; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: kind = StoreErrc::kCorrupt; break;
    case SQLITE_CANTOPEN: kind = StoreErrc::kOpen; break;
    default: break;
  }
  std::string message(doing);
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  return StoreError{kind, std::move(message)};
}

}  // namespace

struct Statement::Impl {
  sqlite3* db = nullptr;
  sqlite3_stmt* stmt = nullptr;
  // A connection closed before its statements lives on until they are finalized: so does the
  // file's held descriptor (released after the destructor's body).
  std::shared_ptr<HeldFile> held;
  ~Impl() { sqlite3_finalize(stmt); }
};

Statement::Statement(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Statement::Statement(Statement&&) noexcept = default;
Statement& Statement::operator=(Statement&&) noexcept = default;
Statement::~Statement() = default;

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(impl_->stmt, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(impl_->stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
  sqlite3_bind_null(impl_->stmt, index);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
  return text ? bind(index, std::string_view(*text)) : bind(index, nullptr);
}

Statement& Statement::bindBlob(int index, std::span<const std::uint8_t> bytes) {
  sqlite3_bind_blob64(impl_->stmt, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return *this;
}

Result<bool, StoreError> Statement::step() {
  int rc = sqlite3_step(impl_->stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  StoreError error = errorFrom(impl_->db, rc, sqlite3_sql(impl_->stmt));
  sqlite3_reset(impl_->stmt);
  return error;
}

Result<void, StoreError> Statement::run() {
  while (true) {
    auto row = step();
    if (!row) return row.error();
    if (!row.value()) break;
  }
  reset();
  return {};
}

void Statement::reset() { sqlite3_reset(impl_->stmt); }

bool Statement::isNull(int column) const {
  return sqlite3_column_type(impl_->stmt, column) == SQLITE_NULL;
}

std::int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(impl_->stmt, column);
}

std::string Statement::text(int column) const { return std::string(textView(column)); }

std::string_view Statement::textView(int column) const {
  const auto* p = sqlite3_column_text(impl_->stmt, column);
  int n = sqlite3_column_bytes(impl_->stmt, column);
  return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
           : std::string_view();
}

std::optional<std::string> Statement::optionalText(int column) const {
  if (isNull(column)) return std::nullopt;
  return text(column);
}

std::vector<std::uint8_t> Statement::blob(int column) const {
  auto bytes = blobView(column);
  return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
}

std::span<const std::uint8_t> Statement::blobView(int column) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(impl_->stmt, column));
  int n = sqlite3_column_bytes(impl_->stmt, column);
  return p ? std::span<const std::uint8_t>(p, static_cast<std::size_t>(n))
           : std::span<const std::uint8_t>();
}

namespace {

// The turn-taking of one file's writers in this process.
class WriteGate {
 public:
  void enter(Database::Priority priority) {
    std::unique_lock lock(mutex_);
    if (priority == Database::Priority::kForeground) {
      ++foreground_waiting_;
      turn_.wait(lock, [&] { return !writing_; });
      --foreground_waiting_;
    } else {
      turn_.wait(lock, [&] { return !writing_ && foreground_waiting_ == 0; });
    }
    writing_ = true;
  }
  bool foregroundWaiting() {
    std::lock_guard lock(mutex_);
    return foreground_waiting_ > 0;
  }
  void leave() {
    {
      std::lock_guard lock(mutex_);
      writing_ = false;
    }
    turn_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable turn_;
  bool writing_ = false;
  int foreground_waiting_ = 0;
};

// One T per file of this process, shared by the connections that open it (by the file's
// canonical path) and gone with the last of them.
template <typename T>
std::shared_ptr<T> sharedFor(const std::filesystem::path& file, const std::function<T*()>& make) {
  static std::mutex registry_mutex;
  static std::map<std::filesystem::path, std::weak_ptr<T>> registry;
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(file, ec);
  if (ec) canonical = std::filesystem::absolute(file, ec);
  std::lock_guard lock(registry_mutex);
  std::erase_if(registry, [](const auto& entry) { return entry.second.expired(); });  // closed
  auto& slot = registry[canonical];
  auto shared = slot.lock();
  if (!shared) {
    shared.reset(make());
    slot = shared;
  }
  return shared;
}

std::shared_ptr<WriteGate> gateFor(const std::filesystem::path& file) {
  return sharedFor<WriteGate>(file, [] { return new WriteGate; });
}

// The file's descriptor held by every connection of this process to it (HeldFile).
std::shared_ptr<HeldFile> heldFor(const std::filesystem::path& file) {
  return sharedFor<HeldFile>(file, [&] { return new HeldFile(file); });
}

// While a connection to `file` commits without waiting for the disk: its writes go to the disk
// behind it (store/write_behind.h), the log's opened each time (SQLite takes no lock on it, and
// removes and remakes it), the database file's through the descriptor its connections hold
// (closing one of its own would drop the process's locks on it).
std::shared_ptr<WriteBehind> writeBehindFor(const std::filesystem::path& file,
                                            std::shared_ptr<HeldFile> held) {
  return sharedFor<WriteBehind>(file, [&] {
    auto wal = file;
    wal += "-wal";
    return new WriteBehind({file, wal}, WriteBehind::kPeriod,
                           [held = std::move(held), file](const std::filesystem::path& pushed) {
                             if (pushed == file) {
                               (void)held->push();
                             } else {
                               (void)startWriteback(pushed);
                             }
                           });
  });
}

}  // namespace

struct Database::Impl {
  sqlite3* db = nullptr;
  std::shared_ptr<WriteGate> gate;
  std::shared_ptr<WriteBehind> write_behind;  // from commitWithoutWaitingForTheDisk()
  std::shared_ptr<HeldFile> held;             // released after the destructor's body closed db
  std::mutex transaction_mutex;
  std::filesystem::path file;
  // Set by SQLite's hook under the connection's own mutex, read by transaction() after it.
  std::atomic<int> wal_pages = 0;            // as the last commit of this connection left the log
  std::int64_t page_bytes = 4096;            // the file's, read once it is open
  std::atomic<bool> in_transaction = false;  // of transaction(), which checkpoints after it
  ~Impl() { sqlite3_close_v2(db); }

  // SQLite's hook after each commit in WAL mode: notes the log's size; a write outside
  // transaction() checkpoints there, past the higher mark.
  static int onCommit(void* self, sqlite3* db, const char* schema, int pages) {
    auto& impl = *static_cast<Impl*>(self);
    impl.wal_pages = pages;
    if (!impl.in_transaction && impl.logBytes(pages) >= kCheckpointBytesHigh) {
      checkpoint(db, schema);
    }
    // transaction() holds a WriteBehind::Writing; a write outside one says so here.
    if (impl.write_behind && !impl.in_transaction) impl.write_behind->wrote();
    return SQLITE_OK;
  }
  std::int64_t logBytes(int pages) const { return pages * page_bytes; }
  // Copies what it can without waiting for readers or writers (PASSIVE); a busy log is left to
  // the next one.
  static void checkpoint(sqlite3* db, const char* schema) {
    (void)sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;

Result<std::unique_ptr<Database>, StoreError> Database::open(const std::filesystem::path& file,
                                                             Pacing pacing,
                                                             std::uint32_t new_page_bytes) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) {
    return StoreError{StoreErrc::kOpen,
                      "cannot create " + file.parent_path().string() + ": " + ec.message()};
  }
  auto impl = std::make_unique<Impl>();
  impl->file = file;
  impl->gate = gateFor(file);
  int rc = sqlite3_open_v2(file.string().c_str(), &impl->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           pacing == Pacing::kPaced ? pacedVfs() : nullptr);
  if (rc != SQLITE_OK) return errorFrom(impl->db, rc, "opening " + file.string());
  impl->held = heldFor(file);
  // The store is the agent's alone, whatever umask made it: SQLite gives its -wal and -shm
  // files the database file's permissions.
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      std::filesystem::perm_options::replace, ec);
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, kBusyTimeoutMs);
  sqlite3_wal_hook(impl->db, &Impl::onCommit, impl.get());  // in place of SQLite's checkpoints
  std::unique_ptr<Database> database(new Database(std::move(impl)));
  // The page size takes only before the file's first write (setting WAL is one): a file that
  // exists keeps its own.
  std::string pragmas;
  if (new_page_bytes != 0) {
    pragmas = "PRAGMA main.page_size = " + std::to_string(new_page_bytes) + "; ";
  }
  // WAL: readers never block the writer. synchronous=FULL: a commit is on disk when it
  // returns, which is what "journaled before acknowledged" needs.
  // temp.secure_delete off: Debian builds SQLite to overwrite whatever a statement deletes, so
  // emptying a temporary table (a harvest's staged partnerships, the names it kept aside)
  // wrote every page of it again and, first, into the temporary database's rollback journal:
  // twice the pages, for files that are the connection's alone and deleted from the start.
  // The store and inventory files keep the library's setting.
  // temp.auto_vacuum incremental: a temporary database that was emptied can give its pages back
  // (releaseTemporaryPages); set before it is first written, as SQLite requires.
  pragmas +=
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
      "PRAGMA temp.secure_delete = OFF; PRAGMA temp.auto_vacuum = INCREMENTAL;";
  if (auto r = database->execute(pragmas); !r) return r.error();
  // The file's page size, whoever chose it: the checkpoint marks are bytes.
  auto page_size = database->prepare("PRAGMA main.page_size");
  if (!page_size) return page_size.error();
  auto row = page_size->step();
  if (!row) return row.error();
  if (row.value()) database->impl_->page_bytes = page_size->integer(0);
  return database;
}

Result<std::unique_ptr<Database>, StoreError> Database::openToRead(
    const std::filesystem::path& file) {
  auto impl = std::make_unique<Impl>();
  impl->file = file;
  impl->gate = gateFor(file);
  int rc = sqlite3_open_v2(file.string().c_str(), &impl->db,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) return errorFrom(impl->db, rc, "opening " + file.string() + " to read");
  impl->held = heldFor(file);
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, kBusyTimeoutMs);
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

Result<void, StoreError> Database::commitWithoutWaitingForTheDisk() {
  if (auto r = execute("PRAGMA synchronous = NORMAL"); !r) return r;
  if (WriteBehind::supported() && !impl_->write_behind) {
    impl_->write_behind = writeBehindFor(impl_->file, impl_->held);
  }
  return {};
}

Result<void, StoreError> Database::execute(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  int rc = sqlite3_exec(impl_->db, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    StoreError error = errorFrom(impl_->db, rc, message ? message : "executing SQL");
    sqlite3_free(message);
    return error;
  }
  return {};
}

Result<void, StoreError> Database::releaseTemporaryPages() {
  return execute("PRAGMA temp.incremental_vacuum");
}

Result<std::int64_t, StoreError> Database::temporaryPages() {
  auto q = prepare("PRAGMA temp.page_count");
  if (!q) return q.error();
  if (auto row = q->step(); !row) return row.error();
  return q->integer(0);
}

std::int64_t Database::pagesReadFromFile() const {
  int now = 0, highest = 0;
  sqlite3_db_status(impl_->db, SQLITE_DBSTATUS_CACHE_MISS, &now, &highest, /*reset=*/0);
  return now;
}

Result<void, StoreError> Database::setPageCacheKiB(std::int64_t kib) {
  // Negative: a size in KiB, not a count of pages (whose size differs from file to file).
  return execute("PRAGMA main.cache_size = " + std::to_string(-kib));
}

Result<std::int64_t, StoreError> Database::pageCacheKiB() {
  auto q = prepare("PRAGMA main.cache_size");
  if (!q) return q.error();
  if (auto row = q->step(); !row) return row.error();
  const std::int64_t size = q->integer(0);
  if (size < 0) return -size;
  auto page = prepare("PRAGMA main.page_size");
  if (!page) return page.error();
  if (auto row = page->step(); !row) return row.error();
  return size * page->integer(0) / 1024;
}

Result<Statement, StoreError> Database::prepare(std::string_view sql) {
  auto impl = std::make_unique<Statement::Impl>();
  impl->db = impl_->db;
  impl->held = impl_->held;
  int rc = sqlite3_prepare_v3(impl_->db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &impl->stmt, nullptr);
  if (rc != SQLITE_OK) return errorFrom(impl_->db, rc, "preparing " + std::string(sql));
  return Statement(std::move(impl));
}

Result<void, StoreError> Database::transaction(
    const std::function<Result<void, StoreError>()>& body, Priority priority, AfterCommit after) {
  std::lock_guard one_at_a_time(impl_->transaction_mutex);
  // Pages may go to the log long before the commit (a large transaction spills them), and the
  // checkpoint after it writes the file: pushed to the disk behind them from the start.
  std::optional<WriteBehind::Writing> writing;
  if (impl_->write_behind) writing.emplace(*impl_->write_behind);
  {
    impl_->gate->enter(priority);
    impl_->in_transaction = true;
    struct Leave {
      Impl& impl;
      ~Leave() {
        impl.in_transaction = false;
        impl.gate->leave();
      }
    } leave{*impl_};
    if (auto x = runTransaction("BEGIN IMMEDIATE", body, /*reads_only=*/false); !x) return x;
  }
  // The other writers have their turn while this connection checkpoints.
  if (after == AfterCommit::kCheckpoint) checkpointPastMark(priority);
  return {};
}

void Database::checkpointIfLong(Priority priority) {
  std::lock_guard one_at_a_time(impl_->transaction_mutex);
  std::optional<WriteBehind::Writing> writing;
  if (impl_->write_behind) writing.emplace(*impl_->write_behind);
  checkpointPastMark(priority);
}

void Database::checkpointPastMark(Priority priority) {
  const std::int64_t mark =
      priority == Priority::kBackground ? kCheckpointBytes : kCheckpointBytesHigh;
  if (impl_->logBytes(impl_->wal_pages.exchange(0)) >= mark) Impl::checkpoint(impl_->db, nullptr);
}

Result<void, StoreError> Database::read(const std::function<Result<void, StoreError>()>& body) {
  std::lock_guard one_at_a_time(impl_->transaction_mutex);
  return runTransaction("BEGIN DEFERRED", body, /*reads_only=*/true);
}

Result<void, StoreError> Database::runTransaction(
    std::string_view begin, const std::function<Result<void, StoreError>()>& body,
    bool reads_only) {
  if (auto begun = execute(begin); !begun) return begun.error();
  Result<void, StoreError> outcome;
  try {
    outcome = body();
  } catch (...) {
    (void)execute("ROLLBACK");
    throw;
  }
  // A write in a read would have taken the file's write lock outside the writers' turn.
  if (outcome && reads_only && sqlite3_txn_state(impl_->db, nullptr) == SQLITE_TXN_WRITE) {
    outcome = StoreError{StoreErrc::kSql, "a write inside a read transaction; rolled back"};
  }
  if (!outcome) {
    (void)execute("ROLLBACK");
    return outcome.error();
  }
  if (auto committed = execute("COMMIT"); !committed) {
    (void)execute("ROLLBACK");
    return committed.error();
  }
  return {};
}

bool Database::foregroundWaiting() const { return impl_->gate->foregroundWaiting(); }

std::int64_t Database::lastInsertId() const { return sqlite3_last_insert_rowid(impl_->db); }

int Database::changes() const { return sqlite3_changes(impl_->db); }

const std::filesystem::path& Database::file() const { return impl_->file; }

Result<Statement*, StoreError> StatementCache::get(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    auto prepared = database_.prepare(sql);
    if (!prepared) return prepared.error();
    it = statements_.emplace(std::string(sql), std::move(prepared).value()).first;
  }
  it->second.reset();
  return &it->second;
}

}  // namespace easgate::agent::store
