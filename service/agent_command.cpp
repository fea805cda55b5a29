#include "service/agent_command.h"

#include <iostream>
#include <memory>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "agent/agent_loop.h"
#include "service/agent_runtime.h"
#include "service/cli.h"
#include "service/console.h"
#include "service/stop_request.h"

namespace easgate::service {
CLI::App* addAgentCommand(CLI::App& app, AgentCommandOptions& options) {
  RuntimeOptions& o = options.runtime;
  CLI::App* cmd = app.add_subcommand(
      "agent", "Run the agent engine without the 9090 listener: journaled commands and harvests");
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
  cmd->add_option("--history-days", o.history_days,
                  "Days of field history and events kept; older ones are deleted after each "
                  "full harvest (0: kept for ever)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 36500.0));
  cmd->add_flag("--correct-drift", o.correct_drift,
                "Queue a correction when Exchange's allowed list drifts from the MDM's");
  cmd->add_flag("--until-idle", options.until_idle,
                "Run the journaled commands, then exit (no harvests)");
  return cmd;
}

int runAgentCommand(const AgentCommandOptions& o) {
  // First, before the runtime starts its threads (bridges, store, harvests): see StopRequest.
  auto stop_request = std::make_shared<StopRequest>();
  onStopRequest([stop_request] { stop_request->request(); });
  spdlog::set_level(spdlog::level::info);  // the agent in the foreground says what it does
  auto runtime = AgentRuntime::open(o.runtime);
  if (!runtime) {
    std::cerr << "easgate: " << runtime.error() << "\n";
    return kExitUsage;
  }
  agent::AgentLoop& loop = runtime.value()->loop();
  stop_request->handTo([&loop] { loop.stop(); });
  spdlog::info("easgate agent: store {}, Exchange '{}' through {} bridge(s)",
               runtime.value()->storeFile().string(), o.runtime.exchange.exchange,
               o.runtime.exchange.poolSize());
  loop.run(o.until_idle);
  stop_request->handTo(nullptr);  // the loop is about to go
  spdlog::info("easgate agent: stopped");
  return kExitOk;
}

}  // namespace easgate::service
