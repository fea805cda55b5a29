#pragma once

// What every benchmark prints with its figures: the machine they came from, and timing and
// memory helpers. What differs between platforms is in posix/ and windows/ (resources.cpp).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace easgate::bench {

using Clock = std::chrono::steady_clock;

inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The processor's name, as the system reports it ("unknown CPU" when it does not).
std::string cpuModel();

// "--name value" pairs from the command line, each looked up with a default. `--help` prints
// the usage and ends the program; an option not in `options`, one without a value, or a count
// that is no number is refused with the usage (exit status 2): a benchmark that ran on defaults
// because of a typo would print figures of something else.
class BenchArgs {
 public:
  BenchArgs(int argc, char** argv, std::string usage, std::initializer_list<const char*> options)
      : argc_(argc), argv_(argv), usage_(std::move(usage)) {
    for (int i = 1; i < argc_; i += 2) {
      const std::string_view name = argv_[i];
      if (name == "--help" || name == "-h") {
        std::printf("%s", usage_.c_str());
        std::exit(0);
      }
      const bool known =
          std::any_of(options.begin(), options.end(), [&](const char* o) { return name == o; });
      if (!known) refuse("unknown option " + std::string(name));
      if (i + 1 >= argc_) refuse(std::string(name) + " needs a value");
    }
  }
  std::string text(const char* name, std::string fallback) const {
    for (int i = 1; i + 1 < argc_; i += 2) {
      if (std::string_view(argv_[i]) == name) return argv_[i + 1];
    }
    return fallback;
  }
  std::size_t count(const char* name, std::size_t fallback) const {
    const std::string value = text(name, std::to_string(fallback));
    std::size_t n = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (error != std::errc() || end != value.data() + value.size()) {
      refuse(std::string(name) + " takes a count, not '" + value + "'");
    }
    return n;
  }
  double number(const char* name, double fallback) const {
    const std::string value = text(name, std::to_string(fallback));
    char* end = nullptr;
    const double x = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !(x >= 0)) {
      refuse(std::string(name) + " takes a number, not '" + value + "'");
    }
    return x;
  }

 private:
  [[noreturn]] void refuse(const std::string& why) const {
    std::fprintf(stderr, "%s: %s\n%s", argv_[0], why.c_str(), usage_.c_str());
    std::exit(2);
  }
  int argc_;
  char** argv_;
  std::string usage_;
};

// This process's peak resident set (peak working set on Windows) so far, in MB: since the
// last resetPeakRss() that worked.
double peakRssMb();

// Starts the peak resident set again from what the process holds now, so that a step's own peak
// can be told from the steps' before it. False where the system cannot (Windows).
bool resetPeakRss();

// The CPU time this process has used so far, user and system, in seconds (its own, not its
// children's).
double cpuSeconds();

// The CPU time, user and system, that this process's running children (the simulator bridges)
// have used so far, in seconds; nullopt where the system does not tell.
std::optional<double> childrenCpuSeconds();

// The largest peak resident set among this process's running children (the simulator
// bridges), in MB; nullopt where the system does not tell.
std::optional<double> childrenPeakRssMb();

// How many bytes this process has had written to storage so far, in MiB: on Linux what it sent
// or will send to the disk (write_bytes of /proc/self/io, the page cache's write-back included,
// less cancelled_write_bytes: pages of files truncated or deleted before they went), on Windows
// the bytes of its write calls; nullopt where the system does not tell.
std::optional<double> writtenMiB();

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
