#include "service/demo_command.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "agent/transport/certificates.h"
#include "common/files/atomic_file.h"
#include "common/json/json_writer.h"
#include "common/memory/return_freed_memory.h"
#include "powershell/sim/organisation.h"
#include "service/cli.h"
#include "service/console.h"
#include "service/run_command.h"

namespace easgate::service {
namespace {

// The demo's configuration: TLS with the development PKI, its three clients, the simulator.
std::string demoConfig(const DemoOptions& o, const std::filesystem::path& organisation) {
  std::string out;
  json::JsonWriter w(out);
  auto text = [&](const char* key, const std::string& value) {
    w.key(key);
    w.string(value);
  };
  w.beginObject();
  text("data_dir", "data");
  w.key("listen");
  w.beginObject();
  text("address", "127.0.0.1");
  w.key("port");
  w.number(o.port);
  w.endObject();
  w.key("tls");
  w.beginObject();
  text("certificate", "pki/server.pem");
  text("key", "pki/server.key");
  text("client_ca", "pki/ca.pem");
  text("client_crl", "pki/ca.crl");
  w.endObject();
  w.key("clients");
  w.beginArray();
  for (const std::string role : {"admin", "operator", "reader"}) {
    w.beginObject();
    text("subject", "CN=easgate-" + role + ",O=easgate development");  // whole subjects
    text("role", role);
    w.endObject();
  }
  w.endArray();
  w.key("exchange");
  w.beginObject();
  text("kind", "simulator");
  w.key("simulator_arguments");
  w.beginArray();
  // The organisation is kept between runs, so allowed lists and wipes survive a restart.
  w.string("--org");
  w.string(organisation.string());
  w.string("--save");
  w.string(organisation.string());
  w.string("--save-every-change");
  w.endArray();
  w.key("pool");
  w.number(1);  // one simulated organisation: every command and harvest sees the same state
  w.endObject();
  w.key("harvest");
  w.beginObject();
  w.key("full_minutes");
  w.number(60);
  w.key("delta_minutes");
  w.number(1);
  w.endObject();
  w.key("commands");
  w.beginObject();
  w.key("first_retry_seconds");
  w.number(1);
  w.endObject();
  w.key("log");
  w.beginObject();
  text("file", "logs/easgate.log");
  w.key("system_log");
  w.boolean(false);
  w.endObject();
  w.endObject();
  return out + "\n";
}

}  // namespace

CLI::App* addDemoCommand(CLI::App& app, DemoOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "demo", "Try the agent: a development CA, certificates and a simulated Exchange, then run");
  cmd->footer(
      "Creates (once) in the folder: pki/ (a development CA and its revocation list, the\n"
      "agent's certificate for localhost, and client certificates admin, operator and\n"
      "reader; revoke one with easgate pki revoke), easgate.json, and the\n"
      "simulated organisation; then runs the agent on 127.0.0.1. Not for production: the CA's\n"
      "key sits beside the certificates it signs.");
  cmd->add_option("--dir", o.directory, "The demo's folder")->capture_default_str();
  cmd->add_option("--port", o.port, "The port to listen on")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--mailboxes", o.mailboxes, "Simulated mailboxes (two devices each)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 200000u));
  return cmd;
}

