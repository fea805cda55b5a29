#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "powershell/host/bridge_command.h"
#include "powershell/host/bridge_pool.h"

namespace CLI {
class App;
}

namespace easgate::service {

// How a command reaches Exchange: which kind, and the bridge settings for it.
struct ExchangeOptions {
  std::string exchange = "simulator";  // simulator, online, onprem, module
  std::string simulator;               // easgate-exchange-sim; default: beside easgate
  std::vector<std::string> simulator_arguments;
  std::string powershell;  // pwsh or powershell.exe; default: found on the PATH
  std::string bridge_script;
  std::string server;
  std::string app_id;
  std::string organization;
  std::string certificate_file;
  std::string certificate_thumbprint;
  std::string module_path;
  std::size_t pool = 0;  // 0: the kind's default
  int request_timeout_seconds = 300;

  // Bridges at most: the option, or 2 online, 8 on-premises, 4 otherwise.
  std::size_t poolSize() const;
};

// Adds the options above to a command, with their help.
void addExchangeOptions(CLI::App& command, ExchangeOptions& options);

// The command line of one bridge process for them, or why there is none.
Result<powershell::BridgeCommand, powershell::BridgeError> exchangeBridgeCommand(
    const ExchangeOptions& options);

// The bridge pool they describe (bridges start on first use), or why there is none.
Result<std::unique_ptr<powershell::BridgePool>, std::string> makeBridgePool(
    const ExchangeOptions& options);

}  // namespace easgate::service
