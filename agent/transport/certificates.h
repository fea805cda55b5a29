#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

typedef struct x509_st X509;

// X.509 certificates as the agent needs them: who a client is (for roles), whether the
// configured files are usable (for `easgate doctor`), and a development PKI for demos and
// tests. OpenSSL stays in certificates.cpp.
namespace easgate::agent::transport {

struct CertificateInfo {
  std::string subject;  // RFC 2253
  std::string issuer;   // RFC 2253
  std::string common_name;
  std::string thumbprint;             // SHA-256 of the DER form, lower-case hex
  std::string serial;                 // upper-case hex, as `openssl x509 -serial` prints it
  std::vector<std::string> crl_uris;  // its CRL distribution points' URIs
  std::int64_t not_before_ms = 0;
  std::int64_t not_after_ms = 0;
  bool is_ca = false;
};

CertificateInfo describeCertificate(X509* certificate);
// A certificate in DER, as a TLS peer presents it.
Result<CertificateInfo, std::string> describeDerCertificate(std::string_view der);

// The first certificate of a PEM file.
Result<CertificateInfo, std::string> readCertificate(const std::filesystem::path& pem);

// Whether the private key in `key` belongs to the first certificate in `certificate`.
Result<void, std::string> checkKeyMatches(const std::filesystem::path& certificate,
                                          const std::filesystem::path& key);

// Whether `certificate` (with any intermediates in the same file) chains to a CA in `ca`, as
// of now; the message says why not (expired, unknown issuer, ...).
Result<void, std::string> verifyChain(const std::filesystem::path& certificate,
                                      const std::filesystem::path& ca);

// One certificate to issue from a CA.
struct CertificateRequest {
  std::string common_name;
  std::vector<std::string> dns_names;  // subjectAltName DNS entries (server certificates)
  std::vector<std::string> ip_addresses;
  std::string crl_uri;                      // a CRL distribution point, when not empty
  bool server = false;                      // serverAuth, else clientAuth
  std::int64_t valid_from_offset_s = -300;  // relative to now; negative: in the past
  std::int64_t lifetime_s = 825 * 86400;
};

// A CA: its certificate and key in PEM.
struct PemPair {
  std::string certificate;
  std::string key;
};

// A new self-signed CA (P-256 key).
Result<PemPair, std::string> createCertificateAuthority(const std::string& common_name,
                                                        std::int64_t lifetime_s);
// A certificate issued by `ca` for a new P-256 key.
Result<PemPair, std::string> issueCertificate(const PemPair& ca, const CertificateRequest& request);

// Reads <dir>/<name>.pem and <dir>/<name>.key.
Result<PemPair, std::string> readPemPair(const std::filesystem::path& dir, const std::string& name);

// Writes `pair` as <dir>/<name>.pem and <dir>/<name>.key (the key readable by the owner only).
Result<void, std::string> writePemPair(const std::filesystem::path& dir, const std::string& name,
                                       const PemPair& pair);

// A development PKI in `dir`, unless one is there: ca.pem/ca.key, its revocation list ca.crl
// (empty), server.pem/.key (localhost, 127.0.0.1, ::1 and `host_names`), and client
// certificates admin, operator and reader (CN=easgate-<role>); each certificate names ca.crl as
// its CRL distribution point. Returns false when it found one already (adding ca.crl if it has
// none), true when it created one.
Result<bool, std::string> ensureDevelopmentPki(const std::filesystem::path& dir,
                                               const std::vector<std::string>& host_names);

}  // namespace easgate::agent::transport
