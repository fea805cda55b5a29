#include "service/run_command.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "agent/agent_loop.h"
#include "agent/api/api_service.h"
#include "agent/commands/command_executor.h"
#include "agent/store/schema.h"
#include "agent/time/clock.h"
#include "agent/transport/certificates.h"
#include "agent/transport/http_server.h"
#include "common/files/atomic_file.h"
#include "powershell/host/bridge_pool.h"
#include "service/agent_config.h"
#include "service/agent_runtime.h"
#include "service/cli.h"
#include "service/console.h"
#include "service/logging.h"
#include "service/runtime_metrics.h"
#include "service/service_host.h"
#include "service/stop_request.h"

#ifndef EASGATE_VERSION
#define EASGATE_VERSION "unknown"
#endif

namespace easgate::service {
namespace {

constexpr std::size_t kReaderConnections = 4;

int serve(const RunCommandOptions& o, ServiceEvents& events) {
  // First, before any thread starts: on POSIX this blocks SIGTERM and SIGINT for every thread
  // that follows, so the signal reaches the one that waits for it.
  auto stop_request = std::make_shared<StopRequest>();
  events.onStop([stop_request] { stop_request->request(); });
  auto config = loadAgentConfig(o.config_file);
  if (!config) {
    events.startFailed(config.error());
    return kExitUsage;
  }
  AgentConfig& c = config.value();
  if (o.port) c.listen.port = static_cast<std::uint16_t>(*o.port);
  if (auto warning = setupLogging(c.log, "easgate"); !warning.empty()) spdlog::warn("{}", warning);

  auto runtime = AgentRuntime::open(c.runtime);
  if (!runtime) {
    events.startFailed(runtime.error());
    return kExitUsage;
  }
  AgentRuntime& rt = *runtime.value();
  auto readers = agent::api::openReaders(c.runtime.data_directory, kReaderConnections);
  if (!readers) {
    events.startFailed(readers.error().message);
    return kExitInputUnreadable;
  }
  agent::api::ApiOptions api_options;
  api_options.version = EASGATE_VERSION;
  api_options.exchange = c.runtime.exchange.exchange;
  api_options.command_deadline_ms = static_cast<std::int64_t>(c.command_deadline_hours * 3600'000);
  api_options.requests_per_second = c.requests_per_second;
  api_options.burst = c.burst;
  powershell::BridgePool& pool = rt.pool();
  agent::AgentLoop& loop = rt.loop();
  agent::api::ApiService api(
      std::move(readers).value(), rt.journal(), rt.clock(),
      agent::api::AccessPolicy(c.clients, c.anonymous_role), api_options,
      [&pool] {
        const auto s = pool.stats();
        return agent::api::BridgeCounters{s.size, s.started, s.replaced, s.requests, s.busy};
      },
      [&loop] { loop.wake(); });
  rt.onHarvest([&api] { api.eventsWritten(); });
  api.onHarvestRequested([&loop](agent::HarvestKind kind) { loop.requestHarvest(kind); });
  RuntimeMetricsSources metrics;
  metrics.started_ms = rt.clock().nowMs();
  if (!c.listen.plain_http) {
    for (const auto& [which, file] : {std::pair{"server", c.listen.tls.certificate_file},
                                      std::pair{"client_ca", c.listen.tls.client_ca_file}}) {
      if (auto info = agent::transport::readCertificate(file)) {
        metrics.certificates.push_back({which, info->not_after_ms});
      }
    }
  }
  metrics.harvest_failures = [&loop](agent::HarvestKind kind, agent::HarvestErrc why) {
    return loop.harvestFailures(kind, why);
  };
  metrics.command_failures = [&rt] { return rt.executor().failuresByClass(); };
  api.onMetrics(
      [&rt, metrics](std::string& out) { appendRuntimeMetrics(out, metrics, rt.clock().nowMs()); });

  auto server = agent::transport::startHttpServer(
      c.listen, [&api](const agent::transport::HttpRequest& r) { return api.handle(r); });
  if (!server) {
    events.startFailed(server.error());
    return kExitUsage;
  }
  const std::uint16_t port = server.value()->port();
  if (!o.port_file.empty()) {
    // Whole or not at all: a script waiting for the file never reads it half written.
    if (auto written = files::writeWholeFile(o.port_file, std::to_string(port) + "\n"); !written) {
      events.startFailed("cannot write the port file: " + written.error().message);
      return kExitOutputFailed;
    }
  }
  stop_request->handTo([&loop] { loop.stop(); });
  const std::string where = (c.listen.plain_http ? "http://" : "https://") + c.listen.address +
                            ":" + std::to_string(port);
  spdlog::info("easgate {}: listening on {} ({}), store {}, Exchange '{}' through {} bridge(s)",
               EASGATE_VERSION, where,
               c.listen.plain_http ? "plain HTTP, loopback only"
                                   : (c.listen.tls.require_client_certificate
                                          ? "TLS, client certificates required"
                                          : "TLS, client certificates optional"),
               rt.storeFile().string(), c.runtime.exchange.exchange, c.runtime.exchange.poolSize());
  events.ready("listening on " + where);
  loop.run();  // until stopped
  events.stopping();
  spdlog::info("easgate: stopping");
  api.shutdown();
  server.value()->stop();
  stop_request->handTo(nullptr);  // the loop is about to go
  spdlog::info("easgate: stopped");
  return kExitOk;
}

}  // namespace

CLI::App* addRunCommand(CLI::App& app, RunCommandOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "run", "Run the agent: the 9090 listener, journaled commands and timed harvests");
  cmd->footer(
      "The configuration file is documented in service/easgate.sample.json.\n"
      "Under systemd it reports readiness (Type=notify); started by the Windows Service\n"
      "Control Manager it runs as the service, otherwise in the console. Stop with Ctrl+C or\n"
      "SIGTERM: commands in flight are journaled and resume on restart.");
  o.config_file = defaultConfigFile();
  cmd->add_option("-c,--config", o.config_file, "The configuration file")->capture_default_str();
  cmd->add_option("--port", o.port, "Listen on this port instead (0: any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--port-file", o.port_file, "Write the port listened on to this file");
  return cmd;
}

int runRunCommand(const RunCommandOptions& o) {
  return runAsService("easgate", [&o](ServiceEvents& events) { return serve(o, events); });
}

}  // namespace easgate::service
