#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/bench/bench_support.h"

namespace easgate::bench {

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

double peakRssMb() {
  // Linux's VmHWM, which resetPeakRss() starts again; elsewhere the peak since the start.
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1e3;  // KiB
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1e3;  // Linux counts in KiB
}

bool resetPeakRss() {
  // Linux: "5" to clear_refs sets VmHWM to what is resident now (proc(5)).
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto secondsOf = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secondsOf(usage.ru_utime) + secondsOf(usage.ru_stime);
}

std::optional<double> writtenMiB() {
  // Linux counts a write when it dirties the page cache (write_bytes), and takes it back when
  // the page is dropped before it went to the disk (cancelled_write_bytes: a file truncated or
  // deleted, as SQLite's temporary files are).
  std::ifstream in("/proc/self/io");
  std::string name;
  unsigned long long value = 0;
  std::optional<unsigned long long> dirtied, dropped;
  while (in >> name >> value) {
    if (name == "write_bytes:") dirtied = value;
    if (name == "cancelled_write_bytes:") dropped = value;
  }
  if (!dirtied || !dropped) return std::nullopt;
  return static_cast<double>(*dirtied - std::min(*dirtied, *dropped)) / (1024.0 * 1024.0);
}

namespace {

// Every running child of this process, as Linux's /proc shows it: its directory and the fields
// of /proc/PID/stat that follow its parent's ID (fields 5 onwards, counted after the command
// name's closing parenthesis). nullopt without /proc.
struct Child {
  std::filesystem::path dir;
  std::string fields;
};
std::optional<std::vector<Child>> runningChildren() {
  std::error_code ec;
  std::filesystem::directory_iterator processes("/proc", ec);
  if (ec) return std::nullopt;
  const auto self = static_cast<long>(getpid());
  std::vector<Child> children;
  for (const auto& entry : processes) {
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!in || !std::getline(in, stat)) continue;
    const auto name_end = stat.rfind(')');
    if (name_end == std::string::npos) continue;
    std::istringstream fields(stat.substr(name_end + 2));
    std::string state;
    long parent = 0;
    fields >> state >> parent;
    if (parent != self) continue;
    std::string rest;
    std::getline(fields, rest);
    children.push_back({entry.path(), rest});
  }
  return children;
}

}  // namespace

std::optional<double> childrenCpuSeconds() {
  auto children = runningChildren();
  if (!children) return std::nullopt;
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  double total = 0;
  for (const auto& child : *children) {
    std::istringstream fields(child.fields);
    std::string skipped;
    for (int i = 0; i < 9; ++i) fields >> skipped;  // pgrp .. cmajflt
    unsigned long long user = 0, system = 0;
    if (fields >> user >> system) {
      total += static_cast<double>(user + system) / static_cast<double>(ticks_per_second);
    }
  }
  return total;
}

std::optional<double> childrenPeakRssMb() {
  auto children = runningChildren();
  if (!children) return std::nullopt;
  double largest = 0;
  for (const auto& child : *children) {
    std::ifstream in(child.dir / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmHWM:", 0) != 0) continue;
      largest = std::max(largest, std::strtod(line.c_str() + 6, nullptr) / 1e3);  // in kB
    }
  }
  return largest;
}

std::size_t raiseOpenFileLimit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return 1024;
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  return static_cast<std::size_t>(files.rlim_cur);
}

ChildRun runChild(const std::string& program, const std::vector<std::string>& arguments) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);  // the child's own figures, not this process's
  ChildRun run;
  run.wall_seconds = seconds(Clock::now() - start);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1e3;
  return run;
}

}  // namespace easgate::bench
