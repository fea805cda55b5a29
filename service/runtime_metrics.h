#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "agent/harvest/harvester.h"

// What GET /metrics says of the running program beyond the store: the process, the
// certificates it serves and trusts, and the harvests that failed.
namespace easgate::service {

// This process's use of the machine (console.h's platforms measure it).
struct ProcessUsage {
  double cpu_seconds = 0;  // user and system
  std::uint64_t resident_bytes = 0;
  std::int64_t open_files = -1;  // descriptors (POSIX) or handles (Windows); -1: unknown
};
ProcessUsage processUsage();

struct CertificateExpiry {
  std::string certificate;  // "server", "client_ca"
  std::int64_t not_after_ms = 0;
};

struct RuntimeMetricsSources {
  std::int64_t started_ms = 0;
  std::vector<CertificateExpiry> certificates;
  // Harvests that failed, by kind and class; null: not known.
  std::function<std::uint64_t(agent::HarvestKind, agent::HarvestErrc)> harvest_failures;
  // Commands that failed, by class (CommandExecutor::failuresByClass); null: not known.
  std::function<std::vector<std::pair<std::string, std::uint64_t>>()> command_failures;
};

// Appends the Prometheus text for them; `now_ms` for the certificates' remaining time.
void appendRuntimeMetrics(std::string& out, const RuntimeMetricsSources& sources,
                          std::int64_t now_ms);

}  // namespace easgate::service
