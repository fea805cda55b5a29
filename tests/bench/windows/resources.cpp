#include <windows.h>
// After windows.h:
#include <psapi.h>
#include <tlhelp32.h>

#include <algorithm>

#include "powershell/host/command_line.h"
#include "tests/bench/bench_support.h"

namespace easgate::bench {
namespace {

double peakWorkingSetMb(HANDLE process) {
  PROCESS_MEMORY_COUNTERS counters{};
  counters.cb = sizeof counters;
  if (!GetProcessMemoryInfo(process, &counters, sizeof counters)) return 0;
  return static_cast<double>(counters.PeakWorkingSetSize) / 1e6;
}

double secondsOf(const FILETIME& t) {  // in 100 ns units
  return static_cast<double>((static_cast<unsigned long long>(t.dwHighDateTime) << 32) |
                             t.dwLowDateTime) /
         1e7;
}

}  // namespace

std::string cpuModel() {
  char name[256] = {};
  DWORD size = sizeof name;
  if (RegGetValueA(HKEY_LOCAL_MACHINE, "HARDWARE\\DESCRIPTION\\System\\CentralProcessor\\0",
                   "ProcessorNameString", RRF_RT_REG_SZ, nullptr, name, &size) != ERROR_SUCCESS) {
    return "unknown CPU";
  }
  return name;
}

double peakRssMb() { return peakWorkingSetMb(GetCurrentProcess()); }

bool resetPeakRss() { return false; }  // Windows keeps one peak working set for a process's life

double cpuSeconds() {
  FILETIME created{}, ended{}, kernel{}, user{};
  if (!GetProcessTimes(GetCurrentProcess(), &created, &ended, &kernel, &user)) return 0;
  return secondsOf(kernel) + secondsOf(user);
}

std::optional<double> writtenMiB() {
  IO_COUNTERS counters{};
  if (!GetProcessIoCounters(GetCurrentProcess(), &counters)) return std::nullopt;
  return static_cast<double>(counters.WriteTransferCount) / (1024.0 * 1024.0);
}

namespace {

// Calls `each` with a handle to every running child of this process; false when the system
// does not list them.
template <typename Each>
bool forEachRunningChild(Each each) {
  HANDLE snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snapshot == INVALID_HANDLE_VALUE) return false;
  const DWORD self = GetCurrentProcessId();
  PROCESSENTRY32 entry{};
  entry.dwSize = sizeof entry;
  for (BOOL more = Process32First(snapshot, &entry); more; more = Process32Next(snapshot, &entry)) {
    if (entry.th32ParentProcessID != self) continue;
    HANDLE child = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, FALSE,
                               entry.th32ProcessID);
    if (!child) continue;
    each(child);
    CloseHandle(child);
  }
  CloseHandle(snapshot);
  return true;
}

}  // namespace

std::optional<double> childrenCpuSeconds() {
  double total = 0;
  const bool listed = forEachRunningChild([&](HANDLE child) {
    FILETIME created{}, ended{}, kernel{}, user{};
    if (GetProcessTimes(child, &created, &ended, &kernel, &user)) {
      total += secondsOf(kernel) + secondsOf(user);
    }
  });
  if (!listed) return std::nullopt;
  return total;
}

std::optional<double> childrenPeakRssMb() {
  double largest = 0;
  const bool listed = forEachRunningChild(
      [&](HANDLE child) { largest = std::max(largest, peakWorkingSetMb(child)); });
  if (!listed) return std::nullopt;
  return largest;
}

std::size_t raiseOpenFileLimit() { return 1 << 16; }

ChildRun runChild(const std::string& program, const std::vector<std::string>& arguments) {
  std::string line = powershell::windowsCommandLine(program, arguments);
  STARTUPINFOA startup{};
  startup.cb = sizeof startup;
  PROCESS_INFORMATION process{};
  ChildRun run;
  const auto start = Clock::now();
  if (!CreateProcessA(nullptr, line.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr, &startup,
                      &process)) {
    return run;
  }
  WaitForSingleObject(process.hProcess, INFINITE);
  run.wall_seconds = seconds(Clock::now() - start);
  DWORD code = 0;
  if (GetExitCodeProcess(process.hProcess, &code)) run.exit_code = static_cast<int>(code);
  // The counters of a process that ended stay readable while its handle is open.
  run.peak_rss_mb = peakWorkingSetMb(process.hProcess);
  CloseHandle(process.hThread);
  CloseHandle(process.hProcess);
  return run;
}

}  // namespace easgate::bench
