#include "powershell/host/bridge_command.h"

#include <boost/process/search_path.hpp>
#include <filesystem>

namespace easgate::powershell {
namespace {

constexpr const char* kPasswordVariable = "EASGATE_BRIDGE_CERTIFICATE_PASSWORD";

BridgeError setupError(std::string message) {
  return BridgeError{BridgeErrc::kBridgeFailed, std::move(message), "", 0};
}

std::string findPowerShell() {
  for (const char* name : {"pwsh", "powershell"}) {
    auto found = boost::process::search_path(name);
    if (!found.empty()) return found.string();
  }
  return "";
}

// A program named without a folder ("pwsh", "powershell.exe") is looked up on the PATH, as a
// shell would; one with a folder is taken as it is.
std::string onPath(const std::string& program) {
  if (program.find('/') != std::string::npos || program.find('\\') != std::string::npos) {
    return program;
  }
  auto found = boost::process::search_path(program);
  return found.empty() ? program : found.string();
}

}  // namespace

Result<BridgeCommand, BridgeError> bridgeScriptCommand(const BridgeScriptSettings& s) {
  BridgeCommand command;
  command.program = s.powershell.empty() ? findPowerShell() : onPath(s.powershell);
  if (command.program.empty()) {
    return setupError(
        "no PowerShell found: install PowerShell 7 (pwsh) or name powershell.exe in the "
        "configuration");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(s.script, ec)) {
    return setupError("bridge script not found: " + s.script);
  }
  auto& a = command.arguments;
  // -ExecutionPolicy Bypass: Windows PowerShell 5.1 refuses to run any script file under its
  // default policy (Restricted on Windows Server before 2012 R2, RemoteSigned after), and the
  // installed bridge.ps1 is not signed; pwsh elsewhere ignores the parameter.
  a = {"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", s.script};
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) a.insert(a.end(), {name, value});
  };
  switch (s.mode) {
    case BridgeMode::kOnPremises:
      if (s.server.empty()) return setupError("on-premises Exchange needs a server name");
      add("-Mode", "onprem");
      add("-Server", s.server);
      break;
    case BridgeMode::kOnline:
      if (s.app_id.empty() || s.organization.empty()) {
        return setupError("Exchange Online needs an application ID and an organization");
      }
      if (s.certificate_file.empty() == s.certificate_thumbprint.empty()) {
        return setupError(
            "Exchange Online needs a certificate: a file or (on Windows) a thumbprint, not both");
      }
      add("-Mode", "online");
      add("-AppId", s.app_id);
      add("-Organization", s.organization);
      add("-CertificateThumbprint", s.certificate_thumbprint);
      add("-CertificateFilePath", s.certificate_file);
      if (!s.certificate_password.empty()) {
        add("-CertificatePasswordVariable", kPasswordVariable);
        command.environment.emplace_back(kPasswordVariable, s.certificate_password);
      }
      break;
    case BridgeMode::kModule:
      if (s.module_path.empty()) return setupError("module mode needs a module path");
      add("-Mode", "module");
      add("-ModulePath", s.module_path);
      break;
  }
  add("-BatchSize", std::to_string(s.batch_size));
  add("-HeartbeatSeconds", std::to_string(s.heartbeat_seconds));
  return command;
}

}  // namespace easgate::powershell
