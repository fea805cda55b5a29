// Benchmark: the agent core against easgate-exchange-sim through the bridge pool.
//   1. a full harvest into a fresh store, and one more that finds nothing changed (wall time,
//      Exchange calls, peak RSS);
//   2. a delta harvest after a burst of changes (the same figures);
//   3. a policy plan (DefaultAccessLevel Quarantine, every Allowed device grandfathered) over
//      the whole inventory, as POST /v1/policy/plan makes it: wall time, answer size, peak RSS;
//   4. commands through the journal: journaling rate (each one durable before its
//      acknowledgement), and journal + execution rate end to end;
//   5. a policy apply's allows queued: what each run of the executor costs while they drain,
//      the default's record (what GET /v1/commands/{id} answers), and the run that sends the
//      default once every allow is done;
//   6. commands naming mailboxes the directory does not know yet (before a first harvest),
//      against an Exchange that takes its time over each Get-CASMailbox: when the first runs,
//      when all have, and how long a stop waits.
//
// Options: `agent_bench --help`.
// Full harvests read through --bridges simulator processes sharing one organisation (the
// simulator's --shared-state). Commands and the delta harvest go through one more bridge of
// their own: each process holds its organisation, so changes made through one bridge are seen
// only through it, and the delta harvest must see them. Every simulator generates its
// organisation for the same present (--now, the bench's start): the command bridge's
// partnerships have the times the full harvests read, as one Exchange's would, and the delta
// finds what the commands changed, not every time moved by the moment its simulator started.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include "agent/api/api_json.h"
#include "agent/commands/command_executor.h"
#include "agent/gateway/bridge_exchange_gateway.h"
#include "agent/harvest/harvester.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/mailboxes/mailbox_directory.h"
#include "agent/policy/policy_plan.h"
#include "agent/store/paced_writes.h"
#include "agent/store/schema.h"
#include "common/json/json_writer.h"
#include "common/memory/return_freed_memory.h"
#include "common/threads/priority.h"
#include "common/time/utc_time.h"
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
        commands(a.count("--commands", 2000)),
        bridges(a.count("--bridges", 1)),
        paced_mib(a.count("--paced-mib", agent::store::kPacedWriteBytesPerSecond >> 20)),
        lookup_ms(static_cast<int>(a.count("--lookup-ms", 50))) {}
  std::size_t mailboxes, devices, commands, bridges, paced_mib;
  int lookup_ms;
};

// CPU time used so far by this process (the agent) and by the simulator bridges it runs, which
// share the machine with it: a harvest's wall time is bounded by both. And what the agent has
// written to storage: a journal write waits for its fsync behind whatever else the disk has.
struct UsageMark {
  double agent = bench::cpuSeconds();
  std::optional<double> bridges = bench::childrenCpuSeconds();
  std::optional<double> written_mib = bench::writtenMiB();
};

// A harvest's figures, with the CPU each side used and what the agent wrote since `before`.
void print(const char* what, const agent::HarvestReport& r, const UsageMark& before) {
  const double s = static_cast<double>(r.finished_ms - r.started_ms) / 1e3;
  const UsageMark now;
  std::string bridges;
  if (now.bridges && before.bridges) {
    char text[64];
    std::snprintf(text, sizeof text, ", the simulator bridges': %.2f s",
                  *now.bridges - *before.bridges);
    bridges = text;
  }
  std::string bridge_rss;
  if (auto largest = bench::childrenPeakRssMb(); largest && *largest > 0) {
    char text[64];
    std::snprintf(text, sizeof text, " (the largest simulator bridge's: %.0f MB)", *largest);
    bridge_rss = text;
  }
  std::string written;
  if (now.written_mib && before.written_mib) {
    char text[64];
    std::snprintf(text, sizeof text, "; written to storage %.0f MiB",
                  *now.written_mib - *before.written_mib);
    written = text;
  }
  std::printf(
      "%s harvest: %zu devices read, %zu Exchange calls, %.2f s (the agent's CPU: %.2f s%s); %zu "
      "discovered, %zu changed; peak RSS %.0f MB%s%s\n",
      what, r.devices, r.calls, s, now.agent - before.agent, bridges.c_str(), r.discovered,
      r.changed, bench::peakRssMb(), bridge_rss.c_str(), written.c_str());
}

