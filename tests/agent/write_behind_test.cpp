// Write-behind: the writes of a connection that commits without waiting for the disk are sent to
// the disk while it works, not left for the next sync to send all at once (store/write_behind.h).
#include "agent/store/write_behind.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/store/database.h"
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

TEST(WriteBehind, PushesEachFileEveryPeriodAndStopsWhenDestroyed) {
  std::mutex mutex;
  std::map<fs::path, int> pushes;
  auto pushed = [&] {
    std::lock_guard lock(mutex);
    return pushes;
  };
  {
    WriteBehind behind({"a.db", "a.db-wal"}, 1ms, [&](const fs::path& file) {
      std::lock_guard lock(mutex);
      ++pushes[file];
    });
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline &&
           (pushed()["a.db"] < 3 || pushed()["a.db-wal"] < 3)) {
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_GE(pushed()["a.db"], 3);
    EXPECT_GE(pushed()["a.db-wal"], 3);
  }
  const auto after = pushed();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(pushed(), after) << "nothing is pushed once it is destroyed";
  EXPECT_EQ(after.size(), 2u) << "only the files it was given";
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
std::optional<CacheStat> cacheStat(const fs::path& file) {
#if defined(SYS_cachestat)
  const long call = SYS_cachestat;
#elif defined(__x86_64__) || defined(__aarch64__)
  const long call = 451;
#else
  return std::nullopt;
#endif
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct {
    std::uint64_t offset, length;
  } range{0, 0};  // the whole file
  CacheStat stat;
  const long r = ::syscall(call, fd, &range, &stat, 0);
  ::close(fd);
  if (r != 0) return std::nullopt;
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
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::uint64_t dirtyPages(const fs::path& file) {
  auto stat = cacheStat(file);
  return stat ? stat->dirty : 0;
}

// Without it, Linux keeps such pages in memory for up to 30 s (dirty_expire_centisecs), or
// until a sync sends them; with it they are on their way within a round or two.
TEST_F(WriteBehindOnDisk, ACommitThatDidNotWaitForTheDiskReachesItSoonAfter) {
  const auto file = dir_ / "easgate-inventory.db";
  auto db = Database::open(file);
  ASSERT_TRUE(db.ok()) << db.error().message;
  ASSERT_TRUE(db.value()->commitWithoutWaitingForTheDisk().ok());
  ASSERT_TRUE(db.value()->execute("CREATE TABLE t (v BLOB)").ok());
  auto wrote = db.value()->transaction([&]() -> Result<void, StoreError> {
    auto insert = db.value()->prepare("INSERT INTO t VALUES (zeroblob(65536))");
    if (!insert) return insert.error();
    // 2 MiB: under the log's size that brings a checkpoint, whose sync would send it anyway.
    for (int i = 0; i < 32; ++i) {
      if (auto r = insert->run(); !r) return r;
    }
    return {};
  });
  ASSERT_TRUE(wrote.ok()) << wrote.error().message;
  auto wal = file;
  wal += "-wal";
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && dirtyPages(file) + dirtyPages(wal) > 0) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(dirtyPages(file) + dirtyPages(wal), 0u) << "still only in memory after 10 s";
}

#endif

}  // namespace
}  // namespace easgate::agent::store
