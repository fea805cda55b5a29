// Write-behind: the writes of a connection that commits without waiting for the disk are sent to
// the disk while it works, not left for the next sync to send all at once (store/write_behind.h).
#include "agent/store/write_behind.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/store/database.h"
#include "agent/store/paced_writes.h"
#include "tests/support/scratch.h"

#if defined(__linux__)
#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace easgate::agent::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Counts what a WriteBehind pushes, by file. It can hold the write-behind's thread inside a push,
// so that a test knows where that thread is rather than guessing from the time.
class Pushes {
 public:
  WriteBehind::Push push() {
    return [this](const fs::path& file) {
      std::unique_lock lock(mutex_);
      ++pushes_[file];
      if (!holding_) return;
      inside_ = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !holding_; });
      inside_ = false;
    };
  }
  // From now on, the next push stops inside until release(). Waits (up to 30 s) for it to begin.
  bool holdTheNextPush() {
    std::unique_lock lock(mutex_);
    holding_ = true;
    return changed_.wait_for(lock, 30s, [&] { return inside_; });
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      holding_ = false;
    }
    changed_.notify_all();
  }
  std::map<fs::path, int> now() {
    std::lock_guard lock(mutex_);
    return pushes_;
  }
  // Waits (up to 30 s) until each of `files` was pushed at least `times` in all.
  bool reach(const std::vector<fs::path>& files, int times) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto seen = now();
      if (std::all_of(files.begin(), files.end(), [&](const fs::path& f) {
            auto it = seen.find(f);
            return it != seen.end() && it->second >= times;
          })) {
        return true;
      }
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<fs::path, int> pushes_;
  bool holding_ = false;
  bool inside_ = false;
};

TEST(WriteBehind, PushesEachFileEveryPeriodWhileWritingAndStopsWhenDestroyed) {
  Pushes pushes;
  {
    WriteBehind behind({"a.db", "a.db-wal"}, 1ms, pushes.push());
    WriteBehind::Writing writing(behind);
    EXPECT_TRUE(pushes.reach({"a.db", "a.db-wal"}, 3)) << "pushed again and again while writing";
  }
  const auto after = pushes.now();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(pushes.now(), after) << "nothing is pushed once it is destroyed";
  EXPECT_EQ(after.size(), 2u) << "only the files it was given";
}

TEST(WriteBehind, AnIdleOneSleepsAndWhatWasWrittenLastIsPushedOnceAfter) {
  // An agent between harvests keeps its harvest connection, and with it the write-behind: it
  // must not wake every period for nothing.
  Pushes pushes;
  WriteBehind behind({"a.db"}, 1ms, pushes.push());
  std::this_thread::sleep_for(50ms);  // fifty periods
  EXPECT_TRUE(pushes.now().empty()) << "pushed with nothing written";

  // A commit outside a transaction: pushed once, a period later, then quiet again.
  behind.wrote();
  ASSERT_TRUE(pushes.reach({"a.db"}, 1));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(pushes.now()["a.db"], 1) << "pushed again with nothing more written";

  // A transaction: what it wrote last is pushed after it ends, then quiet again. The transaction
  // ends while a push it began is still under way (held there): that push may have missed its
  // last writes, so exactly one more follows it.
  {
    WriteBehind::Writing writing(behind);
    ASSERT_TRUE(pushes.reach({"a.db"}, 3));
    ASSERT_TRUE(pushes.holdTheNextPush());
  }
  const int under_way = pushes.now()["a.db"];
  pushes.release();
  ASSERT_TRUE(pushes.reach({"a.db"}, under_way + 1)) << "its last writes were not pushed";
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(pushes.now()["a.db"], under_way + 1) << "still pushing after the transaction";
}

TEST(WriteBehind, ADestroyedOneDoesNotWaitForItsNextRound) {
  // Were the destructor to wait out its period, this test would not end within ctest's timeout.
  WriteBehind behind({"a.db"}, std::chrono::hours(1), [](const fs::path&) {});
}

#if defined(__linux__)

// What the page cache holds of a file (Linux 6.5's cachestat; glibc does not declare it yet).
struct CacheStat {
  std::uint64_t cached = 0, dirty = 0, writeback = 0, evicted = 0, recently_evicted = 0;
};
std::optional<CacheStat> cacheStat(int fd) {
#if defined(SYS_cachestat)
  const long call = SYS_cachestat;
#elif defined(__x86_64__) || defined(__aarch64__)
  const long call = 451;
#else
  return std::nullopt;
#endif
  struct {
    std::uint64_t offset, length;
  } range{0, 0};  // the whole file
  CacheStat stat;
  if (::syscall(call, fd, &range, &stat, 0) != 0) return std::nullopt;
  return stat;
}
std::optional<CacheStat> cacheStat(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  auto stat = cacheStat(fd);
  ::close(fd);
  return stat;
}

class WriteBehindOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = easgate::testing::scratchPath("write-behind");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Whether dirty pages can be seen here: tmpfs keeps every page dirty, and a kernel before
    // 6.5 has no cachestat.
    struct statfs fs_info {};
    if (::statfs(dir_.c_str(), &fs_info) == 0 && fs_info.f_type == 0x01021994) {
      GTEST_SKIP() << "SKIPPED: " << dir_ << " is on tmpfs, which is never written to a disk";
    }
    const auto probe = dir_ / "probe";
    {
      std::ofstream out(probe, std::ios::binary);
      out << std::string(1 << 20, 'x');
    }
    auto stat = cacheStat(probe);
    if (!stat) GTEST_SKIP() << "SKIPPED: this kernel has no cachestat (Linux 6.5 or later)";
    if (stat->dirty == 0) {
      GTEST_SKIP() << "SKIPPED: a file just written shows no dirty pages in " << dir_;
    }
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(dir_);
  }

  // The inventory's file with a table `t`, made before the connection stops waiting for the
  // disk: only what a test writes after is left for the write-behind.
  void openNotWaiting(Database::Pacing pacing = Database::Pacing::kNone) {
    file_ = dir_ / "easgate-inventory.db";
    auto db = Database::open(file_, pacing);
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->execute("CREATE TABLE t (v BLOB)").ok());
    ASSERT_TRUE(db_->commitWithoutWaitingForTheDisk().ok());
  }

  fs::path dir_;
  fs::path file_;
  std::unique_ptr<Database> db_;
};

std::uint64_t dirtyPages(const fs::path& file) {
  auto stat = cacheStat(file);
  return stat ? stat->dirty : 0;
}

// Waits up to 10 s for `file` and its log to have no dirty page left. Without the write-behind,
// Linux keeps such pages in memory for up to 30 s (dirty_expire_centisecs), or until a sync
// sends them; with it they are on their way within a round or two.
void expectOnDiskSoon(const fs::path& file) {
  auto wal = file;
  wal += "-wal";
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && dirtyPages(file) + dirtyPages(wal) > 0) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(dirtyPages(file) + dirtyPages(wal), 0u) << "still only in memory after 10 s";
}

// 2 MiB, under the log's size that brings a checkpoint (whose sync would send it anyway).
constexpr const char* kTwoMiB = "INSERT INTO t VALUES (zeroblob(2097152))";

TEST_F(WriteBehindOnDisk, ATransactionThatDidNotWaitForTheDiskReachesItSoonAfter) {
  ASSERT_NO_FATAL_FAILURE(openNotWaiting());
  auto wrote = db_->transaction([&]() -> Result<void, StoreError> {
    auto insert = db_->prepare(kTwoMiB);
    if (!insert) return insert.error();
    return insert->run();
  });
  ASSERT_TRUE(wrote.ok()) << wrote.error().message;
  expectOnDiskSoon(file_);
}

TEST_F(WriteBehindOnDisk, AWriteOutsideATransactionReachesItSoonAfterToo) {
  ASSERT_NO_FATAL_FAILURE(openNotWaiting());
  ASSERT_TRUE(db_->execute(kTwoMiB).ok());
  expectOnDiskSoon(file_);
}

// A checkpoint copies the log into the database file and syncs the file at its end: that sync
// must find the copy already on its way, not send it all at once (the journal's sync of its
// own few pages would queue behind it). The checkpoint is paced here, so that it lasts long
// enough to be watched.
TEST_F(WriteBehindOnDisk, ACheckpointsCopyReachesTheDiskAsItGoesNotAllAtItsSync) {
  ASSERT_NO_FATAL_FAILURE(openNotWaiting(Database::Pacing::kPaced));
  const auto rate = pacedCopyBackRate();
  setPacedCopyBackRate(std::uint64_t{16} << 20);  // what the checkpoint writes
  struct Restore {
    std::uint64_t rate;
    ~Restore() { setPacedCopyBackRate(rate); }
  } restore{rate};

  // Watched through one descriptor, opened once: closing one while the connection is open would
  // drop this process's locks on the file.
  const int fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::atomic<bool> done = false;
  std::atomic<std::uint64_t> most_dirty = 0;
  std::thread watch([&] {
    while (!done) {
      if (auto stat = cacheStat(fd)) most_dirty = std::max<std::uint64_t>(most_dirty, stat->dirty);
      std::this_thread::sleep_for(1ms);
    }
  });
  // 16 MiB in one background transaction: its log is past the checkpoint mark, and the
  // transaction checkpoints after it commits.
  auto wrote = db_->transaction(
      [&]() -> Result<void, StoreError> {
        auto insert = db_->prepare(kTwoMiB);
        if (!insert) return insert.error();
        for (int i = 0; i < 8; ++i) {
          if (auto r = insert->run(); !r) return r;
          insert->reset();
        }
        return {};
      },
      Database::Priority::kBackground);
  done = true;
  watch.join();
  ::close(fd);
  ASSERT_TRUE(wrote.ok()) << wrote.error().message;
  // The file's size, not what the page cache holds of it: a machine that pages out memory
  // nobody touched for a second (DAMON's pageout, as on this project's CI VMs) may already have
  // dropped the first pages the checkpoint wrote.
  ASSERT_GE(fs::file_size(file_), std::uintmax_t{16} << 20)
      << "the checkpoint did not copy the log into the file";
  EXPECT_LT(most_dirty.load(), 2048u)  // 8 MiB of 4 KiB pages: half of what was copied
      << "the checkpoint's copy waited in memory for its sync";
}

#endif

}  // namespace
}  // namespace easgate::agent::store
