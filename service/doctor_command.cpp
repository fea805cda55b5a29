#include "service/doctor_command.h"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "agent/inventory/inventory_store.h"
#include "agent/store/schema.h"
#include "agent/transport/certificates.h"
#include "agent/transport/http_server.h"
#include "agent/transport/revocation.h"
#include "common/json/json_value.h"
#include "common/time/utc_time.h"
#include "powershell/host/bridge_process.h"
#include "protocol/requests.h"
#include "protocol/tls_probe.h"
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

constexpr std::int64_t kListExpiryWarningDays = 7;

// The client CAs' revocation lists, as the listener will read them.
void checkRevocation(Report& r, const agent::transport::TlsOptions& tls) {
  if (tls.client_crl_file.empty()) {
    return r.warn("client certificates are not checked for revocation (no tls.client_crl)",
                  "set tls.client_crl to the client CA's revocation list (PEM or DER), and keep "
                  "it current: the agent reads it again when it changes");
  }
  const std::int64_t now = nowMs();
  auto store = agent::transport::loadVerifyStore(tls.client_ca_file, tls.client_crl_file, now);
  if (!store) {
    return r.fail(store.error(),
                  "point tls.client_crl at the revocation list the client CA "
                  "publishes (easgate demo's is pki/ca.crl)");
  }
  for (const auto& warning : store->warnings) {
    r.fail(warning,
           "publish a current revocation list for every client CA into " + tls.client_crl_file);
  }
  for (const auto& list : store->lists) {
    const std::string what = "revocation list of " + list.issuer + ": " +
                             std::to_string(list.revoked_serials.size()) +
                             " revoked certificate(s)";
    if (list.next_update_ms == 0) {
      r.ok(what + ", no next update given");
    } else if (list.next_update_ms >= now &&
               list.next_update_ms - now < kListExpiryWarningDays * kDayMs) {
      r.warn(what + ", next update due " + utc::formatUnixMs(list.next_update_ms),
             "publish a newer list before then: past it, every client of that CA is refused");
    } else if (list.next_update_ms >= now) {
      r.ok(what + ", next update " + utc::formatUnixMs(list.next_update_ms).substr(0, 10));
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
  checkRevocation(r, tls);
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

// What listens at `address`:`port`: the certificate it presents in a TLS handshake (no client
// certificate is needed to see it) and, with a client certificate, its answer to
// GET /v1/health.
struct Probe {
  agent::transport::CertificateInfo presented;
  protocol::TlsProbe found;  // its answer to GET /v1/health, when asked
  std::string problem;       // why there was no answer
};

Result<Probe, std::string> probeAgent(const boost::asio::ip::address& address, std::uint16_t port,
                                      const DoctorOptions& o) {
  protocol::TlsProbeOptions asked;
  asked.host = address.to_string();
  asked.port = std::to_string(port);
  asked.verify = false;  // the thumbprint is compared instead
  const bool asking = !o.client_certificate.empty() && !o.client_key.empty();
  if (asking) {
    asked.certificate_file = o.client_certificate;
    asked.key_file = o.client_key;
  }
  asked.ask_health = asking;
  auto found = protocol::probeTls(asked);
  if (!found) return found.error();
  if (found->presented_der.empty()) {
    return "no TLS certificate came back" +
           (found->failure.empty() ? std::string() : ": " + found->failure);
  }
  auto presented = agent::transport::describeDerCertificate(found->presented_der);
  if (!presented) return "the certificate it presents: " + presented.error();
  Probe probe;
  probe.presented = std::move(presented).value();
  probe.found = std::move(found).value();
  if (asking && probe.found.health_status == 0) {
    probe.problem = protocol::tlsProblem(asked, probe.found)
                        .value_or("no answer to GET /v1/health: " + probe.found.failure);
  }
  return probe;
}

// The running agent's health, as its answer says; `where` is address:port.
void reportHealth(Report& r, const Probe& probe, const std::string& where) {
  if (!probe.problem.empty()) {
    return r.fail("the agent on " + where + ": " + probe.problem,
                  "use a client certificate the agent accepts (--cert, --key)");
  }
  if (probe.found.health_status == 0) {
    return r.ok("(pass --cert and --key, any role, to check its health and version too)");
  }
  auto body = json::parseJson(probe.found.health_body, 4);
  const json::JsonValue* status = body ? body->find("status") : nullptr;
  const json::JsonValue* version = body ? body->find("version") : nullptr;
  if (probe.found.health_status != 200 || !status || !status->asString() ||
      *status->asString() != "ok") {
    return r.fail("the agent on " + where + " answered GET /v1/health with " +
                      std::to_string(probe.found.health_status) + ": " + probe.found.health_body,
                  probe.found.health_status == 401 || probe.found.health_status == 403
                      ? "map this client certificate to a role in clients"
                      : "read the agent's log");
  }
  const std::string running = version && version->asString() ? *version->asString() : "?";
  if (running != EASGATE_VERSION) {
    return r.warn("the agent on " + where + " is healthy but runs version " + running +
                      ", this program is " + EASGATE_VERSION,
                  "restart the service to run the installed version");
  }
  r.ok("the agent on " + where + " is healthy, version " + running);
}

void checkPort(Report& r, const AgentConfig& c, const DoctorOptions& o) {
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
    auto probe = probeAgent(local, c.listen.port, o);
    auto configured = agent::transport::readCertificate(c.listen.tls.certificate_file);
    if (probe && configured && probe->presented.thumbprint == configured->thumbprint) {
      r.ok("the agent is running on " + where + ", with the configured certificate " +
           probe->presented.subject);
      return reportHealth(r, probe.value(), where);
    }
    return r.fail(
        "cannot listen on " + where + ": " + ec.message() + "; what listens there " +
            (probe ? "presents " + probe->presented.subject + ", not this agent's certificate"
                   : "speaks no TLS (" + probe.error() + ")"),
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

// One of the agent's files as the agent will find it, read without changing it: doctor runs
// beside the running service, or before a new release's first start, and must neither create
// the data directory (owned by root, it would stop a package install) nor migrate a file an
// older agent still holds.
void checkSchema(Report& r, const std::string& what, const std::filesystem::path& file,
                 int current) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return r.ok(what + " " + file.string() +
                " is not there yet: the agent creates it when it first starts");
  }
  const std::string fix = "make the data directory readable and writable by the agent's account";
  auto db = agent::store::Database::openToRead(file);
  if (!db) return r.fail(what + " " + file.string() + ": " + db.error().message, fix);
  auto version = agent::store::schemaVersion(*db.value());
  if (!version) return r.fail(what + " " + file.string() + ": " + version.error().message, fix);
  const std::string at = " is at schema version " + std::to_string(version.value());
  if (version.value() > current) {
    return r.fail(what + " " + file.string() + at + ", written by an easgate newer than this (" +
                      std::to_string(current) + ")",
                  "run the release that wrote it, or a newer one");
  }
  if (version.value() < current) {
    return r.ok(what + " " + file.string() + at + ": the agent brings it to " +
                std::to_string(current) + " when it starts");
  }
  r.ok(what + " " + file.string() + " opens (schema up to date)");
}

void checkStore(Report& r, const AgentConfig& c) {
  const auto file = agent::store::storeFile(c.runtime.data_directory);
  if (auto problem = foreignOwnerProblem(c.runtime.data_directory); !problem.empty()) {
    return r.warn("store not opened: " + problem, "run doctor as the agent's account");
  }
  checkSchema(r, "store", file, agent::store::currentSchemaVersion());
  checkSchema(r, "inventory", agent::inventoryFile(file),
              agent::InventoryStore::currentSchemaVersion());
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
  cmd->footer(
      "Run it before starting the agent, or beside the running service: then it checks the\n"
      "agent on its port instead of the port (with --cert/--key: its health and version).\n"
      "Exit code 0 when every check passed (warnings allowed), 8 when one failed.\n"
      "Example: easgate doctor --config /etc/easgate/easgate.json --cert reader.pem --key "
      "reader.key");
  o.config_file = defaultConfigFile();
  cmd->add_option("-c,--config", o.config_file, "The configuration file")->capture_default_str();
  cmd->add_flag("--skip-exchange", o.skip_exchange,
                "Do not start PowerShell and connect to Exchange");
  cmd->add_option("--cert", o.client_certificate,
                  "A client certificate (PEM, any role): with the agent running, ask its health "
                  "and version")
      ->envname("EASGATE_CERT");
  cmd->add_option("--key", o.client_key, "Its private key (PEM)")->envname("EASGATE_KEY");
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
  checkPort(r, config.value(), o);
  checkStore(r, config.value());
  if (!o.skip_exchange) checkExchange(r, config.value());
  std::cout << (r.failures() ? std::to_string(r.failures()) + " check(s) failed\n"
                             : std::string("all checks passed\n"));
  return r.failures() ? kExitUnhealthy : kExitOk;
}

}  // namespace easgate::service
