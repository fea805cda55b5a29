// Benchmark: CLIXML parse throughput and the peak memory of `easgate export`.
// Generates an Export-Clixml file of N MobileDevice objects (as a remote Exchange session
// serializes them), then measures:
//   1. parse: bytes in memory -> PsValues (UTF-8 check, scan, XML, values), best of 3 runs,
//      one core (MB/s, objects/s);
//   2. parse + map to device records (what export does before writing);
//   3. the harvest's reading: documents of 500 objects each as a bridge sends them (an
//      object[]), every MobileDevice and its statistics read without building them
//      (ClixmlReader::nextObjects) and mapped to records, best of 3, one core;
//   4. `easgate export --format csv` as a child process: wall time and peak RSS.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "agent/export/clixml_export.h"
#include "agent/inventory/exchange_mapping.h"
#include "powershell/clixml/reader.h"
#include "powershell/clixml/writer.h"
#include "powershell/sim/exchange_objects.h"
#include "powershell/sim/organisation.h"
#include "tests/bench/bench_support.h"

namespace {

namespace fs = std::filesystem;
using namespace easgate;
using bench::Clock;
using bench::cpuModel;
using bench::seconds;

// Writes `devices` MobileDevice objects of a generated organisation (two per mailbox: the
// simulator's catalogue of device types, OS versions, user agents and dates), in
// Export-Clixml's indented form.
void generate(const fs::path& file, std::size_t devices) {
  const auto org = powershell::sim::Organisation::generate(
      {20261123, devices / 2 + 1, devices,
       powershell::sim::dotNetTicksFromUnixSeconds(1'790'000'000)});
  std::ofstream out(file, std::ios::binary);
  powershell::ClixmlWriter writer({true});
  std::size_t written = 0;
  for (const auto& mailbox : org.mailboxes()) {
    for (const auto& device : mailbox.devices) {
      writer.write(powershell::sim::mobileDevice(device));
      if (++written % 1000 == 0) out << writer.takeOutput();
    }
  }
  out << writer.finish();
}

// The documents a bridge sends for a full harvest's Get-MobileDevice and
// Get-MobileDeviceStatistics calls: object[]s of up to 500 (the simulator's batch size), the
// devices' first, then their statistics' from `first_statistics` on.
std::vector<std::string> bridgeDocuments(std::size_t devices, std::size_t& first_statistics) {
  const auto org = powershell::sim::Organisation::generate(
      {20261123, devices / 2 + 1, devices,
       powershell::sim::dotNetTicksFromUnixSeconds(1'790'000'000)});
  static const powershell::PsTypeNames kArrayTypes =
      std::make_shared<const std::vector<std::string>>(
          std::vector<std::string>{"System.Object[]", "System.Array", "System.Object"});
  std::vector<std::string> documents;
  for (bool statistics : {false, true}) {
    if (statistics) first_statistics = documents.size();
    std::vector<powershell::PsValue> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      auto array = std::make_shared<powershell::PsObject>();
      array->type_names = kArrayTypes;
      array->container = powershell::PsContainer::kList;
      array->items = std::move(batch);
      batch.clear();
      documents.push_back(powershell::writeClixml({powershell::PsValue::object(std::move(array))}));
    };
    for (const auto& mailbox : org.mailboxes()) {
      for (const auto& device : mailbox.devices) {
        batch.push_back(statistics ? powershell::sim::mobileDeviceStatistics(
                                         device, powershell::sim::kStatisticsTypeNames[0])
                                   : powershell::sim::mobileDevice(device));
        if (batch.size() == 500) flush();
      }
    }
    flush();
  }
  return documents;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bench::ChildRun runExport(const fs::path& input, const fs::path& output) {
  return bench::runChild(EASGATE_BINARY, {"export", "--quiet", "--from-clixml", input.string(),
                                          "--format", "csv", "--out", output.string()});
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(
      argc, argv,
      "usage: clixml_bench [--devices N (200000)] [--dir DIR (easgate-bench in the temporary\n"
      "                    directory)]\n"
      "CLIXML parse throughput and the peak memory of `easgate export`.\n",
      {"--devices", "--dir"});
  const std::size_t devices = args.count("--devices", 200000);
  const fs::path dir = args.text("--dir", (fs::temp_directory_path() / "easgate-bench").string());
  fs::create_directories(dir);
  const fs::path file = dir / ("mobile-devices-" + std::to_string(devices) + ".xml");

  std::printf("machine: %s, %u cores (benchmarks use one)\n", cpuModel().c_str(),
              std::thread::hardware_concurrency());
  auto gen_start = Clock::now();
  generate(file, devices);
  const double mb = static_cast<double>(fs::file_size(file)) / 1e6;
  std::printf("generated %zu MobileDevice objects: %s, %.1f MB, in %.1f s\n", devices,
              file.filename().string().c_str(), mb, seconds(Clock::now() - gen_start));

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

  {
    std::size_t first_statistics = 0;
    const std::vector<std::string> documents = bridgeDocuments(devices, first_statistics);
    double bytes_read = 0;
    for (const auto& d : documents) bytes_read += static_cast<double>(d.size()) / 1e6;
    double best_read = 1e30;
    std::size_t mapped = 0;
    for (int run = 0; run < 3; ++run) {
      std::vector<std::string> inputs = documents;  // each read takes its document
      agent::DeviceRecord record;
      mapped = 0;
      auto start = Clock::now();
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        const bool statistics = i >= first_statistics;
        auto read = powershell::readClixmlObjects(
            std::move(inputs[i]), [&](const powershell::PropertyView& object) {
              if (statistics) {
                agent::mergeStatistics(record, agent::statisticsRecord(object));
              } else {
                record = agent::DeviceRecord{};
                agent::mergeMobileDevice(record, object);
              }
              ++mapped;
            });
        if (!read) return std::fprintf(stderr, "%s\n", read.error().message.c_str()), 1;
      }
      best_read = std::min(best_read, seconds(Clock::now() - start));
    }
    std::printf(
        "the harvest's reading (%zu documents of up to 500 objects, %.1f MB: each MobileDevice "
        "and its statistics read unbuilt and mapped), best of 3: %.3f s  %.0f MB/s  %.0f "
        "objects/s\n",
        documents.size(), bytes_read, best_read, bytes_read / best_read,
        static_cast<double>(mapped) / best_read);
  }

  bench::ChildRun exported = runExport(file, dir / "export.csv");
  if (exported.exit_code != 0) return std::fprintf(stderr, "easgate export failed\n"), 1;
  const double rss_mb = exported.peak_rss_mb;
  if (rss_mb > 0) {
    std::printf(
        "easgate export --format csv: %.2f s wall, peak RSS %.0f MB = %.2f x the input file\n",
        exported.wall_seconds, rss_mb, rss_mb / mb);
  } else {
    // Wine reports no memory figures for a process that has ended.
    std::printf("easgate export --format csv: %.2f s wall, peak RSS not reported here\n",
                exported.wall_seconds);
  }
  fs::remove(dir / "export.csv");
  return 0;
}
