#include "agent/store/paced_writes.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

namespace easgate::agent::store {

namespace {

using Clock = std::chrono::steady_clock;

// A budget of bytes that fills at `rate` a second and holds at most kBurst seconds of it: a
// write takes its bytes from it, and waits for them when it is short.
class Meter {
 public:
  explicit Meter(std::uint64_t bytes_per_second)
      : rate_(std::max<std::uint64_t>(bytes_per_second, 1)) {}
  // `bytes` written, counted as `cost` (at least as many) against the budget.
  void take(std::uint64_t bytes, std::uint64_t cost) {
    Clock::time_point until{};
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      // Time unused is not saved up: after a minute idle a connection may write a burst's worth
      // at once, not a minute's.
      due_ = std::max(due_, now);
      due_ += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(static_cast<double>(cost) / static_cast<double>(rate_)));
      total_bytes_ += bytes;
      total_cost_ += cost;
      // More than a burst ahead of the clock: wait until half a burst is left, so that waits are
      // few and long. A wait per page (60 us at 64 MiB/s) would last a timer's slack, several
      // times longer, and the rate would be a fraction of the budget's.
      if (due_ - now > kBurst) until = due_ - kBurst / 2;
    }
    if (until == Clock::time_point{}) return;
    const auto start = Clock::now();
    std::this_thread::sleep_until(until);
    const auto waited = Clock::now() - start;
    std::lock_guard lock(mutex_);
    slept_ += waited;
  }
  void setRate(std::uint64_t bytes_per_second) {
    std::lock_guard lock(mutex_);
    rate_ = std::max<std::uint64_t>(bytes_per_second, 1);
  }
  std::uint64_t rate() {
    std::lock_guard lock(mutex_);
    return rate_;
  }
  PacedWriteTotals totals() {
    std::lock_guard lock(mutex_);
    return {total_bytes_, total_cost_, std::chrono::duration<double>(slept_).count()};
  }

 private:
  static constexpr Clock::duration kBurst = std::chrono::milliseconds(100);
  std::mutex mutex_;
  std::uint64_t rate_;
  Clock::time_point due_{};  // when the budget has paid for every write so far
  std::uint64_t total_bytes_ = 0;
  std::uint64_t total_cost_ = 0;
  Clock::duration slept_{};
};

// The two budgets: what goes into the write-ahead logs, and what checkpoints copy back into the
// database files (in WAL mode nothing else writes a database file).
Meter& logMeter() {
  static Meter instance(kPacedWriteBytesPerSecond);
  return instance;
}
Meter& copyBackMeter() {
  static Meter instance(kPacedCopyBackBytesPerSecond);
  return instance;
}

// A file of the paced VFS: the real file (of the default VFS) follows it in the same allocation,
// which SQLite sizes from szOsFile.
struct PacedFile {
  sqlite3_file base;
  sqlite3_file* real;
  Meter* meter;  // the database file's budget or its write-ahead log's; nullptr: neither
  sqlite3_int64 written_to;  // where the file's last write ended; -1 before the first
};

// The operating system's page cache holds a file in pages of 4 KiB (Linux on x86-64 and arm64,
// Windows' cache manager), and the disk is sent whole pages.
constexpr std::uint64_t kCachePageBytes = 4096;

// What a write costs the budget: its bytes, or a whole page of the cache when it does not go on
// from the file's last write. The disk is sent the pages a write dirtied, not the bytes: a log
// written from end to end costs what it holds, but a commit of a transaction larger than the
// page cache, which had written a page of the log again in place, rewrites the header (24 bytes)
// of every frame after it; a first harvest's commit so sent some 27,000 pages of 4 KiB, over
// 100 MiB, in a third of a second, counted as 650 KiB (tests/bench/README.md).
std::uint64_t cost(const PacedFile& file, int amount, sqlite3_int64 offset) {
  const auto bytes = static_cast<std::uint64_t>(amount);
  return offset == file.written_to ? bytes : std::max(bytes, kCachePageBytes);
}

sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<PacedFile*>(f)->real; }

