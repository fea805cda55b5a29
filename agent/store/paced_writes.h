#pragma once

#include <cstdint>

// Writes metered to a rate, for the connections whose bulk can wait: a first harvest ends by
// building the inventory's indexes and copying its write-ahead log back into its file, some
// 850 MiB for 200,000 partnerships, which the disk then took in under two seconds while every
// journal write (a 202 waits for its fsync) queued behind them (tests/bench/README.md).
//
// A connection opened through pacedVfs() (Database::Pacing::kPaced) writes its database file and
// its write-ahead log at no more than the process's rate, one budget for all such connections:
// a write beyond it sleeps, in the writing thread, until the budget has caught up (the budget
// holds a tenth of a second's worth: a short write after a pause goes at once). Reads, syncs and
// locks are not metered. The VFS wraps the platform's default one and changes nothing else.
// The inventory's connections are paced (only the harvester writes there, and no write of the
// journal waits for its lock); the store's never are.
namespace easgate::agent::store {

// What paced connections may write per second, together, unless set otherwise.
inline constexpr std::uint64_t kPacedWriteBytesPerSecond = std::uint64_t{128} << 20;

// The name to open a paced connection with (sqlite3_open_v2's zVfs), registered on first use;
// nullptr (SQLite's default VFS, unpaced) if SQLite refused it.
const char* pacedVfs();

// The process's budget, bytes per second (tests and benchmarks set it to see it at work).
void setPacedWriteRate(std::uint64_t bytes_per_second);
std::uint64_t pacedWriteRate();

// Bytes paced connections have written, and how long their writes slept for the budget, since
// the process began.
struct PacedWriteTotals {
  std::uint64_t bytes = 0;
  double slept_s = 0;
};
PacedWriteTotals pacedWriteTotals();

}  // namespace easgate::agent::store
