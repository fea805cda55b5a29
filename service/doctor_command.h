#pragma once

#include <filesystem>
#include <string>

namespace CLI {
class App;
}

namespace easgate::service {

struct DoctorOptions {
  std::filesystem::path config_file;
  bool skip_exchange = false;
  std::string client_certificate;  // with the key: ask a running agent's health
  std::string client_key;
};

// Adds `easgate doctor`: checks a configuration and the machine, and says what to fix.
CLI::App* addDoctorCommand(CLI::App& app, DoctorOptions& options);

int runDoctorCommand(const DoctorOptions& options);

}  // namespace easgate::service
