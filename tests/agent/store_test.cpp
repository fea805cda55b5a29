// The SQLite store: a real file on disk, WAL, versioned schema, transactions.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/store/schema.h"
#include "tests/support/scratch.h"
#include "tests/support/sql_value.h"

namespace easgate::agent::store {
namespace {

namespace fs = std::filesystem;
using easgate::testing::sqlValue;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = easgate::testing::scratchPath("store");
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path file() const { return dir_ / "data" / "easgate.db"; }
  fs::path dir_;
};

TEST_F(StoreTest, CreatesTheFileAtTheCurrentSchemaInWalMode) {
  auto db = openStore(file());
  ASSERT_TRUE(db.ok()) << db.error().message;
  EXPECT_TRUE(fs::exists(file())) << "the directory is created too";
  EXPECT_EQ(schemaVersion(*db.value()).value(), currentSchemaVersion());
  EXPECT_EQ(sqlValue(*db.value(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(sqlValue(*db.value(), "PRAGMA synchronous"), "2") << "FULL";
  EXPECT_EQ(sqlValue(*db.value(), "PRAGMA foreign_keys"), "1");
}

// Emptying a temporary table (a harvest's staged partnerships, the names it kept aside) frees its
// pages without overwriting each of them first, as Debian's SQLite otherwise does for every
// delete; the store's own file keeps the library's setting.
TEST_F(StoreTest, TemporaryTablesAreEmptiedWithoutOverwritingTheirPages) {
  auto db = openStore(file());
  ASSERT_TRUE(db.ok()) << db.error().message;
  EXPECT_EQ(sqlValue(*db.value(), "PRAGMA temp.secure_delete"), "0");
  auto plain = Database::openToRead(file());
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(sqlValue(*db.value(), "PRAGMA main.secure_delete"),
            sqlValue(*plain.value(), "PRAGMA main.secure_delete"));
}

// A harvest's connection commits without waiting for the disk; the journal's, to the same file,
// still waits for every commit.
TEST_F(StoreTest, OnlyAConnectionThatAsksCommitsWithoutWaitingForTheDisk) {
  auto journal = openStore(file());
  auto harvest = openStore(file());
  ASSERT_TRUE(journal.ok() && harvest.ok());
  ASSERT_TRUE(harvest.value()->commitWithoutWaitingForTheDisk().ok());
  EXPECT_EQ(sqlValue(*harvest.value(), "PRAGMA synchronous"), "1") << "NORMAL";
  EXPECT_EQ(sqlValue(*journal.value(), "PRAGMA synchronous"), "2") << "FULL";
}

TEST_F(StoreTest, KeepsWhatWasCommittedAcrossReopening) {
  {
    auto db = openStore(file());
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db.value()->execute("CREATE TABLE t (v TEXT)").ok());
    auto insert = db.value()->prepare("INSERT INTO t VALUES (?)");
    ASSERT_TRUE(insert.ok());
    ASSERT_TRUE(insert->bind(1, "kept \xC2\xA7").run().ok());
  }
  auto again = openStore(file());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(sqlValue(*again.value(), "SELECT v FROM t"), "kept \xC2\xA7");
}

TEST_F(StoreTest, ATransactionThatFailsLeavesNothingBehind) {
  auto db = openStore(file());
  ASSERT_TRUE(db.ok());
  Database& d = *db.value();
  ASSERT_TRUE(d.execute("CREATE TABLE t (v INTEGER UNIQUE)").ok());
  auto failed = d.transaction([&]() -> Result<void, StoreError> {
    if (auto r = d.execute("INSERT INTO t VALUES (1)"); !r) return r.error();
    return d.execute("INSERT INTO t VALUES (1)");  // UNIQUE
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, StoreErrc::kConstraint);
  EXPECT_EQ(sqlValue(d, "SELECT count(*) FROM t"), "0");
  ASSERT_TRUE(d.transaction([&] { return d.execute("INSERT INTO t VALUES (2)"); }).ok());
  EXPECT_EQ(sqlValue(d, "SELECT count(*) FROM t"), "1");
}

TEST_F(StoreTest, RefusesAFileFromANewerReleaseAndOneThatIsNoDatabase) {
  {
    auto db = openStore(file());
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db.value()->execute("PRAGMA user_version = 999").ok());
  }
  auto newer = openStore(file());
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.error().code, StoreErrc::kVersion);
  EXPECT_NE(newer.error().message.find("newer"), std::string::npos);

  fs::path junk = dir_ / "junk.db";
  std::ofstream(junk) << std::string(4096, 'x');
  auto corrupt = openStore(junk);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().code, StoreErrc::kCorrupt) << corrupt.error().message;
}

// Writers of one file in this process take turns without polling SQLite's lock, and a
// background writer (a harvest's housekeeping) lets every waiting foreground one (the journal)
// go first.
TEST_F(StoreTest, AWaitingForegroundWriterGoesBeforeABackgroundOne) {
  auto a = openStore(file()).value(), b = openStore(file()).value(), c = openStore(file()).value();
  ASSERT_TRUE(a->execute("CREATE TABLE turns (who TEXT)").ok());
  std::mutex m;
  std::condition_variable cv;
  bool holding = false, release = false;
  std::thread first([&] {
    auto r = a->transaction([&]() -> Result<void, StoreError> {
      std::unique_lock lock(m);
      holding = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
      return a->execute("INSERT INTO turns VALUES ('first')");
    });
    EXPECT_TRUE(r.ok());
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return holding; });
  }
  std::thread background([&] {
    EXPECT_TRUE(
        b->transaction([&] { return b->execute("INSERT INTO turns VALUES ('background')"); },
                       Database::Priority::kBackground)
            .ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the background one waits
  std::thread foreground([&] {
    EXPECT_TRUE(
        c->transaction([&] { return c->execute("INSERT INTO turns VALUES ('foreground')"); }).ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // so does the foreground one
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  first.join();
  foreground.join();
  background.join();
  auto q = a->prepare("SELECT group_concat(who, ' ') FROM (SELECT who FROM turns ORDER BY rowid)");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->step().value());
  EXPECT_EQ(q->text(0), "first foreground background");
}

// SQLite's own checkpoints are replaced by the store's (a harvest's checkpoint must not run in
// the commit that a journal write waits for): whoever writes, in a transaction of either
// priority or outside one, the write-ahead log is still copied back and stays bounded.
TEST_F(StoreTest, TheWriteAheadLogIsCheckpointedWhoeverWrites) {
  auto db = openStore(file()).value();
  ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
  const std::uintmax_t page = std::stoull(sqlValue(*db, "PRAGMA page_size"));
  const fs::path wal = file().string() + "-wal";
  auto fill = [&](const std::function<Result<void, StoreError>()>& write) {
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(write().ok());
  };
  // About 100 pages a write, 6,000 a round: without checkpoints the log would hold them all.
  const std::string write =
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
      "INSERT INTO filler SELECT randomblob(3000) FROM n";
  fill([&] {
    return db->transaction([&] { return db->execute(write); }, Database::Priority::kBackground);
  });
  EXPECT_LT(fs::file_size(wal), 1'500 * page) << "background transactions";
  fill([&] { return db->transaction([&] { return db->execute(write); }); });
  EXPECT_LT(fs::file_size(wal), 4'500 * page) << "foreground transactions";
  fill([&] { return db->execute(write); });
  EXPECT_LT(fs::file_size(wal), 4'500 * page) << "writes outside a transaction";
  EXPECT_EQ(sqlValue(*db, "SELECT count(*) FROM filler"), "18000");
}

// A file of larger pages (the inventory's) keeps a log of the same size in bytes, not four
// times as large: the marks are bytes of pages. A file that exists keeps the pages it has.
TEST_F(StoreTest, AFileOfLargerPagesIsCheckpointedAtTheSameLogSize) {
  const fs::path wal = file().string() + "-wal";
  {
    auto db = Database::open(file(), Database::Pacing::kNone, 16 * 1024).value();
    ASSERT_EQ(sqlValue(*db, "PRAGMA page_size"), "16384");
    ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
    // 300 KB a write, 18 MB in all: in pages of 16 KiB, a mark of 1,000 pages would let the log
    // grow to 16 MB.
    for (int i = 0; i < 60; ++i) {
      ASSERT_TRUE(db->transaction(
                        [&] {
                          return db->execute(
                              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                              "WHERE i < 100) INSERT INTO filler SELECT randomblob(3000) FROM n");
                        },
                        Database::Priority::kBackground)
                      .ok());
    }
    EXPECT_LT(fs::file_size(wal), 1'500u * 4096) << "background transactions";
    EXPECT_EQ(sqlValue(*db, "SELECT count(*) FROM filler"), "6000");
  }
  auto again = Database::open(file(), Database::Pacing::kNone, 4096).value();
  EXPECT_EQ(sqlValue(*again, "PRAGMA page_size"), "16384") << "the file keeps its pages";
  EXPECT_EQ(sqlValue(*again, "SELECT count(*) FROM filler"), "6000");
}

// A journal write (a 202 waits for it) leaves to the harvest the copying back of what the
// harvest wrote: below the higher mark a foreground transaction does not checkpoint, and the next
// background one does. (In WAL mode only a checkpoint writes the database file.)
TEST_F(StoreTest, AForegroundTransactionLeavesTheCheckpointToTheBackgroundBelowTheHigherMark) {
  auto db = openStore(file()).value();
  ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
  const std::uintmax_t page = std::stoull(sqlValue(*db, "PRAGMA page_size"));
  // 1,500 pages in the log, between the two marks: a write outside a transaction leaves them.
  ASSERT_TRUE(db->execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE "
                          "i < 1500) INSERT INTO filler SELECT randomblob(3000) FROM n")
                  .ok());
  const auto before = fs::file_size(file());
  auto one_row = [&] { return db->execute("INSERT INTO filler VALUES (x'00')"); };

  ASSERT_TRUE(db->transaction(one_row).ok());
  EXPECT_EQ(fs::file_size(file()), before) << "the foreground transaction checkpointed";
  ASSERT_TRUE(db->transaction(one_row, Database::Priority::kBackground).ok());
  EXPECT_GT(fs::file_size(file()), before + 1'000 * page) << "the background one did not";
}

// A harvest that closes its staging file before its log is copied back: a transaction that
// leaves the checkpoint (AfterCommit::kLeaveTheLog) commits without it, and checkpointIfLong()
// copies the log back after, past the same mark.
TEST_F(StoreTest, ATransactionMayLeaveItsCheckpointForLater) {
  auto db = openStore(file()).value();
  ASSERT_TRUE(db->execute("CREATE TABLE filler (bytes BLOB)").ok());
  const std::uintmax_t page = std::stoull(sqlValue(*db, "PRAGMA page_size"));
  const auto before = fs::file_size(file());
  // 1,500 pages, past the background mark.
  ASSERT_TRUE(db->transaction(
                    [&] {
                      return db->execute(
                          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE "
                          "i < 1500) INSERT INTO filler SELECT randomblob(3000) FROM n");
                    },
                    Database::Priority::kBackground, Database::AfterCommit::kLeaveTheLog)
                  .ok());
  EXPECT_EQ(fs::file_size(file()), before) << "the transaction checkpointed after all";
  db->checkpointIfLong(Database::Priority::kBackground);
  EXPECT_GT(fs::file_size(file()), before + 1'000 * page) << "the log was not copied back";
  EXPECT_EQ(sqlValue(*db, "SELECT count(*) FROM filler"), "1500");
}

// A harvest looks a lot's mailboxes up in one read transaction: what it reads there is one state
// of the store, writers of other connections go on meanwhile, and a write inside is refused.
TEST_F(StoreTest, AReadTransactionSeesOneStateWhileOthersWriteAndWritesNothing) {
  auto db = openStore(file()).value();
  ASSERT_TRUE(db->execute("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('a')").ok());
  auto other = Database::open(file()).value();

  std::vector<std::string> counts;
  auto read = db->read([&]() -> Result<void, StoreError> {
    counts.push_back(sqlValue(*db, "SELECT count(*) FROM t"));
    if (auto x = other->execute("INSERT INTO t VALUES ('b')"); !x) return x;
    counts.push_back(sqlValue(*db, "SELECT count(*) FROM t"));
    return {};
  });
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(counts, (std::vector<std::string>{"1", "1"}))
      << "the other connection's write, committed meanwhile, is not seen inside";
  EXPECT_EQ(sqlValue(*db, "SELECT count(*) FROM t"), "2") << "and is seen after";

  auto wrote = db->read([&] { return db->execute("INSERT INTO t VALUES ('c')"); });
  ASSERT_FALSE(wrote.ok());
  EXPECT_EQ(wrote.error().code, StoreErrc::kSql);
  EXPECT_NE(wrote.error().message.find("write inside a read"), std::string::npos)
      << wrote.error().message;
  EXPECT_EQ(sqlValue(*other, "SELECT count(*) FROM t"), "2") << "the write was rolled back";

  auto failed = db->read([]() -> Result<void, StoreError> {
    return StoreError{StoreErrc::kBusy, "the body's own failure"};
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "the body's own failure");
  EXPECT_TRUE(db->transaction([&] { return db->execute("INSERT INTO t VALUES ('d')"); }).ok())
      << "no transaction is left open behind a read";
}

}  // namespace
}  // namespace easgate::agent::store
