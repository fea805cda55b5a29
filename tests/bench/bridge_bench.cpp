// Benchmark: the bridge pool against easgate-exchange-sim, and bridge.ps1 in PowerShell.
//   1. streaming alone: every partnership through one bridge, each batch dropped (peak RSS);
//   2. harvest: every partnership (Get-MobileDevice -ResultSize Unlimited) and every mailbox
//      with one (Get-CASMailbox), concurrently on a warm pool, mapped into device records held
//      in memory: wall time, objects/s, this process's peak RSS;
//   3. warm round trip of a small command (Get-ActiveSyncOrganizationSettings) on the
//      simulator: median and p99;
//   4. the same round trip through bridge.ps1 in PowerShell 7, when PowerShell is here.
//
// Options: `bridge_bench --help`.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/gateway/bridge_exchange_gateway.h"
#include "agent/inventory/exchange_mapping.h"
#include "powershell/host/bridge_pool.h"
#include "powershell/host/bridge_process.h"
#include "tests/bench/bench_support.h"

namespace {

using namespace easgate;
using bench::Clock;
using bench::seconds;

struct Options {
  explicit Options(const bench::BenchArgs& a)
      : mailboxes(a.count("--mailboxes", 100000)),
        devices(a.count("--devices", 200000)),
        bridges(a.count("--bridges", 2)),
        round_trips(a.count("--round-trips", 2000)),
        pwsh(a.text("--pwsh", EASGATE_PWSH_HOST)) {}
  std::size_t mailboxes, devices, bridges, round_trips;
  std::string pwsh;
};

powershell::BridgeFactory factoryFor(powershell::BridgeCommand command) {
  return [command]() -> Result<std::unique_ptr<powershell::Bridge>, powershell::BridgeError> {
    powershell::BridgeProcessOptions options;
    options.connect_timeout = std::chrono::minutes(5);  // generating a large organisation
    auto started = powershell::BridgeProcess::start(command, options);
    if (!started) return started.error();
    return std::unique_ptr<powershell::Bridge>(std::move(started).value());
  };
}

// Median and p99 of `n` sequential runs of a small command, in milliseconds.
bool roundTrips(powershell::Bridge& bridge, std::size_t n, const char* what) {
  const powershell::BridgeRequest request{"Get-ActiveSyncOrganizationSettings", {}};
  for (int i = 0; i < 20; ++i) (void)bridge.run(request);  // warm caches on both sides
  std::vector<double> ms;
  ms.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto start = Clock::now();
    auto r = bridge.run(request);
    ms.push_back(seconds(Clock::now() - start) * 1e3);
    if (!r) return std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str()), false;
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%s round trip, %zu sequential: median %.3f ms, p99 %.3f ms\n", what, n,
              ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o{bench::BenchArgs(
      argc, argv,
      "usage: bridge_bench [--mailboxes N (100000)] [--devices N (200000)] [--bridges N (2)]\n"
      "                    [--round-trips N (2000)] [--pwsh PATH (the built easgate-pwsh-host)]\n"
      "The bridge pool against easgate-exchange-sim, and bridge.ps1 in PowerShell.\n",
      {"--mailboxes", "--devices", "--bridges", "--round-trips", "--pwsh"})};
  std::printf("machine: %s, %u cores\n", bench::cpuModel().c_str(),
              std::thread::hardware_concurrency());

  powershell::BridgePool pool(
      factoryFor({EASGATE_SIM_BINARY,
                  {"--mailboxes", std::to_string(o.mailboxes), "--devices",
                   std::to_string(o.devices), "--seed", "1", "--batch-size", "500"},
                  {}}),
      o.bridges);
  auto warm_start = Clock::now();
  if (auto warmed = pool.warm(); !warmed) {
    return std::fprintf(stderr, "%s\n", warmed.error().message.c_str()), 1;
  }
  std::printf(
      "pool of %zu simulator bridges warm (each generated %zu mailboxes, %zu devices) "
      "in %.1f s\n",
      o.bridges, o.mailboxes, o.devices, seconds(Clock::now() - warm_start));
  const double rss_before = bench::peakRssMb();

