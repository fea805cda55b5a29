#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "service/agent_runtime.h"

namespace CLI {
class App;
}

namespace easgate::service {

struct AgentCommandOptions {
  RuntimeOptions runtime;
  bool until_idle = false;
};

// Adds `easgate agent`: the agent's engine in the foreground, without the 9090 listener (for
// scripts and batch runs; `easgate run` is the service).
CLI::App* addAgentCommand(CLI::App& app, AgentCommandOptions& options);

// Runs the agent until stopped (or, with --until-idle, until no command is left).
int runAgentCommand(const AgentCommandOptions& options);

}  // namespace easgate::service
