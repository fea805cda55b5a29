#include "service/doctor_command.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "agent/inventory/inventory_store.h"
#include "agent/store/schema.h"
#include "agent/transport/certificates.h"
#include "agent/transport/http_server.h"
#include "common/time/utc_time.h"
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
  const std::string until = utc::formatUnixMs(info->not_after_ms).substr(0, 10);
  if (info->not_after_ms < now) {
    return r.fail(label + " " + info->subject + " expired on " + until,
                  "issue a new certificate and restart the agent");
  }
  if (info->not_before_ms > now) {
    return r.fail(label + " " + info->subject + " is not valid before " +
                      utc::formatUnixMs(info->not_before_ms),
                  "check the machine's clock");
  }
  if (info->not_after_ms - now < kExpiryWarningDays * kDayMs) {
    return r.warn(label + " " + info->subject + " expires on " + until,
                  "renew it before then; the agent refuses to serve with an expired one");
  }
  r.ok(label + " " + info->subject + " (valid until " + until + ", sha256 " +
       info->thumbprint.substr(0, 16) + "...)");
}

// A private key others may read is no longer private. Group read is how the packages hand it
// to the service's account (root:easgate 0640).
void checkKeyIsPrivate(Report& r, const std::string& key_file) {
  std::error_code ec;
  const auto perms = std::filesystem::status(key_file, ec).permissions();
  if (ec) return;  // reading it failed already, and said so
  using P = std::filesystem::perms;
  if ((perms & (P::others_read | P::others_write)) != P::none) {
    return r.fail("the private key " + key_file + " is readable by every account on this machine",
                  "chmod 0640 (or 0600) it, and chgrp it to the agent's group");
  }
  r.ok("the private key " + key_file + " is not readable by others");
}

// A rule that names only a common name matches any certificate the client CA issues with that
// name, whatever the rest of its subject.
void checkClientRules(Report& r, const AgentConfig& c) {
  for (const auto& rule : c.clients) {
    const std::string& subject = rule.subject;
    if (rule.thumbprint.empty() && subject.rfind("CN=", 0) == 0 &&
        subject.find(',') == std::string::npos) {
      r.warn("the client rule '" + subject + "' names only a common name: any certificate the " +
                 "client CA issues with it gets the " +
                 std::string(agent::api::roleName(rule.role)) + " role",
             "name the whole subject (CN=...,O=...) or the certificate's SHA-256 thumbprint, "
             "unless the client CA issues certificates for the MDM alone");
    }
  }
}

void checkTls(Report& r, const AgentConfig& c) {
  const auto& tls = c.listen.tls;
  // The listener's own rule, so doctor passes exactly what run accepts.
  if (auto problem = agent::transport::listenAddressProblem(c.listen); !problem.empty()) {
    return r.fail(problem, "listen on 127.0.0.1 for plain HTTP, or configure TLS");
  }
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
  checkKeyIsPrivate(r, tls.key_file);
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
    checkClientRules(r, c);
  }
}

// The certificate whatever listens at `address`:`port` presents in a TLS handshake, or why none
// came. A client certificate is not needed to see it.
Result<agent::transport::CertificateInfo, std::string> presentedCertificate(
    const boost::asio::ip::address& address, std::uint16_t port) {
  namespace net = boost::asio;
  net::io_context io;
  net::ssl::context tls(net::ssl::context::tls_client);
  tls.set_verify_mode(net::ssl::verify_none);  // only looking: the thumbprint is compared
  net::ssl::stream<net::ip::tcp::socket> stream(io, tls);
  boost::system::error_code ec;
  stream.next_layer().connect({address, port}, ec);
  if (!ec) stream.handshake(net::ssl::stream_base::client, ec);
  X509* cert = SSL_get1_peer_certificate(stream.native_handle());
  if (!cert) return "no TLS certificate came back" + (ec ? ": " + ec.message() : std::string());
  auto info = agent::transport::describeCertificate(cert);
  X509_free(cert);
  return info;
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
  if (ec == net::error::address_in_use && !c.listen.plain_http) {
    // Busy: is it this agent, running? Then check it, rather than the port.
    const auto local = address.is_unspecified()
                           ? (address.is_v4() ? net::ip::address(net::ip::address_v4::loopback())
                                              : net::ip::address(net::ip::address_v6::loopback()))
                           : address;
    auto presented = presentedCertificate(local, c.listen.port);
    auto configured = agent::transport::readCertificate(c.listen.tls.certificate_file);
    if (presented && configured && presented->thumbprint == configured->thumbprint) {
      return r.ok("the agent is running on " + where + ", with the configured certificate " +
                  presented->subject);
    }
    return r.fail(
        "cannot listen on " + where + ": " + ec.message() + "; what listens there " +
            (presented ? "presents " + presented->subject + ", not this agent's certificate"
                       : "speaks no TLS (" + presented.error() + ")"),
        "stop the other process, or choose another listen.port");
  }
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
  const auto inventory_file = agent::inventoryFile(file);
  auto inventory = openInventoryStore(c.runtime.data_directory);
  if (!inventory) {
    return r.fail("inventory " + inventory_file.string() + ": " + inventory.error(),
                  "make the data directory writable by the agent's account");
  }
  r.ok("inventory " + inventory_file.string() + " opens (schema up to date)");
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
