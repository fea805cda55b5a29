#pragma once

#include <filesystem>

namespace CLI {
class App;
}

namespace easgate::service {

struct DemoOptions {
  std::filesystem::path directory = "easgate-demo";
  int port = 9090;
  unsigned mailboxes = 1000;
};

// Adds `easgate demo`: a development PKI, a configuration and a simulated Exchange in one
// folder, then the agent on them, with the lines to try printed first.
CLI::App* addDemoCommand(CLI::App& app, DemoOptions& options);

int runDemoCommand(const DemoOptions& options);

}  // namespace easgate::service
