#pragma once

// What every benchmark prints with its figures: the machine they came from, and timing and
// memory helpers. What differs between platforms is in posix/ and windows/ (resources.cpp).
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace easgate::bench {

using Clock = std::chrono::steady_clock;

inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The processor's name, as the system reports it ("unknown CPU" when it does not).
std::string cpuModel();

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

// This process's peak resident set (peak working set on Windows) so far, in MB.
double peakRssMb();

// The CPU time this process has used so far, user and system, in seconds (its own, not its
// children's).
double cpuSeconds();

// Raises this process's limit of open files (sockets included) as far as it may go, and returns
// it: on POSIX the hard RLIMIT_NOFILE; Windows has no such small limit.
std::size_t raiseOpenFileLimit();

// A program run to its end: its exit code (-1 if it did not exit normally), its wall time and
// its peak resident set (0 where the system does not report it: Wine).
struct ChildRun {
  int exit_code = -1;
  double wall_seconds = 0;
  double peak_rss_mb = 0;
};
ChildRun runChild(const std::string& program, const std::vector<std::string>& arguments);

}  // namespace easgate::bench