int pacedClose(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
int pacedRead(sqlite3_file* f, void* buffer, int amount, sqlite3_int64 offset) {
  return real(f)->pMethods->xRead(real(f), buffer, amount, offset);
}
int pacedWrite(sqlite3_file* f, const void* buffer, int amount, sqlite3_int64 offset) {
  auto* paced = reinterpret_cast<PacedFile*>(f);
  if (paced->meter && amount > 0) {
    paced->meter->take(static_cast<std::uint64_t>(amount), cost(*paced, amount, offset));
  }
  paced->written_to = offset + amount;
  return real(f)->pMethods->xWrite(real(f), buffer, amount, offset);
}
int pacedTruncate(sqlite3_file* f, sqlite3_int64 size) {
  return real(f)->pMethods->xTruncate(real(f), size);
}
int pacedSync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
int pacedFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int pacedLock(sqlite3_file* f, int lock) { return real(f)->pMethods->xLock(real(f), lock); }
int pacedUnlock(sqlite3_file* f, int lock) { return real(f)->pMethods->xUnlock(real(f), lock); }
int pacedCheckReservedLock(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int pacedFileControl(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int pacedSectorSize(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int pacedDeviceCharacteristics(sqlite3_file* f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int pacedShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
int pacedShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void pacedShmBarrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int pacedShmUnmap(sqlite3_file* f, int delete_flag) {
  return real(f)->pMethods->xShmUnmap(real(f), delete_flag);
}
int pacedFetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return real(f)->pMethods->xFetch(real(f), offset, amount, out);
}
int pacedUnfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  return real(f)->pMethods->xUnfetch(real(f), offset, page);
}

// The methods of a paced file, as many as its real file has (SQLite reads a version's members
// only): versions 1, 2 (shared memory, for WAL) and 3 (memory-mapped reads).
constexpr sqlite3_io_methods methods(int version) {
  return {version,
          pacedClose,
          pacedRead,
          pacedWrite,
          pacedTruncate,
          pacedSync,
          pacedFileSize,
          pacedLock,
          pacedUnlock,
          pacedCheckReservedLock,
          pacedFileControl,
          pacedSectorSize,
          pacedDeviceCharacteristics,
          version >= 2 ? pacedShmMap : nullptr,
          version >= 2 ? pacedShmLock : nullptr,
          version >= 2 ? pacedShmBarrier : nullptr,
          version >= 2 ? pacedShmUnmap : nullptr,
          version >= 3 ? pacedFetch : nullptr,
          version >= 3 ? pacedUnfetch : nullptr};
}
constexpr sqlite3_io_methods kMethods[] = {methods(1), methods(2), methods(3)};

sqlite3_vfs* root(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int pacedOpen(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags,
              int* out_flags) {
  auto* paced = reinterpret_cast<PacedFile*>(file);
  paced->real = reinterpret_cast<sqlite3_file*>(paced + 1);
  paced->written_to = -1;
  paced->meter = (flags & SQLITE_OPEN_MAIN_DB) ? &copyBackMeter()
                 : (flags & SQLITE_OPEN_WAL)   ? &logMeter()
                                               : nullptr;
  const int rc = root(vfs)->xOpen(root(vfs), name, paced->real, flags, out_flags);
  // SQLite closes a file whose methods are set, even when opening failed: as the real one.
  const sqlite3_io_methods* inner = paced->real->pMethods;
  paced->base.pMethods = inner ? &kMethods[std::clamp(inner->iVersion, 1, 3) - 1] : nullptr;
  return rc;
}

// Everything but opening a file is the default VFS's, called with itself.
int pacedDelete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return root(vfs)->xDelete(root(vfs), name, sync_dir);
}
int pacedAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return root(vfs)->xAccess(root(vfs), name, flags, out);
}
int pacedFullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return root(vfs)->xFullPathname(root(vfs), name, size, out);
}
void* pacedDlOpen(sqlite3_vfs* vfs, const char* name) {
  return root(vfs)->xDlOpen(root(vfs), name);
}
void pacedDlError(sqlite3_vfs* vfs, int size, char* out) {
  root(vfs)->xDlError(root(vfs), size, out);
}
void (*pacedDlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return root(vfs)->xDlSym(root(vfs), handle, symbol);
}
void pacedDlClose(sqlite3_vfs* vfs, void* handle) { root(vfs)->xDlClose(root(vfs), handle); }
int pacedRandomness(sqlite3_vfs* vfs, int size, char* out) {
  return root(vfs)->xRandomness(root(vfs), size, out);
}
int pacedSleep(sqlite3_vfs* vfs, int microseconds) {
  return root(vfs)->xSleep(root(vfs), microseconds);
}
int pacedCurrentTime(sqlite3_vfs* vfs, double* out) {
  return root(vfs)->xCurrentTime(root(vfs), out);
}
int pacedGetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return root(vfs)->xGetLastError ? root(vfs)->xGetLastError(root(vfs), size, out) : 0;
}
int pacedCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  if (root(vfs)->iVersion >= 2 && root(vfs)->xCurrentTimeInt64) {
    return root(vfs)->xCurrentTimeInt64(root(vfs), out);
  }
  double days = 0;
  const int rc = root(vfs)->xCurrentTime(root(vfs), &days);
  *out = static_cast<sqlite3_int64>(days * 86'400'000.0);
  return rc;
}

constexpr const char* kName = "easgate-paced";

}  // namespace

const char* pacedVfs() {
  static sqlite3_vfs vfs{};
  static const bool registered = [] {
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    if (base == nullptr) return false;
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(sizeof(PacedFile)) + base->szOsFile;
    vfs.mxPathname = base->mxPathname;
    vfs.zName = kName;
    vfs.pAppData = base;
    vfs.xOpen = pacedOpen;
    vfs.xDelete = pacedDelete;
    vfs.xAccess = pacedAccess;
    vfs.xFullPathname = pacedFullPathname;
    vfs.xDlOpen = pacedDlOpen;
    vfs.xDlError = pacedDlError;
    vfs.xDlSym = pacedDlSym;
    vfs.xDlClose = pacedDlClose;
    vfs.xRandomness = pacedRandomness;
    vfs.xSleep = pacedSleep;
    vfs.xCurrentTime = pacedCurrentTime;
    vfs.xGetLastError = pacedGetLastError;
    vfs.xCurrentTimeInt64 = pacedCurrentTimeInt64;
    return sqlite3_vfs_register(&vfs, /*makeDflt=*/0) == SQLITE_OK;
  }();
  return registered ? kName : nullptr;
}

void setPacedWriteRate(std::uint64_t bytes_per_second) { logMeter().setRate(bytes_per_second); }
std::uint64_t pacedWriteRate() { return logMeter().rate(); }
void setPacedCopyBackRate(std::uint64_t bytes_per_second) {
  copyBackMeter().setRate(bytes_per_second);
}
std::uint64_t pacedCopyBackRate() { return copyBackMeter().rate(); }
PacedWriteTotals pacedWriteTotals() {
  const PacedWriteTotals log = logMeter().totals();
  const PacedWriteTotals copy_back = copyBackMeter().totals();
  return {log.bytes + copy_back.bytes, log.cost + copy_back.cost, log.slept_s + copy_back.slept_s};
}

}  // namespace easgate::agent::store
