#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace easgate::service {

struct AgentCommandOptions {
  std::filesystem::path data_directory;
  std::string exchange = "simulator";  // simulator, online, onprem, module
  std::string simulator;               // easgate-exchange-sim; default: beside easgate
  std::vector<std::string> simulator_arguments;
  std::string powershell;  // pwsh or powershell.exe; default: found on PATH
  std::string bridge_script;
  std::string server;
  std::string app_id;
  std::string organization;
  std::string certificate_file;
  std::string certificate_thumbprint;
  std::string module_path;
  std::size_t pool = 0;  // 0: the mode's default
  int request_timeout_seconds = 300;
  double full_harvest_minutes = 360;
  double delta_harvest_minutes = 15;
  bool correct_drift = false;
  bool until_idle = false;
};

// Adds `easgate agent`: run the agent in the foreground (the service host runs the same).
CLI::App* addAgentCommand(CLI::App& app, AgentCommandOptions& options);

// Runs the agent until stopped (or, with --until-idle, until no command is left).
int runAgentCommand(const AgentCommandOptions& options);

}  // namespace easgate::service
