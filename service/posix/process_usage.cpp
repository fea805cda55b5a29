// processUsage() on Linux: /proc and getrusage.
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "service/runtime_metrics.h"

namespace easgate::service {

ProcessUsage processUsage() {
  ProcessUsage usage;
  rusage self{};
  if (::getrusage(RUSAGE_SELF, &self) == 0) {
    usage.cpu_seconds = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                        static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  }
  // statm: size, resident, ... in pages.
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (statm >> size >> resident) {
    usage.resident_bytes = resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  }
  std::error_code ec;
  std::int64_t open = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++open;
  }
  if (!ec) usage.open_files = open - 1;  // less the one the iterator held
  return usage;
}

}  // namespace easgate::service
