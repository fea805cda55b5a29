#pragma once

// What every benchmark prints with its figures: the machine they came from, and timing and
// memory helpers (POSIX; the benchmarks run on the Linux build).
#include <sys/resource.h>

#include <chrono>
#include <cstddef>
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

// "--name value" pairs from the command line, each looked up with a default.
class BenchArgs {
 public:
  BenchArgs(int argc, char** argv) : argc_(argc), argv_(argv) {}
  std::string text(const char* name, std::string fallback) const {
    for (int i = 1; i + 1 < argc_; i += 2) {
      if (std::string(argv_[i]) == name) return argv_[i + 1];
    }
    return fallback;
  }
  std::size_t count(const char* name, std::size_t fallback) const {
    return std::stoul(text(name, std::to_string(fallback)));
  }

 private:
  int argc_;
  char** argv_;
};

// This process's peak resident set so far, in MB.
inline double peakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1e3;
}

}  // namespace easgate::bench