namespace {

// An organisation as administrators find theirs before a policy: DefaultAccessLevel Allow, a
// few devices on their mailboxes' allowed or blocked lists, a rule that quarantines an
// unpatched iOS, a phone wiped after it was lost, and phones that have not synced for weeks.
// So a policy plan, the quarantine queue and the inventory show something.
void mixAccessForTheDemo(powershell::sim::Organisation& org, std::int64_t now) {
  namespace exchange = powershell::exchange;
  org.policy.rules.push_back({exchange::Characteristic::kDeviceOS, "iOS 16.7.5 20H307",
                              exchange::AccessLevel::kQuarantine});
  org.admin_mail_recipients = {"mobile-admins@contoso.com"};
  std::vector<std::pair<std::string, std::string>> allow, block;  // mailbox Identity, device ID
  for (std::size_t i = 0; i < org.mailboxes().size(); ++i) {
    const auto& m = org.mailboxes()[i];
    if (m.devices.empty()) continue;
    if (i % 7 == 3) allow.emplace_back(m.facts.identity, m.devices[0].device_id);
    if (i % 29 == 11) block.emplace_back(m.facts.identity, m.devices[0].device_id);
  }
  using Change = powershell::sim::Organisation::ListChange;
  for (const auto& [identity, id] : allow) {
    if (auto* m = org.findMailbox(identity)) {
      (void)org.changeLists(*m, Change{std::nullopt, {id}, {}}, std::nullopt, now);
    }
  }
  for (const auto& [identity, id] : block) {
    if (auto* m = org.findMailbox(identity)) {
      (void)org.changeLists(*m, std::nullopt, Change{std::nullopt, {id}, {}}, now);
    }
  }
  // A phone reported lost two days ago: wiped, and the wipe acknowledged the day after.
  constexpr std::int64_t kDayTicks = 864'000'000'000;
  if (org.mailboxes().size() > 5 && !org.mailboxes()[5].devices.empty()) {
    if (auto lost =
            org.findDevice(powershell::sim::partnershipIdentity(org.mailboxes()[5].devices[0]))) {
      (void)org.wipe(*lost, /*account_only=*/false, /*cancel=*/false, now - 2 * kDayTicks);
    }
  }
  org.syncAll(now - 2 * kDayTicks);  // the wipe is sent
  org.syncAll(now - kDayTicks);      // and acknowledged; everyone else synced yesterday
  // Stale devices: some phones have not synced for weeks (replaced, in a drawer).
  for (std::size_t i = 0; i < org.mailboxes().size(); ++i) {
    const auto& m = org.mailboxes()[i];
    if (i % 11 != 7 || m.devices.empty()) continue;
    if (auto stale = org.findDevice(powershell::sim::partnershipIdentity(m.devices.back()))) {
      stale->device->last_success_sync_ticks =
          now - (40 + static_cast<std::int64_t>(i % 30)) * kDayTicks;
    }
  }
  org.reevaluateAll(now);
}

// The banner's example mailbox: the organisation's first, with its first device; nullopt when
// it has none (no simulated organisation).
struct SampleMailbox {
  std::string identity, address, device_id;
};
std::optional<SampleMailbox> sampleOf(const powershell::sim::Organisation& organisation) {
  if (organisation.mailboxes().empty() || organisation.mailboxes()[0].devices.empty()) {
    return std::nullopt;
  }
  const auto& first = organisation.mailboxes()[0];
  return SampleMailbox{first.facts.identity, first.facts.primarySmtpAddress(),
                       first.devices[0].device_id};
}

// The organisation made now (and written), or the one an earlier demo wrote, read: kept only
// for its sample. The agent would otherwise carry it (some 0.8 GB at 100,000 mailboxes) for as
// long as it runs, and glibc the memory it freed: given back before the agent starts.
std::optional<SampleMailbox> ensureOrganisation(const DemoOptions& o,
                                                const std::filesystem::path& file) {
  std::optional<SampleMailbox> sample;
  if (!std::filesystem::exists(file)) {
    const std::int64_t now = powershell::sim::nowDotNetTicks();
    auto generated =
        powershell::sim::Organisation::generate({1, o.mailboxes, o.mailboxes * 2, now});
    mixAccessForTheDemo(generated, now);
    // Whole or not at all: a demo stopped while writing it finds none the next time.
    if (auto written = files::writeWholeFile(file, generated.toJson()); !written) {
      std::cerr << "easgate demo: " << written.error().message << "\n";
      return std::nullopt;
    }
    sample = sampleOf(generated);
  } else {
    std::ifstream in(file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto read = powershell::sim::Organisation::fromJson(text);
    if (read) sample = sampleOf(read.value());
    if (!sample) {
      std::cerr << "easgate demo: " << file.string()
                << " is no simulated organisation; delete it to start afresh\n";
    }
  }
  memory::returnFreedMemory();
  return sample;
}

}  // namespace

int runDemoCommand(const DemoOptions& o) {
  const std::filesystem::path dir = std::filesystem::absolute(o.directory);
  auto pki = agent::transport::ensureDevelopmentPki(dir / "pki", {});
  if (!pki) {
    std::cerr << "easgate demo: " << pki.error() << "\n";
    return kExitOutputFailed;
  }
  // The simulated organisation, made once: the banner names one of its mailboxes.
  const auto organisation_file = dir / "organisation.json";
  auto sample = ensureOrganisation(o, organisation_file);
  if (!sample) return kExitOutputFailed;
  const auto config_file = dir / "easgate.json";
  if (auto written = files::writeWholeFile(config_file, demoConfig(o, organisation_file));
      !written) {
    std::cerr << "easgate demo: " << written.error().message << "\n";
    return kExitOutputFailed;
  }
  const std::string self = (executableDirectory() / "easgate").string();
  const std::string p = (dir / "pki").string();
  const std::string url = "https://localhost:" + std::to_string(o.port);
  std::cout
      << "easgate demo: " << (pki.value() ? "created" : "reusing") << " the development PKI in "
      << p << "\n"
      << "Starting the agent on " << url << " against a simulated Exchange (" << o.mailboxes
      << " mailboxes); the first full harvest runs now.\n\n"
      << "Try, in another terminal:\n"
      << "  export EASGATE_URL=" << url << " EASGATE_CA=" << p << "/ca.pem EASGATE_CERT=" << p
      << "/admin.pem EASGATE_KEY=" << p << "/admin.key\n"
      << "  " << self << " ctl status\n"
      << "  " << self << " ctl devices --limit 3\n"
      << "  " << self << " ctl devices --access-state Quarantined --limit 3\n"
      << "  # One mailbox, two names: allow by its SMTP address, read its lists by its Identity\n"
      << "  " << self << " ctl allow " << sample->address << " " << sample->device_id << "\n"
      << "  " << self << " ctl lists '" << sample->identity << "'\n"
      << "  " << self << " ctl events --wait 30\n"
      << "  # Only the MDM's devices: see whose phones a Quarantine default would stop, then "
         "apply\n"
      << "  " << self << " ctl policy show\n"
      << "  " << self << " ctl policy plan Quarantine --grandfather allowed\n"
      << "  " << self << " ctl policy apply <the plan's id>\n"
      << "  curl --cacert " << p << "/ca.pem --cert " << p << "/reader.pem --key " << p
      << "/reader.key '" << url << "/v1/devices?limit=2'\n"
      << "  # The status page, " << url << "/ in a browser holding a client certificate:\n"
      << "  openssl pkcs12 -export -in " << p << "/reader.pem -inkey " << p
      << "/reader.key -out reader.p12   # import it, and trust " << p << "/ca.pem\n"
      << "  curl --cacert " << p << "/ca.pem --cert " << p << "/reader.pem --key " << p
      << "/reader.key -X POST -H 'Content-Type: application/json' -d "
         "'{\"kind\":\"wipe\",\"partnership\":\"x/ExchangeActiveSyncDevices/y\"}' "
      << url << "/v1/commands    # 403: a reader cannot wipe\n"
      << "  # Revoke the reader's certificate: the agent refuses it from the next request on\n"
      << "  " << self << " pki revoke --dir " << p << " " << p << "/reader.pem\n\n"
      << "Stop with Ctrl+C.\n"
      << std::endl;
  RunCommandOptions run;
  run.config_file = config_file;
  return runRunCommand(run);
}

}  // namespace easgate::service
