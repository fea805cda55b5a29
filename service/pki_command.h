#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace easgate::service {

struct PkiCommandOptions {
  std::filesystem::path directory;        // the development PKI (easgate demo's pki/)
  std::vector<std::string> certificates;  // PEM files to revoke
};

// Adds `easgate pki revoke`: revokes client certificates of the development PKI.
CLI::App* addPkiCommand(CLI::App& app, PkiCommandOptions& options);

int runPkiRevoke(const PkiCommandOptions& options);

}  // namespace easgate::service
