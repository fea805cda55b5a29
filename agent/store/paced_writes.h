#pragma once

#include <cstdint>

// Writes metered to a rate, for the connections whose bulk can wait: a first harvest ends by
// building the inventory's indexes and copying its write-ahead log back into its file, some
// 850 MiB for 200,000 partnerships, which the disk then took in under two seconds while every
// journal write (a 202 waits for its fsync) queued behind them (tests/bench/README.md).
//
// A connection opened through pacedVfs() (Database::Pacing::kPaced) writes its write-ahead log,
// and its database file, each at no more than a rate of the process's, one budget for all such
// connections' logs and one for their files: a write beyond it sleeps, in the writing thread,
// until the budget has caught up (a budget holds a tenth of a second's worth: a short write after
// a pause goes at once). In WAL mode only a checkpoint writes the database file, copying back
// what the log holds; it goes slower than the log, since nothing waits for it but the harvest's
// own end: at 128 MiB/s the copy back of a first harvest (some 450 MiB at 200,000 partnerships)
// left 9-24 of the journal's commits a second past 5 ms, at 48 MiB/s 0-2 (tests/bench/README.md).
// The logs' budget is 64 MiB/s: a first harvest writes its log at 41-64 MiB/s on average, so
// only its bursts wait (the end of its transaction: the indexes built and the frame headers its
// commit rewrites, below); at 128 MiB/s the commands sent meanwhile had a p99 1-3 ms higher.
// Reads, syncs and locks are not metered. The VFS wraps the platform's default one and changes
// nothing else. The inventory's connections are paced (only the harvester writes there, and no
// write of the journal waits for its lock); the store's never are.
namespace easgate::agent::store {

// What paced connections may write per second, together, to their logs and to their files,
// unless set otherwise.
inline constexpr std::uint64_t kPacedWriteBytesPerSecond = std::uint64_t{64} << 20;
inline constexpr std::uint64_t kPacedCopyBackBytesPerSecond = std::uint64_t{48} << 20;

// The name to open a paced connection with (sqlite3_open_v2's zVfs), registered on first use;
// nullptr (SQLite's default VFS, unpaced) if SQLite refused it.
const char* pacedVfs();

// The process's budgets, bytes per second (tests and benchmarks set them to see them at work):
// the logs' and the files' (what checkpoints copy back).
void setPacedWriteRate(std::uint64_t bytes_per_second);
std::uint64_t pacedWriteRate();
void setPacedCopyBackRate(std::uint64_t bytes_per_second);
std::uint64_t pacedCopyBackRate();

// Bytes paced connections have written, what the budgets counted them as, and how long their
// writes slept for the budgets, since the process began (both budgets together). A write counts
// as what it holds, or as a whole page of the operating system's cache (4 KiB) when it does not
// go on from where the file's last write ended: the disk is sent whole pages, and a commit that
// rewrites its log's frame headers (24 bytes, one every frame) dirties a page with each.
struct PacedWriteTotals {
  std::uint64_t bytes = 0;
  std::uint64_t cost = 0;
  double slept_s = 0;
};
PacedWriteTotals pacedWriteTotals();

}  // namespace easgate::agent::store
