#include "agent/transport/certificates.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>

#include "agent/transport/openssl_support.h"
#include "agent/transport/revocation.h"
#include "common/text/hex.h"
#include "protocol/certificate_names.h"

namespace easgate::agent::transport {
using namespace openssl;
namespace {

void freeCertStack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using CertStackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), freeCertStack>>;

bool addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key`, signed by `issuer_key` (itself when `issuer` is null).
Result<X509Ptr, std::string> makeCertificate(EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                                             const std::string& common_name,
                                             std::int64_t from_offset_s, std::int64_t lifetime_s,
                                             const std::vector<std::pair<int, std::string>>& exts) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;  // a positive serial
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(from_offset_s));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(from_offset_s + lifetime_s));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("easgate development"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : cert.get();
  for (const auto& [nid, value] : exts) {
    if (!addExtension(cert.get(), signer, nid, value)) {
      return "cannot add the extension " + value + ": " + lastError();
    }
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) {
    return "cannot sign the certificate: " + lastError();
  }
  return cert;
}

KeyPtr newKey() { return KeyPtr(EVP_EC_gen("P-256")); }

}  // namespace

CertificateInfo describeCertificate(X509* cert) {
  CertificateInfo info;
  info.subject = protocol::distinguishedName(X509_get_subject_name(cert));
  info.issuer = protocol::distinguishedName(X509_get_issuer_name(cert));
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
    info.common_name = cn;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  X509_digest(cert, EVP_sha256(), digest, &size);
  text::appendHex(info.thumbprint, std::span<const unsigned char>(digest, size));
  info.serial = serialText(X509_get0_serialNumber(cert));
  if (auto* points = static_cast<STACK_OF(DIST_POINT)*>(
          X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr))) {
    for (int i = 0; i < sk_DIST_POINT_num(points); ++i) {
      const DIST_POINT* point = sk_DIST_POINT_value(points, i);
      if (point->distpoint == nullptr || point->distpoint->type != 0) continue;
      const GENERAL_NAMES* names = point->distpoint->name.fullname;
      for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, j);
        if (name->type != GEN_URI) continue;
        const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
        info.crl_uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                   static_cast<std::size_t>(ASN1_STRING_length(uri)));
      }
    }
    CRL_DIST_POINTS_free(points);
  }
  info.not_before_ms = unixMs(X509_get0_notBefore(cert));
  info.not_after_ms = unixMs(X509_get0_notAfter(cert));
  info.is_ca = X509_check_ca(cert) > 0;
  return info;
}

Result<CertificateInfo, std::string> describeDerCertificate(std::string_view der) {
  const auto* data = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &data, static_cast<long>(der.size())));
  if (!cert) return "not a certificate (DER): " + lastError();
  return describeCertificate(cert.get());
}

Result<CertificateInfo, std::string> readCertificate(const std::filesystem::path& pem) {
  auto cert = loadCertificate(pem);
  if (!cert) return cert.error();
  return describeCertificate(cert.value().get());
}

Result<void, std::string> checkKeyMatches(const std::filesystem::path& certificate,
                                          const std::filesystem::path& key) {
  auto cert = loadCertificate(certificate);
  if (!cert) return cert.error();
  auto text = readFile(key);
  if (!text) return "cannot read " + key.string();
  auto bio = memoryBio(*text);
  KeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return key.string() + " holds no unencrypted PEM private key";
  if (X509_check_private_key(cert.value().get(), pkey.get()) != 1) {
    ERR_clear_error();
    return "the key " + key.string() + " does not belong to " + certificate.string();
  }
  return {};
}

Result<void, std::string> verifyChain(const std::filesystem::path& certificate,
                                      const std::filesystem::path& ca) {
  auto text = readFile(certificate);
  if (!text) return "cannot read " + certificate.string();
  auto bio = memoryBio(*text);
  X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) return certificate.string() + " holds no PEM certificate";
  CertStackPtr intermediates(sk_X509_new_null());
  while (X509* more = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(intermediates.get(), more);
  }
  ERR_clear_error();
  StorePtr store(X509_STORE_new());
  if (X509_STORE_load_file(store.get(), ca.string().c_str()) != 1) {
    return "cannot read the CA file " + ca.string() + ": " + lastError();
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), intermediates.get());
  if (X509_verify_cert(ctx.get()) != 1) {
    return std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  return {};
}

Result<PemPair, std::string> createCertificateAuthority(const std::string& common_name,
                                                        std::int64_t lifetime_s) {
  KeyPtr key = newKey();
  if (!key) return "cannot create a key: " + lastError();
  auto cert = makeCertificate(key.get(), nullptr, key.get(), common_name, -300, lifetime_s,
                              {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                               {NID_key_usage, "critical,keyCertSign,cRLSign"},
                               {NID_subject_key_identifier, "hash"}});
  if (!cert) return cert.error();
  return PemPair{pemOf(cert.value().get()), pemOf(key.get())};
}

Result<PemPair, std::string> issueCertificate(const PemPair& ca, const CertificateRequest& r) {
  auto ca_bio = memoryBio(ca.certificate);
  X509Ptr ca_cert(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
  auto key_bio = memoryBio(ca.key);
  KeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) return std::string("the CA's certificate or key is not PEM");
  KeyPtr key = newKey();
  if (!key) return "cannot create a key: " + lastError();
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, r.server ? "serverAuth" : "clientAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid"},
  };
  std::string sans;
  for (const auto& dns : r.dns_names) sans += (sans.empty() ? "DNS:" : ",DNS:") + dns;
  for (const auto& ip : r.ip_addresses) sans += (sans.empty() ? "IP:" : ",IP:") + ip;
  if (!sans.empty()) exts.emplace_back(NID_subject_alt_name, sans);
  if (!r.crl_uri.empty()) exts.emplace_back(NID_crl_distribution_points, "URI:" + r.crl_uri);
  auto cert = makeCertificate(key.get(), ca_cert.get(), ca_key.get(), r.common_name,
                              r.valid_from_offset_s, r.lifetime_s, exts);
  if (!cert) return cert.error();
  return PemPair{pemOf(cert.value().get()), pemOf(key.get())};
}

Result<void, std::string> writePemPair(const std::filesystem::path& dir, const std::string& name,
                                       const PemPair& pair) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return "cannot create " + dir.string() + ": " + ec.message();
  const auto key_path = dir / (name + ".key");
  {
    // Create the key file empty and owner-only before the key goes in.
    std::ofstream touch(key_path, std::ios::binary | std::ios::trunc);
    if (!touch) return "cannot write " + key_path.string();
  }
  std::filesystem::permissions(
      key_path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  std::ofstream key(key_path, std::ios::binary | std::ios::trunc);
  key << pair.key;
  std::ofstream cert(dir / (name + ".pem"), std::ios::binary | std::ios::trunc);
  cert << pair.certificate;
  if (!key.flush() || !cert.flush()) return "cannot write the certificate files in " + dir.string();
  return {};
}

Result<bool, std::string> ensureDevelopmentPki(const std::filesystem::path& dir,
                                               const std::vector<std::string>& host_names) {
  const auto crl = dir / "ca.crl";
  if (std::filesystem::exists(dir / "ca.pem") && std::filesystem::exists(dir / "server.pem")) {
    // A PKI of an earlier release has no revocation list yet: it gets an empty one.
    if (!std::filesystem::exists(crl)) {
      auto ca = readPemPair(dir, "ca");
      if (!ca) return ca.error();
      if (auto made = publishRevocationList(ca.value(), crl, {}); !made) return made.error();
    }
    return false;
  }
  auto ca = createCertificateAuthority("easgate development CA", 3650LL * 86400);
  if (!ca) return ca.error();
  if (auto w = writePemPair(dir, "ca", ca.value()); !w) return w.error();
  if (auto made = publishRevocationList(ca.value(), crl, {}); !made) return made.error();
  // Every certificate says where its revocation list is (testssl rates one without as HIGH);
  // the agent itself reads it from tls.client_crl.
  const std::string crl_uri = fileUri(crl);
  CertificateRequest server;
  server.common_name = "easgate agent";
  server.server = true;
  server.dns_names = {"localhost"};
  for (const auto& h : host_names) server.dns_names.push_back(h);
  server.ip_addresses = {"127.0.0.1", "::1"};
  server.crl_uri = crl_uri;
  auto server_pair = issueCertificate(ca.value(), server);
  if (!server_pair) return server_pair.error();
  if (auto w = writePemPair(dir, "server", server_pair.value()); !w) return w.error();
  for (const std::string role : {"admin", "operator", "reader"}) {
    CertificateRequest client;
    client.common_name = "easgate-" + role;
    client.crl_uri = crl_uri;
    auto pair = issueCertificate(ca.value(), client);
    if (!pair) return pair.error();
    if (auto w = writePemPair(dir, role, pair.value()); !w) return w.error();
  }
  return true;
}

Result<PemPair, std::string> readPemPair(const std::filesystem::path& dir,
                                         const std::string& name) {
  auto certificate = readFile(dir / (name + ".pem"));
  auto key = readFile(dir / (name + ".key"));
  if (!certificate) return "cannot read " + (dir / (name + ".pem")).string();
  if (!key) return "cannot read " + (dir / (name + ".key")).string();
  return PemPair{std::move(*certificate), std::move(*key)};
}

}  // namespace easgate::agent::transport
