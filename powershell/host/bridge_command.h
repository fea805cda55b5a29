#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "powershell/bridge/bridge_error.h"

namespace easgate::powershell {

// How to start a bridge process: a program, its arguments, and variables added to the
// environment it inherits (secrets go there, never on a command line).
struct BridgeCommand {
  std::string program;
  std::vector<std::string> arguments;
  std::vector<std::pair<std::string, std::string>> environment;
};

enum class BridgeMode { kOnPremises, kOnline, kModule };

// bridge.ps1 and how it connects; see the script's help for each parameter.
struct BridgeScriptSettings {
  std::string powershell;  // pwsh or powershell.exe; empty: found on PATH (pwsh first)
  std::string script;      // path to bridge.ps1
  BridgeMode mode = BridgeMode::kOnline;
  std::string server;                  // onprem
  std::string app_id;                  // online
  std::string organization;            // online: contoso.onmicrosoft.com
  std::string certificate_thumbprint;  // online, Windows only
  std::string certificate_file;        // online
  std::string certificate_password;    // online: handed over in the environment
  std::string module_path;             // module
  int batch_size = 500;
  double heartbeat_seconds = 15;
};

// The command line that runs bridge.ps1 in PowerShell with these settings, or a clear error
// (no PowerShell found, a setting its mode needs is missing).
Result<BridgeCommand, BridgeError> bridgeScriptCommand(const BridgeScriptSettings& settings);

}  // namespace easgate::powershell
