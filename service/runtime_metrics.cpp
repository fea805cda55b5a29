#include "service/runtime_metrics.h"

#include "agent/api/http_metrics.h"

namespace easgate::service {

using agent::api::prometheusNumber;

void appendRuntimeMetrics(std::string& out, const RuntimeMetricsSources& sources,
                          std::int64_t now_ms) {
  const ProcessUsage usage = processUsage();
  out += "# HELP process_cpu_seconds_total CPU time used, user and system.\n";
  out += "# TYPE process_cpu_seconds_total counter\n";
  out += "process_cpu_seconds_total " + prometheusNumber(usage.cpu_seconds) + "\n";
  out += "# HELP process_resident_memory_bytes Resident memory.\n";
  out += "# TYPE process_resident_memory_bytes gauge\n";
  out += "process_resident_memory_bytes " + std::to_string(usage.resident_bytes) + "\n";
  if (usage.open_files >= 0) {
    out += "# HELP process_open_fds Open file descriptors (handles on Windows).\n";
    out += "# TYPE process_open_fds gauge\n";
    out += "process_open_fds " + std::to_string(usage.open_files) + "\n";
  }
  out += "# HELP process_start_time_seconds When the agent started (Unix time).\n";
  out += "# TYPE process_start_time_seconds gauge\n";
  out += "process_start_time_seconds " + prometheusNumber(sources.started_ms / 1000.0) + "\n";

  if (!sources.certificates.empty()) {
    out +=
        "# HELP easgate_certificate_expiry_seconds Seconds until a certificate the listener uses "
        "expires (negative: expired).\n";
    out += "# TYPE easgate_certificate_expiry_seconds gauge\n";
    for (const auto& c : sources.certificates) {
      out += "easgate_certificate_expiry_seconds{certificate=\"" + c.certificate + "\"} " +
             std::to_string((c.not_after_ms - now_ms) / 1000) + "\n";
    }
  }

  if (sources.harvest_failures) {
    out +=
        "# HELP easgate_harvest_failures_total Harvests that failed since the agent started, "
        "by kind and class (exchange: Exchange or PowerShell refused; store: the inventory "
        "could not be written; busy: another harvest held the inventory).\n";
    out += "# TYPE easgate_harvest_failures_total counter\n";
    for (const auto& [kind, kind_name] : {std::pair{agent::HarvestKind::kFull, "full"},
                                          std::pair{agent::HarvestKind::kDelta, "delta"}}) {
      for (const auto& [why, why_name] : {std::pair{agent::HarvestErrc::kExchange, "exchange"},
                                          std::pair{agent::HarvestErrc::kStore, "store"},
                                          std::pair{agent::HarvestErrc::kBusy, "busy"}}) {
        out += "easgate_harvest_failures_total{kind=\"" + std::string(kind_name) + "\",class=\"" +
               why_name + "\"} " + std::to_string(sources.harvest_failures(kind, why)) + "\n";
      }
    }
  }

  if (sources.command_failures) {
    out +=
        "# HELP easgate_command_failures_total Commands that failed since the agent started, by "
        "class: Exchange's error category (not-found, invalid-argument, ambiguous, other, ...), "
        "deadline (retried until its deadline) or prerequisite (a command it waited for "
        "failed).\n";
    out += "# TYPE easgate_command_failures_total counter\n";
    for (const auto& [failure_class, n] : sources.command_failures()) {
      out += "easgate_command_failures_total{class=\"" + failure_class + "\"} " +
             std::to_string(n) + "\n";
    }
  }
}

}  // namespace easgate::service
