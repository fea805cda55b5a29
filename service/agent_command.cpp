#include "service/agent_command.h"

#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "agent/agent_loop.h"
#include "agent/gateway/bridge_exchange_gateway.h"
#include "agent/store/schema.h"
#include "service/cli.h"
#include "service/console.h"

namespace easgate::service {
namespace {

std::int64_t minutesToMs(double minutes) { return static_cast<std::int64_t>(minutes * 60'000); }

}  // namespace

CLI::App* addAgentCommand(CLI::App& app, AgentCommandOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "agent", "Run the agent: execute journaled commands and harvest the inventory");
  cmd->footer(
      "Exchange: 'simulator' (easgate-exchange-sim, the embedded default), 'online' (Exchange\n"
      "Online, app-only certificate auth, PowerShell 7), 'onprem' (Kerberos, Windows\n"
      "PowerShell on the management host) or 'module' (a local module providing the cmdlets).\n"
      "The certificate file's password is read from $EASGATE_CERTIFICATE_PASSWORD.\n"
      "Stop with Ctrl+C or SIGTERM; commands in flight are journaled and resume on restart.");
  o.data_directory = defaultDataDirectory();
  cmd->add_option("--data-dir", o.data_directory, "The agent's data directory (its store)")
      ->capture_default_str();
  addExchangeOptions(*cmd, o.exchange);
  cmd->add_option("--full-harvest-minutes", o.full_harvest_minutes,
                  "Minutes between full harvests (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--delta-harvest-minutes", o.delta_harvest_minutes,
                  "Minutes between delta harvests (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--first-retry-seconds", o.first_retry_seconds,
                  "Delay before a throttled or failed command is tried again (then doubling)")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  cmd->add_option("--max-retry-seconds", o.max_retry_seconds, "The longest delay between tries")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  cmd->add_flag("--correct-drift", o.correct_drift,
                "Queue a correction when Exchange's allowed list drifts from the MDM's");
  cmd->add_flag("--until-idle", o.until_idle,
                "Run the journaled commands, then exit (no harvests)");
  return cmd;
}

int runAgentCommand(const AgentCommandOptions& o) {
  auto pool = makeBridgePool(o.exchange);
  if (!pool) {
    std::cerr << "easgate: " << pool.error() << "\n";
    return kExitUsage;
  }
  auto store = agent::store::openStore(agent::store::storeFile(o.data_directory));
  if (!store) {
    std::cerr << "easgate: " << store.error().message << "\n";
    return kExitInputUnreadable;
  }
  agent::SystemClock clock;
  agent::AuditLog audit(*store.value());
  agent::CommandJournal journal(*store.value(), audit, clock);
  const std::size_t pool_size = o.exchange.poolSize();
  agent::BridgeExchangeGateway gateway(*pool.value());
  agent::ExecutorOptions executor_options;
  executor_options.parallelism = pool_size;
  executor_options.first_retry_ms = static_cast<std::int64_t>(o.first_retry_seconds * 1000);
  executor_options.max_retry_ms = static_cast<std::int64_t>(o.max_retry_seconds * 1000);
  agent::CommandExecutor executor(journal, gateway, clock, executor_options);
  agent::HarvestOptions harvest_options;
  harvest_options.parallelism = pool_size;
  harvest_options.correct_drift = o.correct_drift;
  // The harvester works beside the executor: a connection of its own (SQLite serialises the
  // two writers with its WAL locks).
  auto harvest_store = agent::store::openStore(agent::store::storeFile(o.data_directory));
  if (!harvest_store) {
    std::cerr << "easgate: " << harvest_store.error().message << "\n";
    return kExitInputUnreadable;
  }
  agent::Harvester harvester(*harvest_store.value(), gateway, &journal, clock, harvest_options);
  agent::AgentLoopOptions loop_options;
  loop_options.full_harvest_every_ms = minutesToMs(o.full_harvest_minutes);
  loop_options.delta_harvest_every_ms = minutesToMs(o.delta_harvest_minutes);
  agent::AgentLoop loop(executor, harvester, clock, loop_options);
  onStopRequest([&loop] { loop.stop(); });

  spdlog::info("easgate agent: store {}, Exchange '{}' through {} bridge(s)",
               agent::store::storeFile(o.data_directory).string(), o.exchange.exchange, pool_size);
  loop.run(o.until_idle);
  spdlog::info("easgate agent: stopped");
  return kExitOk;
}

}  // namespace easgate::service
