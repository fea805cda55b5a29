#include "service/agent_command.h"

#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "agent/agent_loop.h"
#include "agent/gateway/bridge_exchange_gateway.h"
#include "agent/store/schema.h"
#include "powershell/host/bridge_pool.h"
#include "powershell/host/bridge_process.h"
#include "service/cli.h"
#include "service/console.h"

namespace easgate::service {
namespace {

constexpr const char* kPasswordVariable = "EASGATE_CERTIFICATE_PASSWORD";

// Sessions per account are scarce: Exchange Online allows few, on-premises 18 by default.
std::size_t defaultPool(const std::string& exchange) {
  if (exchange == "online") return 2;
  if (exchange == "onprem") return 8;
  return 4;
}

std::string besideExecutable(const char* name) { return (executableDirectory() / name).string(); }

Result<powershell::BridgeCommand, powershell::BridgeError> bridgeCommand(
    const AgentCommandOptions& o) {
  if (o.exchange == "simulator") {
    return powershell::BridgeCommand{
        o.simulator.empty() ? besideExecutable("easgate-exchange-sim") : o.simulator,
        o.simulator_arguments,
        {}};
  }
  powershell::BridgeScriptSettings s;
  s.powershell = o.powershell;
  s.script = o.bridge_script.empty() ? besideExecutable("bridge.ps1") : o.bridge_script;
  s.mode = o.exchange == "online"   ? powershell::BridgeMode::kOnline
           : o.exchange == "onprem" ? powershell::BridgeMode::kOnPremises
                                    : powershell::BridgeMode::kModule;
  s.server = o.server;
  s.app_id = o.app_id;
  s.organization = o.organization;
  s.certificate_file = o.certificate_file;
  s.certificate_thumbprint = o.certificate_thumbprint;
  if (const char* password = std::getenv(kPasswordVariable)) s.certificate_password = password;
  s.module_path = o.module_path;
  return powershell::bridgeScriptCommand(s);
}

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
  cmd->add_option("--exchange", o.exchange, "Which Exchange to drive")
      ->capture_default_str()
      ->check(CLI::IsMember({"simulator", "online", "onprem", "module"}));
  cmd->add_option("--simulator", o.simulator,
                  "easgate-exchange-sim to run (default: beside easgate)");
  cmd->add_option("--sim-arg", o.simulator_arguments,
                  "An argument for the simulator (repeat it), e.g. --sim-arg=--devices=5000")
      ->allow_extra_args(false);
  cmd->add_option("--powershell", o.powershell, "pwsh or powershell.exe (default: on the PATH)");
  cmd->add_option("--bridge-script", o.bridge_script, "bridge.ps1 (default: beside easgate)");
  cmd->add_option("--server", o.server, "onprem: the Exchange server");
  cmd->add_option("--app-id", o.app_id, "online: the application (client) ID");
  cmd->add_option("--organization", o.organization, "online: contoso.onmicrosoft.com");
  cmd->add_option("--certificate-file", o.certificate_file, "online: the certificate (.pfx)");
  cmd->add_option("--certificate-thumbprint", o.certificate_thumbprint,
                  "online, Windows: the certificate's thumbprint in the store");
  cmd->add_option("--module", o.module_path, "module: the module that provides the cmdlets");
  cmd->add_option("--pool", o.pool,
                  "Bridges (Exchange sessions) at most; default 2 online, 8 onprem, 4 otherwise")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--request-timeout", o.request_timeout_seconds,
                  "Seconds before a silent bridge is restarted")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--full-harvest-minutes", o.full_harvest_minutes,
                  "Minutes between full harvests (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--delta-harvest-minutes", o.delta_harvest_minutes,
                  "Minutes between delta harvests (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_flag("--correct-drift", o.correct_drift,
                "Queue a correction when Exchange's allowed list drifts from the MDM's");
  cmd->add_flag("--until-idle", o.until_idle,
                "Run the journaled commands, then exit (no harvests)");
  return cmd;
}

int runAgentCommand(const AgentCommandOptions& o) {
  auto command = bridgeCommand(o);
  if (!command) {
    std::cerr << "easgate: " << command.error().message << "\n";
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
  powershell::BridgeProcessOptions bridge_options;
  bridge_options.request_timeout = std::chrono::seconds(o.request_timeout_seconds);
  const std::size_t pool_size = o.pool ? o.pool : defaultPool(o.exchange);
  powershell::BridgePool pool(
      [bridge = command.value(),
       bridge_options]() -> Result<std::unique_ptr<powershell::Bridge>, powershell::BridgeError> {
        auto started = powershell::BridgeProcess::start(bridge, bridge_options);
        if (!started) return started.error();
        return std::unique_ptr<powershell::Bridge>(std::move(started).value());
      },
      pool_size);
  agent::BridgeExchangeGateway gateway(pool);
  agent::ExecutorOptions executor_options;
  executor_options.parallelism = pool_size;
  agent::CommandExecutor executor(journal, gateway, clock, executor_options);
  agent::HarvestOptions harvest_options;
  harvest_options.parallelism = pool_size;
  harvest_options.correct_drift = o.correct_drift;
  agent::Harvester harvester(*store.value(), gateway, &journal, clock, harvest_options);
  agent::AgentLoopOptions loop_options;
  loop_options.full_harvest_every_ms = minutesToMs(o.full_harvest_minutes);
  loop_options.delta_harvest_every_ms = minutesToMs(o.delta_harvest_minutes);
  agent::AgentLoop loop(executor, harvester, clock, loop_options);
  onStopRequest([&loop] { loop.stop(); });

  spdlog::info("easgate agent: store {}, Exchange '{}' through {} bridge(s) ({})",
               agent::store::storeFile(o.data_directory).string(), o.exchange, pool_size,
               command->program);
  loop.run(o.until_idle);
  spdlog::info("easgate agent: stopped");
  return kExitOk;
}

}  // namespace easgate::service
