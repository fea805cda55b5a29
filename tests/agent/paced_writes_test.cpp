// Paced connections (agent/store/paced_writes.h): real files, real SQLite, the VFS between them.
// Times are checked from below only (a write cannot finish before its budget allows it), so a
// busy machine makes these slower, never wrong.
#include "agent/store/paced_writes.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "agent/store/database.h"
#include "tests/support/scratch.h"
#include "tests/support/sql_value.h"

namespace easgate::agent::store {
namespace {

namespace fs = std::filesystem;
using easgate::testing::sqlValue;
using Clock = std::chrono::steady_clock;

class PacedWrites : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = easgate::testing::scratchPath("paced-writes");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    rate_ = pacedWriteRate();
    copy_back_rate_ = pacedCopyBackRate();
  }
  void TearDown() override {
    setPacedWriteRate(rate_);
    setPacedCopyBackRate(copy_back_rate_);
    fs::remove_all(dir_);
  }
  fs::path file() const { return dir_ / "paced.db"; }

  static std::unique_ptr<Database> open(const fs::path& file, Database::Pacing pacing) {
    auto db = Database::open(file, pacing);
    EXPECT_TRUE(db.ok()) << db.error().message;
    return std::move(db).value();
  }
  // `rows` rows of 3,000 bytes: about a page each.
  static Result<void, StoreError> fill(Database& db, int rows) {
    return db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                      std::to_string(rows) + ") INSERT INTO filler SELECT randomblob(3000) FROM n");
  }

  fs::path dir_;
  std::uint64_t rate_ = 0;
  std::uint64_t copy_back_rate_ = 0;
};

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

TEST_F(PacedWrites, TheDefaultBudgetIsTheAgents) {
  EXPECT_EQ(pacedWriteRate(), kPacedWriteBytesPerSecond);
  EXPECT_EQ(pacedCopyBackRate(), kPacedCopyBackBytesPerSecond);
  EXPECT_LT(kPacedCopyBackBytesPerSecond, kPacedWriteBytesPerSecond)
      << "the copy back goes slower than the log";
  EXPECT_NE(pacedVfs(), nullptr) << "SQLite refused the VFS";
}

