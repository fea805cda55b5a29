// Benchmark: CLIXML parse throughput and the peak memory of `easgate export`.
// Generates an Export-Clixml file of N MobileDevice objects (as a remote Exchange session
// serializes them), then measures:
//   1. parse: bytes in memory -> PsValues (UTF-8 check, scan, XML, values), best of 3 runs,
//      one core (MB/s, objects/s);
//   2. parse + map to device records (what export does before writing);
//   3. `easgate export --format csv` as a child process: wall time and peak RSS.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>

#include "agent/export/clixml_export.h"
#include "powershell/clixml/reader.h"
#include "powershell/clixml/writer.h"
#include "powershell/sim/exchange_objects.h"
#include "tests/bench/bench_support.h"

namespace {

namespace fs = std::filesystem;
using namespace easgate;
using bench::Clock;
using bench::cpuModel;
using bench::seconds;

struct DeviceModel {
  const char* type;
  const char* model;
  const char* os;
  const char* agent;
  const char* client;
};

constexpr DeviceModel kModels[] = {
    {"iPhone", "iPhone15C2", "iOS 17.4.1 21E236", "Apple-iPhone15C2/2104.236", "EAS"},
    {"iPad", "iPad13C1", "iPadOS 17.3 21D50", "Apple-iPad13C1/2103.50", "EAS"},
    {"Android", "SM-S918B", "Android 14.0.0", "Android-SAMSUNG-SM-S918B/101.140101", "EAS"},
    {"Android", "Pixel 8", "Android 14.0.0", "Android/14-EAS-2.0", "EAS"},
    {"Outlook", "Outlook for iOS and Android", "iOS 17.5", "Outlook-iOS/2.0", "Outlook"},
};
constexpr const char* kStates[] = {"Allowed", "Allowed",     "Allowed",
                                   "Blocked", "Quarantined", "DeviceDiscovery"};
constexpr const char* kReasons[] = {"Global", "Individual", "DeviceRule",
                                    "Global", "Global",     "Global"};

std::string hex(std::mt19937_64& rng, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out.push_back(kHex[rng() & 0xF]);
  return out;
}

// Writes `devices` MobileDevice objects, two per mailbox, in Export-Clixml's indented form.
void generate(const fs::path& file, std::size_t devices) {
  std::mt19937_64 rng(20261123);
  std::ofstream out(file, std::ios::binary);
  powershell::ClixmlWriter writer({true});
  const std::int64_t base_ticks = 638'400'000'000'000'000;  // early 2024
  for (std::size_t i = 0; i < devices; ++i) {
    const DeviceModel& m = kModels[rng() % std::size(kModels)];
    std::size_t state = rng() % std::size(kStates);
    powershell::sim::PartnershipFacts f;
    std::size_t mailbox = i / 2;
    f.mailbox_name = "User " + std::to_string(mailbox);
    f.mailbox_identity = "contoso.com/Users/" + f.mailbox_name;
    f.device_type = m.type;
    f.device_model = m.model;
    f.device_os = m.os;
    f.device_user_agent = m.agent;
    f.client_type = m.client;
    f.device_id = std::string(m.type == std::string("Android") ? "ANDROIDC" : "") + hex(rng, 16);
    f.friendly_name = f.mailbox_name + "'s " + m.model;
    f.device_imei = std::to_string(350000000000000ULL + rng() % 99999999999999ULL);
    f.mobile_operator = "Contoso Mobile";
    f.access_state = kStates[state];
    f.access_state_reason = kReasons[state];
    f.guid = hex(rng, 8) + "-" + hex(rng, 4) + "-4" + hex(rng, 3) + "-a" + hex(rng, 3) + "-" +
             hex(rng, 12);
    f.first_sync_ticks = base_ticks + static_cast<std::int64_t>(rng() % 315'360'000'000'000ULL);
    f.when_changed_ticks = f.first_sync_ticks + 36'000'000'000;
    writer.write(powershell::sim::mobileDevice(f));
    if (i % 1000 == 999) out << writer.takeOutput();
  }
  out << writer.finish();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct ChildRun {
  int exit_code = -1;
  double wall_seconds = 0;
  long peak_rss_kb = 0;
};

ChildRun runExport(const fs::path& input, const fs::path& output) {
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    execl(EASGATE_BINARY, EASGATE_BINARY, "export", "--quiet", "--from-clixml", input.c_str(),
          "--format", "csv", "--out", output.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  ChildRun run;
  run.wall_seconds = seconds(Clock::now() - start);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.peak_rss_kb = usage.ru_maxrss;
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t devices = 200000;
  fs::path dir = fs::temp_directory_path() / "easgate-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--devices") == 0) devices = std::stoul(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
  }
  fs::create_directories(dir);
  const fs::path file = dir / ("mobile-devices-" + std::to_string(devices) + ".xml");

  std::printf("machine: %s, %u cores (benchmarks use one)\n", cpuModel().c_str(),
              std::thread::hardware_concurrency());
  auto gen_start = Clock::now();
  generate(file, devices);
  const double mb = static_cast<double>(fs::file_size(file)) / 1e6;
  std::printf("generated %zu MobileDevice objects: %s, %.1f MB, in %.1f s\n", devices,
              file.filename().c_str(), mb, seconds(Clock::now() - gen_start));

  const std::string bytes = slurp(file);
  double best = 1e30;
  std::size_t objects = 0;
  for (int run = 0; run < 3; ++run) {
    std::string input = bytes;  // the reader takes its input; copying it is not parsing
    auto start = Clock::now();
    auto reader = powershell::ClixmlReader::fromBytes(std::move(input));
    if (!reader) return std::fprintf(stderr, "%s\n", reader.error().message.c_str()), 1;
    objects = 0;
    while (true) {
      auto value = reader->next();
      if (!value) return std::fprintf(stderr, "%s\n", value.error().message.c_str()), 1;
      if (!value.value()) break;
      ++objects;
    }
    best = std::min(best, seconds(Clock::now() - start));
  }
  std::printf("parse (CLIXML -> PsValue), best of 3: %.3f s  %.0f MB/s  %.0f objects/s\n", best,
              mb / best, static_cast<double>(objects) / best);

  auto map_start = Clock::now();
  auto inventory = agent::readInventoryFromClixml(file);
  if (!inventory) return std::fprintf(stderr, "%s\n", inventory.error().message.c_str()), 1;
  double map_seconds = seconds(Clock::now() - map_start);
  std::printf("read file + parse + map to %zu device records: %.3f s  %.0f MB/s\n",
              inventory->records.size(), map_seconds, mb / map_seconds);

  ChildRun exported = runExport(file, dir / "export.csv");
  if (exported.exit_code != 0) return std::fprintf(stderr, "easgate export failed\n"), 1;
  const double rss_mb = static_cast<double>(exported.peak_rss_kb) / 1e3;
  std::printf(
      "easgate export --format csv: %.2f s wall, peak RSS %.0f MB = %.2f x the input file\n",
      exported.wall_seconds, rss_mb, rss_mb / mb);
  fs::remove(dir / "export.csv");
  return 0;
}
