#include "service/doctor_command.h"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <iostream>

#include "agent/store/schema.h"
#include "agent/transport/certificates.h"
#include "powershell/host/bridge_process.h"
#include "protocol/requests.h"
#include "service/agent_config.h"
#include "service/agent_runtime.h"
#include "service/cli.h"
#include "service/console.h"

namespace easgate::service {
namespace {

constexpr std::int64_t kDayMs = 86400'000;
constexpr std::int64_t kExpiryWarningDays = 30;

// Prints each check as it runs: "ok", "warn" or "FAIL", what was found, and the fix.
class Report {
 public:
  void ok(const std::string& what) { std::cout << "  ok    " << what << "\n"; }
  void warn(const std::string& what, const std::string& fix) {
    std::cout << "  warn  " << what << "\n        fix: " << fix << "\n";
  }
  void fail(const std::string& what, const std::string& fix) {
    ++failures_;
    std::cout << "  FAIL  " << what << "\n        fix: " << fix << "\n";
  }
  int failures() const { return failures_; }

 private:
  int failures_ = 0;
};

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void checkCertificateFile(Report& r, const std::string& label, const std::string& file) {
  auto info = agent::transport::readCertificate(file);
  if (!info) {
    return r.fail(label + ": " + info.error(), "point the configuration at a PEM certificate");
  }
  const std::int64_t now = nowMs();
  const std::string until = protocol::formatUtcTime(info->not_after_ms).substr(0, 10);
  if (info->not_after_ms < now) {
    return r.fail(label + " " + info->subject + " expired on " + until,
                  "issue a new certificate and restart the agent");
  }
  if (info->not_before_ms > now) {
    return r.fail(label + " " + info->subject + " is not valid before " +
                      protocol::formatUtcTime(info->not_before_ms),
                  "check the machine's clock");
  }
  if (info->not_after_ms - now < kExpiryWarningDays * kDayMs) {
    return r.warn(label + " " + info->subject + " expires on " + until,
                  "renew it before then; the agent refuses to serve with an expired one");
  }
  r.ok(label + " " + info->subject + " (valid until " + until + ", sha256 " +
       info->thumbprint.substr(0, 16) + "...)");
}

void checkTls(Report& r, const AgentConfig& c) {
  const auto& tls = c.listen.tls;
  if (c.listen.plain_http) {
    return r.warn("plain HTTP on " + c.listen.address + " (development only)",
                  "configure tls.certificate, tls.key and tls.client_ca for production");
  }
  checkCertificateFile(r, "server certificate", tls.certificate_file);
  if (auto m = agent::transport::checkKeyMatches(tls.certificate_file, tls.key_file); !m) {
    r.fail(m.error(), "configure tls.key as the key the certificate was issued for");
  } else {
    r.ok("the key " + tls.key_file + " belongs to the server certificate");
  }
  if (tls.client_ca_file.empty()) {
    if (tls.require_client_certificate) {
      r.fail("no client CA (tls.client_ca)", "configure the CA that issues the MDM's certificates");
    }
    return;
  }
  auto ca = agent::transport::readCertificate(tls.client_ca_file);
  if (!ca) return r.fail("client CA: " + ca.error(), "point tls.client_ca at a PEM CA certificate");
  if (!ca->is_ca) {
    r.fail("client CA " + ca->subject + " is not a CA certificate",
           "use the issuing CA's certificate, not a client's");
  } else {
    checkCertificateFile(r, "client CA", tls.client_ca_file);
  }
  // The server's chain is checked against the client CA when the same CA issued both (as in
  // the development PKI); a public or enterprise server CA is the clients' concern.
  auto server = agent::transport::readCertificate(tls.certificate_file);
  if (server && server->issuer == ca->subject) {
    if (auto v = agent::transport::verifyChain(tls.certificate_file, tls.client_ca_file); !v) {
      r.fail("server certificate chain: " + v.error(), "reissue it from the CA");
    } else {
      r.ok("server certificate chains to " + ca->subject);
    }
  }
  if (c.clients.empty()) {
    r.fail("no client is mapped to a role",
           "add clients: [{\"subject\": \"CN=...\", \"role\": ...}]");
  } else {
    r.ok(std::to_string(c.clients.size()) + " client rule(s) map certificates to roles");
  }
}

void checkPort(Report& r, const AgentConfig& c) {
  namespace net = boost::asio;
  net::io_context io;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(c.listen.address, ec);
  if (ec)
    return r.fail("listen.address " + c.listen.address + " is not an IP address",
                  "use 0.0.0.0 or a local address");
  net::ip::tcp::acceptor acceptor(io);
  acceptor.open(address.is_v4() ? net::ip::tcp::v4() : net::ip::tcp::v6(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind({address, c.listen.port}, ec);
  const std::string where = c.listen.address + ":" + std::to_string(c.listen.port);
  if (ec) {
    return r.fail("cannot listen on " + where + ": " + ec.message(),
                  ec == net::error::address_in_use
                      ? "another process holds the port (is the agent already running?)"
                      : "run with the rights to bind the port, or choose another");
  }
  r.ok("port " + where + " is free");
}

void checkStore(Report& r, const AgentConfig& c) {
  const auto file = agent::store::storeFile(c.runtime.data_directory);
  if (auto problem = foreignOwnerProblem(c.runtime.data_directory); !problem.empty()) {
    return r.warn("store not opened: " + problem, "run doctor as the agent's account");
  }
  auto store = openDataStore(c.runtime.data_directory);
  if (!store) {
    return r.fail("store " + file.string() + ": " + store.error(),
                  "make the data directory writable by the agent's account");
  }
  r.ok("store " + file.string() + " opens (schema up to date)");
}

void checkExchange(Report& r, const AgentConfig& c) {
  const ExchangeOptions& x = c.runtime.exchange;
  auto command = exchangeBridgeCommand(x);
  if (!command)
    return r.fail("Exchange '" + x.exchange + "': " + command.error().message,
                  "see easgate run --help and the sample configuration");
  powershell::BridgeProcessOptions options;
  options.connect_timeout = std::chrono::seconds(120);
  auto bridge = powershell::BridgeProcess::start(command.value(), options);
  if (!bridge) {
    return r.fail(
        "Exchange '" + x.exchange + "' through " + command->program + ": " + bridge.error().message,
        x.exchange == "simulator"
            ? "install easgate-exchange-sim beside easgate, or set exchange.simulator"
            : "check PowerShell (pwsh 7 for online), the module and the credentials");
  }
  r.ok("Exchange '" + x.exchange + "' connected through " + command->program + ": " +
       bridge.value()->readyInfo());
  bridge.value()->close();
}

}  // namespace

CLI::App* addDoctorCommand(CLI::App& app, DoctorOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "doctor", "Check the configuration, certificates, port, store, PowerShell and Exchange");
  cmd->footer("Exit code 0 when every check passed (warnings allowed), 8 when one failed.");
  o.config_file = defaultConfigFile();
  cmd->add_option("-c,--config", o.config_file, "The configuration file")->capture_default_str();
  cmd->add_flag("--skip-exchange", o.skip_exchange,
                "Do not start PowerShell and connect to Exchange");
  return cmd;
}

int runDoctorCommand(const DoctorOptions& o) {
  Report r;
  std::cout << "easgate doctor: " << o.config_file.string() << "\n";
  auto config = loadAgentConfig(o.config_file);
  if (!config) {
    r.fail(config.error(), "correct the file; service/easgate.sample.json documents every key");
    return kExitUnhealthy;
  }
  r.ok("configuration reads");
  checkTls(r, config.value());
  checkPort(r, config.value());
  checkStore(r, config.value());
  if (!o.skip_exchange) checkExchange(r, config.value());
  std::cout << (r.failures() ? std::to_string(r.failures()) + " check(s) failed\n"
                             : std::string("all checks passed\n"));
  return r.failures() ? kExitUnhealthy : kExitOk;
}

}  // namespace easgate::service
