#pragma once

// What every benchmark prints with its figures: the machine they came from, and timing and
// memory helpers (POSIX; the benchmarks run on the Linux build).
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <string>

namespace easgate::bench {

using Clock = std::chrono::steady_clock;

inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

inline std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// This process's peak resident set so far, in MB.
inline double peakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1e3;
}

}  // namespace easgate::bench