// A pool of `n` bridges, each a process running `command`.
std::unique_ptr<powershell::BridgePool> bridgePool(std::size_t n,
                                                   const powershell::BridgeCommand& command) {
  return std::make_unique<powershell::BridgePool>(
      [command]() -> Result<std::unique_ptr<powershell::Bridge>, powershell::BridgeError> {
        powershell::BridgeProcessOptions options;
        options.connect_timeout = std::chrono::minutes(5);
        auto b = powershell::BridgeProcess::start(command, options);
        if (!b) return b.error();
        return std::unique_ptr<powershell::Bridge>(std::move(b).value());
      },
      n);
}

// 6. Commands on mailboxes the directory does not know, each name asked of an Exchange that
// answers Get-CASMailbox in `latency_ms`, through a pool of `bridges`.
int unknownNames(const std::filesystem::path& dir, const std::string& now, std::size_t bridges,
                 int latency_ms) {
  constexpr std::size_t kCommands = 400;  // two rounds of 200
  std::filesystem::create_directories(dir);
  const powershell::BridgeCommand sim{
      EASGATE_SIM_BINARY,
      {"--mailboxes", "1000", "--devices", "1000", "--seed", "1", "--now", now, "--latency",
       "Get-CASMailbox=" + std::to_string(latency_ms), "--shared-state",
       (dir / "organisation.state").string()},
      {}};
  auto pool = bridgePool(bridges, sim);
  if (auto warmed = pool->warm(); !warmed) {
    return std::fprintf(stderr, "%s\n", warmed.error().message.c_str()), 1;
  }
  agent::BridgeExchangeGateway gateway(*pool);
  std::vector<std::string> addresses;
  auto listed = gateway.casMailboxes([&](std::vector<powershell::PsValue>&& batch) {
    for (const auto& v : batch) {
      const auto* o = v.asObject();
      auto e = o ? agent::mailboxEntryFromCasMailbox(*o) : std::nullopt;
      if (e && addresses.size() < kCommands) addresses.push_back(e->address);
    }
  });
  if (!listed) return std::fprintf(stderr, "%s\n", listed.error().message.c_str()), 1;

  agent::SystemClock clock;
  auto store = agent::store::openStore(agent::store::storeFile(dir));
  if (!store) return std::fprintf(stderr, "%s\n", store.error().message.c_str()), 1;
  auto directory_db = agent::store::openStore(agent::store::storeFile(dir));
  if (!directory_db) return std::fprintf(stderr, "%s\n", directory_db.error().message.c_str()), 1;
  auto directory_file = agent::openDirectory(agent::directoryFile(agent::store::storeFile(dir)));
  if (!directory_file) {
    return std::fprintf(stderr, "%s\n", directory_file.error().message.c_str()), 1;
  }
  agent::AuditLog audit(*store.value());
  agent::CommandJournal journal(*store.value(), audit, clock);
  agent::MailboxDirectory directory(*directory_file.value(), *directory_db.value());
  agent::ExecutorOptions options;
  options.parallelism = bridges;
  agent::CommandExecutor executor(journal, gateway, directory, clock, options);
  // Allows on `n` of the mailboxes from the `from`-th.
  auto submitAllows = [&](std::size_t from, std::size_t n) {
    for (std::size_t i = from; i < from + n; ++i) {
      agent::CommandRequest allow;
      allow.kind = agent::CommandKind::kAllow;
      allow.mailbox = addresses[i];
      allow.device_id = "BENCH" + std::to_string(i);
      allow.requested_by = "agent_bench";
      if (!journal.submit(allow, clock.nowMs() + 3600'000)) return false;
    }
    return true;
  };
  const std::size_t half = addresses.size() / 2;
  if (!submitAllows(0, half)) return std::fprintf(stderr, "submit\n"), 1;
  std::printf(
      "%zu allows on mailboxes the directory does not know, Get-CASMailbox answered in %d ms, %zu "
      "bridges:\n",
      half, latency_ms, bridges);
  const auto start = Clock::now();
  std::optional<double> first_ran;
  std::size_t ran = 0, runs = 0, in_the_first = 0;
  while (ran < half) {
    auto n = executor.runDue();
    if (!n) return std::fprintf(stderr, "%s\n", n.error().message.c_str()), 1;
    ++runs;
    if (n.value() > 0 && !first_ran) {
      first_ran = seconds(Clock::now() - start);
      in_the_first = n.value();
    }
    if (n.value() == 0) break;
    ran += n.value();
  }
  std::printf("  the first run: %.2f s, %zu commands ran; all %zu after %.2f s, %zu runs\n",
              first_ran.value_or(0.0), in_the_first, ran, seconds(Clock::now() - start), runs);
  // As many more, and a stop asked 0.2 s into the first run: how long that run goes on.
  if (!submitAllows(half, addresses.size() - half)) return std::fprintf(stderr, "submit\n"), 1;
  const auto stop_start = Clock::now();
  auto stopped =
      executor.runDue([&] { return Clock::now() - stop_start < std::chrono::milliseconds(200); });
  if (!stopped) return std::fprintf(stderr, "%s\n", stopped.error().message.c_str()), 1;
  std::printf("  %zu more, a stop 0.2 s into their first run: it ended after %.2f s, %zu ran\n",
              addresses.size() - half, seconds(Clock::now() - stop_start), stopped.value());
  return 0;
}

}  // namespace

int runBench(int argc, char** argv) {
  const Options o{bench::BenchArgs(
      argc, argv,
      "usage: agent_bench [--mailboxes N (100000)] [--devices N (200000)] [--commands N (2000)]\n"
      "                   [--bridges N (1)] [--paced-mib P (the agent's: 64)] [--lookup-ms L "
      "(50)]\n"
      "The agent core against easgate-exchange-sim: full and delta harvests, a policy plan,\n"
      "commands; wall time, the agent's CPU, peak RSS. The inventory is written at P MiB/s\n"
      "at most (agent/store/paced_writes.h). Commands on mailboxes the directory does not know\n"
      "go to an Exchange that answers Get-CASMailbox in L ms.\n",
      {"--mailboxes", "--devices", "--commands", "--bridges", "--paced-mib", "--lookup-ms"})};
  agent::store::setPacedWriteRate(std::uint64_t{o.paced_mib} << 20);
  spdlog::set_level(spdlog::level::warn);  // each command's lines would be timed too
  std::printf("machine: %s, %u cores\n", bench::cpuModel().c_str(),
              std::thread::hardware_concurrency());
  const auto dir = std::filesystem::temp_directory_path() / "easgate-agent-bench";
  std::filesystem::remove_all(dir);
  auto store = agent::store::openStore(agent::store::storeFile(dir));
  if (!store) return std::fprintf(stderr, "%s\n", store.error().message.c_str()), 1;

  const std::string now = utc::formatUnixMs(agent::SystemClock().nowMs());
  const powershell::BridgeCommand sim{EASGATE_SIM_BINARY,
                                      {"--mailboxes", std::to_string(o.mailboxes), "--devices",
                                       std::to_string(o.devices), "--seed", "1", "--now", now},
                                      {}};
  // The harvest's bridges share one organisation (its times included); the first to start
  // writes it to the file, the others read it.
  powershell::BridgeCommand shared_sim = sim;
  shared_sim.arguments.insert(shared_sim.arguments.end(),
                              {"--shared-state", (dir / "organisation.state").string()});
  auto harvest_pool = bridgePool(o.bridges, o.bridges > 1 ? shared_sim : sim);
  auto command_pool = bridgePool(1, sim);
  for (auto* pool : {harvest_pool.get(), command_pool.get()}) {
    if (auto warmed = pool->warm(); !warmed) {
      return std::fprintf(stderr, "%s\n", warmed.error().message.c_str()), 1;
    }
  }
  agent::SystemClock clock;
  agent::BridgeExchangeGateway gateway(*harvest_pool);
  agent::BridgeExchangeGateway command_gateway(*command_pool);
  agent::AuditLog audit(*store.value());
  agent::CommandJournal journal(*store.value(), audit, clock);
  agent::HarvestOptions harvest_options;
  harvest_options.parallelism = o.bridges;
  auto inventory_store = agent::InventoryStore::open(agent::inventoryFile(store.value()->file()));
  if (!inventory_store) {
    return std::fprintf(stderr, "%s\n", inventory_store.error().message.c_str()), 1;
  }
  // As the agent assembles it (service/agent_runtime.cpp): the harvester writes the mailbox
  // directory's file through a connection of its own, whose commits need not wait for the disk,
  // and reads the MDM's lists through one to the store; the journal's commits, on `store`, do.
  auto harvest_store = agent::store::openStore(agent::store::storeFile(dir));
  if (!harvest_store) return std::fprintf(stderr, "%s\n", harvest_store.error().message.c_str()), 1;
  auto harvest_directory = agent::openDirectory(agent::directoryFile(agent::store::storeFile(dir)));
  if (!harvest_directory) {
    return std::fprintf(stderr, "%s\n", harvest_directory.error().message.c_str()), 1;
  }
  agent::Harvester harvester(*harvest_directory.value(), *harvest_store.value(),
                             *inventory_store.value(), gateway, &journal, clock, harvest_options);
  std::printf(
      "full harvests through %zu bridge(s) (statistics asked for up to %zu mailboxes at once, %zu "
      "lots at a time)\n",
      o.bridges, agent::kStatisticsPerLot, harvest_options.parallelism);

  // When the listing ends: the harvest's first progress report, before any statistics.
  std::optional<Clock::time_point> listed;
  const agent::HarvestProgressCallback progress = [&](const agent::HarvestProgress& p) {
    if (!listed && p.statistics_done == 0) listed = Clock::now();
  };
  auto printListing = [&](Clock::time_point start) {
    if (!listed) return;
    std::printf("  of which the listing (Get-CASMailbox, Get-MobileDevice, staged): %.2f s\n",
                std::chrono::duration<double>(*listed - start).count());
    listed.reset();
  };
  // As the agent runs them (agent/agent_loop.cpp): on a thread of their own, below normal priority.
  auto runHarvest = [](agent::Harvester& h, agent::HarvestKind kind,
                       const agent::HarvestProgressCallback& report) {
    std::optional<Result<agent::HarvestReport, agent::HarvestError>> result;
    std::thread([&] {
      (void)threads::setThisThreadPriority(threads::Priority::kBelowNormal);
      result = h.run(kind, report);
    }).join();
    return std::move(*result);
  };
  // What the harvest's connection to the mailbox directory read from its file, not finding it
  // in its page cache (Harvester::run gives it a larger one while it runs).
  std::int64_t directory_pages = harvest_directory.value()->pagesReadFromFile();
  auto printDirectoryPages = [&] {
    const std::int64_t read = harvest_directory.value()->pagesReadFromFile();
    std::printf("  the mailbox directory's pages read from its file: %lld\n",
                static_cast<long long>(read - directory_pages));
    directory_pages = read;
  };
  UsageMark mark;
  auto start = Clock::now();
  auto full = runHarvest(harvester, agent::HarvestKind::kFull, progress);
  if (!full) return std::fprintf(stderr, "%s\n", full.error().message.c_str()), 1;
  print("full (into an empty store)", full.value(), mark);
  printListing(start);
  printDirectoryPages();
  // The usual case: every partnership as it was.
  mark = UsageMark{};
  start = Clock::now();
  auto again = runHarvest(harvester, agent::HarvestKind::kFull, progress);
  if (!again) return std::fprintf(stderr, "%s\n", again.error().message.c_str()), 1;
  print("full (nothing changed)", again.value(), mark);
  printListing(start);
  printDirectoryPages();

  {
    const double rss_before = bench::peakRssMb();
    const auto plan_start = Clock::now();
    protocol::PolicyPlanRequest target;
    target.default_access_level = "Quarantine";
    // What POST /v1/policy/plan does: the whole plan made, its first page kept.
    auto planned =
        agent::policy::planFromInventory(*inventory_store.value(), *harvest_directory.value(),
                                         *store.value(), target, {{}, target.limit, false});
    if (!planned || !planned.value()) return std::fprintf(stderr, "no plan\n"), 1;
    const agent::policy::Plan& plan = *planned.value();
    std::string answer;
    json::JsonWriter w(answer);
    w.beginObject();
    agent::policy::writePlanMembers(w, plan);
    w.endObject();
    std::printf(
        "policy plan over %lld partnerships: %zu changes, %zu allows, %.2f s, answer %.1f MB; "
        "peak RSS %.0f MB (%.0f MB before)\n",
        static_cast<long long>(plan.partnerships), static_cast<std::size_t>(plan.changes_total),
        static_cast<std::size_t>(plan.allows), seconds(Clock::now() - plan_start),
        static_cast<double>(answer.size()) / 1e6, bench::peakRssMb(), rss_before);
    // What an apply makes before it queues anything: the plan again, every allow kept.
    const auto apply_start = Clock::now();
    auto applied = agent::policy::planFromInventory(
        *inventory_store.value(), *harvest_directory.value(), *store.value(), target,
        agent::policy::PlanWindow::everyAllow());
    if (!applied || !applied.value() || applied.value()->digest != plan.digest) {
      return std::fprintf(stderr, "the apply's plan is not the plan\n"), 1;
    }
    std::printf("  the apply's plan (its %zu allows kept): %.2f s; peak RSS %.0f MB\n",
                applied.value()->changes.size(), seconds(Clock::now() - apply_start),
                bench::peakRssMb());
  }

  // Commands: block one real device on each of N mailboxes (its state, and so its
  // WhenChanged, changes: the delta harvest must find exactly those).
  std::vector<agent::CommandRequest> requests;
  {
    // One at a time: the bench holds no more of the inventory than the harvest does.
    std::set<std::string> taken;
    auto read = inventory_store.value()->forEachCurrent([&](const agent::DeviceRecord& d) {
      if (requests.size() == o.commands || !taken.insert(d.mailbox_address).second) return;
      agent::CommandRequest r;
      r.kind = agent::CommandKind::kBlock;
      r.mailbox = d.mailbox_address;
      r.device_id = d.device_id;
      r.requested_by = "agent_bench";
      requests.push_back(std::move(r));
    });
    if (!read) return std::fprintf(stderr, "%s\n", read.error().message.c_str()), 1;
  }
  auto submit_start = Clock::now();
  for (const auto& r : requests) {
    if (!journal.submit(r, clock.nowMs() + 3600'000)) return std::fprintf(stderr, "submit\n"), 1;
  }
  const double submit_s = seconds(Clock::now() - submit_start);
  std::printf(
      "journal %zu commands (each durable and audited before its acknowledgement): "
      "%.2f s = %.0f commands/s\n",
      requests.size(), submit_s, static_cast<double>(requests.size()) / submit_s);

  agent::ExecutorOptions executor_options;
  executor_options.parallelism = 1;
  auto directory_db = agent::store::openStore(agent::store::storeFile(dir));
  if (!directory_db) return std::fprintf(stderr, "%s\n", directory_db.error().message.c_str()), 1;
  auto directory_file = agent::openDirectory(agent::directoryFile(agent::store::storeFile(dir)));
  if (!directory_file) {
    return std::fprintf(stderr, "%s\n", directory_file.error().message.c_str()), 1;
  }
  agent::MailboxDirectory directory(*directory_file.value(), *directory_db.value());
  agent::CommandExecutor executor(journal, command_gateway, directory, clock, executor_options);
  auto run_start = Clock::now();
  std::size_t ran = 0;
  while (true) {
    auto n = executor.runDue();
    if (!n) return std::fprintf(stderr, "%s\n", n.error().message.c_str()), 1;
    if (n.value() == 0) break;
    ran += n.value();
  }
  const double run_s = seconds(Clock::now() - run_start);
  std::printf("execute %zu commands through one bridge: %.2f s = %.0f commands/s\n", ran, run_s,
              static_cast<double>(ran) / run_s);

  agent::Harvester delta_harvester(*harvest_directory.value(), *harvest_store.value(),
                                   *inventory_store.value(), command_gateway, &journal, clock,
                                   harvest_options);
  mark = UsageMark{};
  auto delta = runHarvest(delta_harvester, agent::HarvestKind::kDelta, {});
  if (!delta) return std::fprintf(stderr, "%s\n", delta.error().message.c_str()), 1;
  print("delta (after the commands)", delta.value(), mark);
  std::printf(
      "delta vs full: %.1f%% of the calls, %.1f%% of the time\n",
      100.0 * static_cast<double>(delta->calls) / static_cast<double>(full->calls),
      100.0 * static_cast<double>(delta->finished_ms - delta->started_ms) /
          static_cast<double>(std::max<std::int64_t>(1, full->finished_ms - full->started_ms)));

  // 5. A policy apply's commands draining: an allow for every device the plan keeps in and the
  // default after them, journaled as POST /v1/policy/apply journals them; then runs of the
  // executor that each end after their first command, as a run ends when a command is
  // submitted meanwhile. What choosing costs, in time and memory, with so much queued.
  {
    protocol::PolicyPlanRequest target;
    target.default_access_level = "Quarantine";
    std::vector<agent::CommandRequest> apply;
    {
      auto planned = agent::policy::planFromInventory(
          *inventory_store.value(), *harvest_directory.value(), *store.value(), target,
          agent::policy::PlanWindow::everyAllow());
      if (!planned || !planned.value()) return std::fprintf(stderr, "no plan to apply\n"), 1;
      for (const auto& c : planned.value()->changes) {
        if (!c.grandfathered) continue;
        agent::CommandRequest allow;
        allow.kind = agent::CommandKind::kAllow;
        allow.mailbox = std::string(c.mailbox);
        allow.device_id = std::string(c.device.device_id);
        allow.requested_by = "agent_bench";
        apply.push_back(std::move(allow));
      }
    }
    agent::CommandRequest level;
    level.kind = agent::CommandKind::kSetDefaultAccessLevel;
    level.access_level = target.default_access_level;
    level.requested_by = "agent_bench";
    apply.push_back(std::move(level));
    const std::size_t queued = apply.size();
    const auto journal_start = Clock::now();
    auto sequence = journal.submitSequence(std::move(apply), clock.nowMs() + 86'400'000);
    if (!sequence) return std::fprintf(stderr, "%s\n", sequence.error().message.c_str()), 1;
    const std::int64_t default_id = sequence->back().id;
    sequence->clear();
    sequence->shrink_to_fit();
    std::printf("a policy apply's %zu commands journaled in one transaction: %.2f s\n", queued,
                seconds(Clock::now() - journal_start));
    memory::returnFreedMemory();
    const bool reset = bench::resetPeakRss();
    const double rss_before = bench::peakRssMb();
    auto endAfterTheFirst = [] { return false; };
    const auto first_start = Clock::now();
    auto first = executor.runDue(endAfterTheFirst);
    if (!first) return std::fprintf(stderr, "%s\n", first.error().message.c_str()), 1;
    std::printf("  from the apply to its first command run: %.2f s\n",
                seconds(Clock::now() - first_start));
    // Each run resolves a page of mailboxes, until none is left to resolve.
    std::size_t resolving_runs = 1;
    for (;; ++resolving_runs) {
      auto left = journal.unresolved(1);
      if (!left) return std::fprintf(stderr, "%s\n", left.error().message.c_str()), 1;
      if (left->empty()) break;
      if (auto n = executor.runDue(endAfterTheFirst); !n) {
        return std::fprintf(stderr, "%s\n", n.error().message.c_str()), 1;
      }
    }
    std::printf("  every mailbox resolved after %zu runs: %.2f s\n", resolving_runs,
                seconds(Clock::now() - first_start));
    constexpr int kRuns = 50;
    std::size_t run_commands = 0;
    const auto runs_start = Clock::now();
    for (int i = 0; i < kRuns; ++i) {
      auto n = executor.runDue(endAfterTheFirst);
      if (!n) return std::fprintf(stderr, "%s\n", n.error().message.c_str()), 1;
      run_commands += n.value();
    }
    std::printf("  %d runs after that, %zu commands through one bridge: %.1f ms a run\n", kRuns,
                run_commands, 1e3 * seconds(Clock::now() - runs_start) / kRuns);
    std::printf("  peak RSS through those runs: %.0f MB (%.0f MB as they began)%s\n",
                bench::peakRssMb(), rss_before,
                reset ? "" : "; the process's peak: this system cannot start it again");
    // What a client reading the default's command gets (its `after` among it).
    auto level_record = journal.get(default_id);
    if (!level_record) return std::fprintf(stderr, "%s\n", level_record.error().message.c_str()), 1;
    const auto json_start = Clock::now();
    const std::size_t level_bytes = agent::api::commandJson(level_record.value()).size();
    std::printf("  the default's record (GET /v1/commands/%lld): %zu bytes, written in %.2f ms\n",
                static_cast<long long>(default_id), level_bytes,
                1e3 * seconds(Clock::now() - json_start));
    // Every allow done (marked so in the journal, as the runs would leave them): the run that
    // sends the default checks first that each succeeded.
    if (auto done = store.value()->execute(
            "UPDATE commands SET state = 'succeeded' WHERE kind = 'allow' AND state <> "
            "'succeeded'");
        !done) {
      return std::fprintf(stderr, "%s\n", done.error().message.c_str()), 1;
    }
    const auto default_start = Clock::now();
    auto last_run = executor.runDue();
    if (!last_run) return std::fprintf(stderr, "%s\n", last_run.error().message.c_str()), 1;
    auto sent = journal.get(default_id);
    if (!sent || sent->state != agent::CommandState::kSucceeded) {
      return std::fprintf(stderr, "the default was not sent: %s\n",
                          sent ? sent->last_error.c_str() : sent.error().message.c_str()),
             1;
    }
    std::printf("  every allow done, the run that sends the default: %.2f s\n",
                seconds(Clock::now() - default_start));
  }
  // 6.
  return unknownNames(dir / "unknown-names", now, 4, o.lookup_ms);
}

int main(int argc, char** argv) {
  const int status = runBench(argc, argv);
  // Only now, with every file closed: Windows removes no file that is open.
  const auto dir = std::filesystem::temp_directory_path() / "easgate-agent-bench";
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return status;
}