// Over 4 MiB through a paced connection at 8 MiB/s: at least 0.4 s, however fast the disk (the
// budget holds a tenth of a second's worth at the start).
TEST_F(PacedWrites, AConnectionsWritesWaitForTheBudget) {
  setPacedWriteRate(8 * kMiB);
  auto db = open(file(), Database::Pacing::kPaced);
  ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
  const auto before = pacedWriteTotals();
  const auto start = Clock::now();
  ASSERT_TRUE(db->transaction([&] { return fill(*db, 1'300); }).ok());
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  const auto after = pacedWriteTotals();

  EXPECT_GE(after.bytes - before.bytes, 4 * kMiB) << "the log's pages were not metered";
  EXPECT_GE(took, 0.4) << "over 4 MiB at 8 MiB/s went faster than the budget";
  EXPECT_GE(after.slept_s - before.slept_s, 0.3);
  EXPECT_EQ(sqlValue(*db, "SELECT count(*) FROM filler"), "1300");
}

// A connection with no pacing is not metered, whatever the budget.
TEST_F(PacedWrites, AConnectionWithoutPacingIsNotMetered) {
  setPacedWriteRate(kMiB);
  auto db = open(file(), Database::Pacing::kNone);
  ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
  const auto before = pacedWriteTotals();
  ASSERT_TRUE(db->transaction([&] { return fill(*db, 300); }).ok());
  EXPECT_EQ(pacedWriteTotals().bytes, before.bytes);
}

// Both what goes into the write-ahead log and its copy back into the file (a checkpoint, the
// bulk at the end of a first harvest) are metered.
TEST_F(PacedWrites, TheLogAndTheCopyBackIntoTheFileAreBothMetered) {
  auto db = open(file(), Database::Pacing::kPaced);
  ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
  ASSERT_TRUE(db->execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  const auto before = pacedWriteTotals();
  ASSERT_TRUE(fill(*db, 500).ok());  // under the marks: stays in the log
  const auto logged = pacedWriteTotals();
  EXPECT_GE(logged.bytes - before.bytes, 500 * 3'000u) << "the log's writes were not metered";

  ASSERT_TRUE(db->execute("PRAGMA wal_checkpoint(PASSIVE)").ok());
  EXPECT_GE(pacedWriteTotals().bytes - logged.bytes, 500 * 3'000u)
      << "the checkpoint's writes of the file were not metered";
}

// The copy back into the file (a checkpoint) has a budget of its own, whatever the log's: about
// 2 MiB copied at 4 MiB/s takes at least 0.3 s (its first tenth of a second's worth at once).
TEST_F(PacedWrites, TheCopyBackIntoTheFileGoesAtItsOwnBudget) {
  setPacedWriteRate(1024 * kMiB);
  setPacedCopyBackRate(4 * kMiB);
  auto db = open(file(), Database::Pacing::kPaced);
  ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
  ASSERT_TRUE(db->execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  ASSERT_TRUE(fill(*db, 700).ok());  // under the marks: stays in the log
  const auto before = pacedWriteTotals();
  const auto start = Clock::now();
  ASSERT_TRUE(db->execute("PRAGMA wal_checkpoint(PASSIVE)").ok());
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(pacedWriteTotals().bytes - before.bytes, 700 * 3'000u);
  EXPECT_GE(took, 0.3) << "2 MiB copied back at 4 MiB/s went faster than its budget";
}

// A log written from end to end costs the budget what it holds, however large the transaction.
// But a transaction larger than SQLite's page cache writes a page into the log, and when that
// page changes again and is written again, SQLite puts it over its frame in place; its commit
// then rewrites the header (24 bytes) of every frame from that one to the end, each dirtying a
// whole page of the system's cache (as a first harvest does: tests/bench/README.md). Each such
// header costs the budget a page, so those writes go at its pace too.
TEST_F(PacedWrites, ALogsFrameHeadersRewrittenAtCommitCostAPageEach) {
  auto db = open(file(), Database::Pacing::kPaced);
  ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
  ASSERT_TRUE(db->execute("CREATE TABLE tally (n INTEGER)").ok());
  ASSERT_TRUE(db->execute("INSERT INTO tally VALUES (0)").ok());
  ASSERT_TRUE(db->execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());

  // Within SQLite's page cache: every page written once, at the commit, from end to end.
  auto before = pacedWriteTotals();
  ASSERT_TRUE(db->transaction([&] { return fill(*db, 300); }).ok());
  auto after = pacedWriteTotals();
  ASSERT_GE(after.bytes - before.bytes, 300 * 3'000u);
  EXPECT_LE(after.cost - before.cost, after.bytes - before.bytes + 2 * 4'096)
      << "a log written from end to end was counted as more than it holds";

  // Beyond it: the tally's page written early, changed again after many spills, written again
  // in place.
  ASSERT_TRUE(db->execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  ASSERT_TRUE(db->execute("PRAGMA cache_size = 20").ok());  // pages: spilled early and often
  before = pacedWriteTotals();
  ASSERT_TRUE(db->transaction([&]() -> Result<void, StoreError> {
                  if (auto x = db->execute("UPDATE tally SET n = n + 1"); !x) return x;
                  if (auto x = fill(*db, 300); !x) return x;
                  if (auto x = db->execute("UPDATE tally SET n = n + 1"); !x) return x;
                  return fill(*db, 100);
                }).ok());
  after = pacedWriteTotals();
  // Some 400 frames after the tally's first one: each header rewritten costs a page, against
  // 24 bytes written.
  const std::uint64_t counted_beyond_bytes =
      (after.cost - before.cost) - (after.bytes - before.bytes);
  EXPECT_GE(counted_beyond_bytes, 300 * (4'096u - 24))
      << "the commit's rewritten frame headers were counted as the bytes they hold";
  EXPECT_EQ(sqlValue(*db, "SELECT n FROM tally"), "2");
  EXPECT_EQ(sqlValue(*db, "PRAGMA integrity_check"), "ok");
}

// The VFS changes nothing but the pace: a paced writer and an ordinary reader share the file
// and its log (WAL's shared memory through the VFS), and the file is whole when reopened.
TEST_F(PacedWrites, APacedConnectionSharesItsFileWithOrdinaryOnes) {
  {
    auto writer = open(file(), Database::Pacing::kPaced);
    auto reader = open(file(), Database::Pacing::kNone);
    ASSERT_TRUE(writer->execute("CREATE TABLE filler (bytes BLOB)").ok());
    ASSERT_TRUE(writer->transaction([&] { return fill(*writer, 200); }).ok());
    EXPECT_EQ(sqlValue(*reader, "SELECT count(*) FROM filler"), "200");
    ASSERT_TRUE(reader->transaction([&] { return fill(*reader, 100); }).ok());
    EXPECT_EQ(sqlValue(*writer, "SELECT count(*) FROM filler"), "300");
    ASSERT_TRUE(writer->execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  }
  auto reopened = open(file(), Database::Pacing::kNone);
  EXPECT_EQ(sqlValue(*reopened, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(sqlValue(*reopened, "SELECT count(*) FROM filler"), "300");
  EXPECT_EQ(sqlValue(*reopened, "PRAGMA journal_mode"), "wal");
}

}  // namespace
}  // namespace easgate::agent::store
