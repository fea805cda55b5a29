#include "service/pki_command.h"

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>

#include "agent/transport/certificates.h"
#include "agent/transport/revocation.h"
#include "service/cli.h"

namespace easgate::service {

CLI::App* addPkiCommand(CLI::App& app, PkiCommandOptions& o) {
  CLI::App* pki = app.add_subcommand("pki", "The development PKI that easgate demo creates");
  pki->require_subcommand(1);
  CLI::App* revoke = pki->add_subcommand(
      "revoke", "Revoke client certificates: add them to the PKI's revocation list (ca.crl)");
  revoke->footer(
      "The agent reads its tls.client_crl again when the file changes (within\n"
      "tls.client_crl_recheck_seconds): a revoked certificate is refused on new connections,\n"
      "and a connection already open is answered 401 at its next request.\n"
      "An organisation's own CA publishes its list with its own tools; point tls.client_crl at\n"
      "it.\n\n"
      "Example: easgate pki revoke --dir easgate-demo/pki easgate-demo/pki/reader.pem\n"
      "Exit codes: 0 revoked (or already), 3 a file cannot be read, 4 a certificate is not\n"
      "this CA's.");
  o.directory = "easgate-demo/pki";
  revoke->add_option("--dir", o.directory, "The PKI's folder (ca.pem, ca.key, ca.crl)")
      ->capture_default_str();
  revoke->add_option("certificates", o.certificates, "Certificates to revoke (PEM files)")
      ->required();
  return revoke;
}

int runPkiRevoke(const PkiCommandOptions& o) {
  auto ca = agent::transport::readPemPair(o.directory, "ca");
  if (!ca) {
    std::cerr << "easgate pki revoke: " << ca.error() << " (see --dir)\n";
    return kExitInputUnreadable;
  }
  std::vector<std::string> pems;
  for (const auto& file : o.certificates) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "easgate pki revoke: cannot read " << file << "\n";
      return kExitInputUnreadable;
    }
    pems.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto crl = o.directory / "ca.crl";
  auto published = agent::transport::publishRevocationList(ca.value(), crl, pems);
  if (!published) {
    std::cerr << "easgate pki revoke: " << published.error() << "\n";
    return kExitInputInvalid;
  }
  std::cout << "easgate pki revoke: " << crl.string() << " now lists "
            << published->revoked_serials.size() << " revoked certificate(s)\n";
  return kExitOk;
}

}  // namespace easgate::service