  agent::BridgeExchangeGateway gateway(pool);

  // First the transport alone: every object streamed and dropped. Peak RSS only grows, so
  // this pass comes first and shows what streaming costs apart from what the harvest keeps.
  std::size_t streamed = 0;
  auto stream_start = Clock::now();
  auto streamed_devices = gateway.listDevices(
      [&](std::vector<powershell::PsValue>&& batch) { streamed += batch.size(); });
  if (!streamed_devices) {
    return std::fprintf(stderr, "%s\n", streamed_devices.error().message.c_str()), 1;
  }
  const double stream_s = seconds(Clock::now() - stream_start);
  std::printf(
      "stream %zu devices through one bridge, dropping them: %.2f s = %.0f objects/s, "
      "peak RSS %.0f MB\n",
      streamed, stream_s, static_cast<double>(streamed) / stream_s, bench::peakRssMb());

  agent::InventoryBuilder builder;
  builder.reserve(o.devices);
  std::mutex builder_mutex;
  auto into_builder = [&](std::vector<powershell::PsValue>&& batch) {
    std::lock_guard lock(builder_mutex);
    for (const auto& v : batch) builder.add(v);
  };
  auto harvest_start = Clock::now();
  agent::GatewayResult devices = agent::GatewayReply{}, mailboxes = agent::GatewayReply{};
  std::thread device_reader([&] { devices = gateway.listDevices(into_builder); });
  std::thread mailbox_reader([&] { mailboxes = gateway.casMailboxes(into_builder); });
  device_reader.join();
  mailbox_reader.join();
  if (!devices || !mailboxes) {
    const auto& e = !devices ? devices.error() : mailboxes.error();
    return std::fprintf(stderr, "harvest failed: %s\n", e.message.c_str()), 1;
  }
  std::vector<agent::DeviceRecord> records = std::move(builder).finish();
  const double harvest_s = seconds(Clock::now() - harvest_start);
  const std::size_t objects = devices->objects + mailboxes->objects;
  std::size_t with_address = 0;
  for (const auto& r : records) with_address += r.mailbox_address.empty() ? 0 : 1;
  std::printf(
      "harvest through the pool: %zu devices + %zu mailboxes -> %zu records (%zu with the "
      "mailbox's address) in %.2f s = %.0f objects/s\n",
      devices->objects, mailboxes->objects, records.size(), with_address, harvest_s,
      static_cast<double>(objects) / harvest_s);
  std::printf(
      "agent process peak RSS: %.0f MB holding the %zu records (%.0f MB before streaming)\n",
      bench::peakRssMb(), records.size(), rss_before);

  if (!roundTrips(pool, o.round_trips, "simulator bridge (warm)")) return 1;

  std::error_code ec;
  if (o.pwsh.empty() || !std::filesystem::exists(o.pwsh, ec)) {
    std::printf("bridge.ps1 round trip: SKIPPED, no PowerShell at '%s'\n", o.pwsh.c_str());
    return 0;
  }
  powershell::BridgeScriptSettings settings;
  settings.powershell = o.pwsh;
  settings.script = EASGATE_BRIDGE_SCRIPT;
  settings.mode = powershell::BridgeMode::kModule;
  settings.module_path = EASGATE_FAKE_EXCHANGE_MODULE;
  auto command = powershell::bridgeScriptCommand(settings);
  if (!command) return std::fprintf(stderr, "%s\n", command.error().message.c_str()), 1;
  auto start = Clock::now();
  auto script = factoryFor(command.value())();
  if (!script) return std::fprintf(stderr, "%s\n", script.error().message.c_str()), 1;
  std::printf("bridge.ps1 in %s: ready in %.2f s\n", o.pwsh.c_str(), seconds(Clock::now() - start));
  if (!roundTrips(*script.value(), std::min<std::size_t>(o.round_trips, 500),
                  "bridge.ps1 (module mode, warm)")) {
    return 1;
  }
  return 0;
}
