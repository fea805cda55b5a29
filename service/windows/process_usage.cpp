// processUsage() on Windows: process times, working set and handle count.
#include <windows.h>
// After windows.h:
#include <psapi.h>

#include "service/runtime_metrics.h"

namespace easgate::service {

ProcessUsage processUsage() {
  ProcessUsage usage;
  HANDLE self = ::GetCurrentProcess();
  FILETIME created, exited, kernel, user;
  if (::GetProcessTimes(self, &created, &exited, &kernel, &user)) {
    auto ticks = [](const FILETIME& t) {
      return (static_cast<std::uint64_t>(t.dwHighDateTime) << 32) | t.dwLowDateTime;
    };
    usage.cpu_seconds = static_cast<double>(ticks(kernel) + ticks(user)) / 1e7;  // 100 ns units
  }
  PROCESS_MEMORY_COUNTERS memory{};
  if (::K32GetProcessMemoryInfo(self, &memory, sizeof memory)) {
    usage.resident_bytes = memory.WorkingSetSize;
  }
  DWORD handles = 0;
  if (::GetProcessHandleCount(self, &handles)) usage.open_files = handles;
  return usage;
}

}  // namespace easgate::service
