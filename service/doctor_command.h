#pragma once

#include <filesystem>

namespace CLI {
class App;
}

namespace easgate::service {

struct DoctorOptions {
  std::filesystem::path config_file;
  bool skip_exchange = false;
};

// Adds `easgate doctor`: checks a configuration and the machine, and says what to fix.
CLI::App* addDoctorCommand(CLI::App& app, DoctorOptions& options);

int runDoctorCommand(const DoctorOptions& options);

}  // namespace easgate::service
