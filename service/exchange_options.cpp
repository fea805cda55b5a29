#include "service/exchange_options.h"

#include <cstdlib>

#include <CLI/CLI.hpp>

#include "powershell/host/bridge_process.h"
#include "service/console.h"

namespace easgate::service {
namespace {

constexpr const char* kPasswordVariable = "EASGATE_CERTIFICATE_PASSWORD";

}  // namespace

Result<powershell::BridgeCommand, powershell::BridgeError> exchangeBridgeCommand(
    const ExchangeOptions& o) {
  if (o.exchange == "simulator") {
    return powershell::BridgeCommand{
        o.simulator.empty() ? companionProgram("easgate-exchange-sim").string() : o.simulator,
        o.simulator_arguments,
        {}};
  }
  powershell::BridgeScriptSettings s;
  s.powershell = o.powershell;
  s.script =
      o.bridge_script.empty() ? (executableDirectory() / "bridge.ps1").string() : o.bridge_script;
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

std::size_t ExchangeOptions::poolSize() const {
  if (pool) return pool;
  // Sessions per account are scarce: Exchange Online allows few, on-premises 18 by default.
  if (exchange == "online") return 2;
  if (exchange == "onprem") return 8;
  return 4;
}

void addExchangeOptions(CLI::App& cmd, ExchangeOptions& o) {
  cmd.add_option("--exchange", o.exchange,
                 "simulator (easgate-exchange-sim, the default), online (Exchange Online, "
                 "app-only certificate auth), onprem (Kerberos, Windows PowerShell), or module")
      ->capture_default_str()
      ->check(CLI::IsMember({"simulator", "online", "onprem", "module"}));
  cmd.add_option("--simulator", o.simulator,
                 "easgate-exchange-sim to run (default: beside easgate)");
  cmd.add_option("--sim-arg", o.simulator_arguments,
                 "An argument for the simulator (repeat it), e.g. --sim-arg=--devices=5000")
      ->allow_extra_args(false);
  cmd.add_option("--powershell", o.powershell, "pwsh or powershell.exe (default: on the PATH)");
  cmd.add_option("--bridge-script", o.bridge_script, "bridge.ps1 (default: beside easgate)");
  cmd.add_option("--server", o.server, "onprem: the Exchange server");
  cmd.add_option("--app-id", o.app_id, "online: the application (client) ID");
  cmd.add_option("--organization", o.organization, "online: contoso.onmicrosoft.com");
  cmd.add_option("--certificate-file", o.certificate_file,
                 "online: the certificate (.pfx); its password in $EASGATE_CERTIFICATE_PASSWORD");
  cmd.add_option("--certificate-thumbprint", o.certificate_thumbprint,
                 "online, Windows: the certificate's thumbprint in the store");
  cmd.add_option("--module", o.module_path, "module: the module that provides the cmdlets");
  cmd.add_option("--pool", o.pool,
                 "Bridges (Exchange sessions) at most; default 2 online, 8 onprem, 4 otherwise")
      ->check(CLI::Range(1, 64));
  cmd.add_option("--request-timeout", o.request_timeout_seconds,
                 "Seconds before a silent bridge is restarted")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
}

Result<std::unique_ptr<powershell::BridgePool>, std::string> makeBridgePool(
    const ExchangeOptions& o) {
  auto command = exchangeBridgeCommand(o);
  if (!command) return command.error().message;
  powershell::BridgeProcessOptions process_options;
  process_options.request_timeout = std::chrono::seconds(o.request_timeout_seconds);
  return std::make_unique<powershell::BridgePool>(
      [bridge = command.value(),
       process_options]() -> Result<std::unique_ptr<powershell::Bridge>, powershell::BridgeError> {
        auto started = powershell::BridgeProcess::start(bridge, process_options);
        if (!started) return started.error();
        return std::unique_ptr<powershell::Bridge>(std::move(started).value());
      },
      o.poolSize());
}

}  // namespace easgate::service
