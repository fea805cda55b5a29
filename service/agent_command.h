#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "service/exchange_options.h"

namespace CLI {
class App;
}

namespace easgate::service {

struct AgentCommandOptions {
  std::filesystem::path data_directory;
  ExchangeOptions exchange;
  double full_harvest_minutes = 360;
  double delta_harvest_minutes = 15;
  double first_retry_seconds = 5;  // the first retry's delay, doubling after each
  double max_retry_seconds = 900;  // the longest delay between two attempts
  bool correct_drift = false;
  bool until_idle = false;
};

// Adds `easgate agent`: run the agent in the foreground (the service host runs the same).
CLI::App* addAgentCommand(CLI::App& app, AgentCommandOptions& options);

// Runs the agent until stopped (or, with --until-idle, until no command is left).
int runAgentCommand(const AgentCommandOptions& options);

}  // namespace easgate::service
