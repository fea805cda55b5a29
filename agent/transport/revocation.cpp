#include "agent/transport/revocation.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "agent/transport/openssl_support.h"
#include "common/files/atomic_file.h"
#include "common/time/utc_time.h"
#include "protocol/certificate_names.h"

namespace easgate::agent::transport {
using namespace openssl;
namespace {

using TimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME, ASN1_TIME_free>>;

RevocationListInfo describe(X509_CRL* crl) {
  RevocationListInfo info;
  info.issuer = protocol::distinguishedName(X509_CRL_get_issuer(crl));
  info.this_update_ms = unixMs(X509_CRL_get0_lastUpdate(crl));
  info.next_update_ms = unixMs(X509_CRL_get0_nextUpdate(crl));
  const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    info.revoked_serials.push_back(
        serialText(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  }
  return info;
}

Result<std::vector<CrlPtr>, std::string> loadCrls(const std::filesystem::path& path) {
  auto text = readFile(path);
  if (!text) return "cannot read the revocation list " + path.string();
  std::vector<CrlPtr> crls;
  auto bio = memoryBio(*text);
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
    crls.emplace_back(crl);
  }
  ERR_clear_error();
  if (crls.empty()) {
    auto der = memoryBio(*text);
    if (X509_CRL* crl = d2i_X509_CRL_bio(der.get(), nullptr)) crls.emplace_back(crl);
    ERR_clear_error();
  }
  if (crls.empty()) return path.string() + " holds no certificate revocation list (PEM or DER)";
  return crls;
}

Result<std::vector<X509Ptr>, std::string> loadCertificates(const std::filesystem::path& path) {
  auto text = readFile(path);
  if (!text) return "cannot read the CA file " + path.string();
  std::vector<X509Ptr> certificates;
  auto bio = memoryBio(*text);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(cert);
  }
  ERR_clear_error();
  if (certificates.empty()) return path.string() + " holds no PEM certificate";
  return certificates;
}

// The CA of `cas` that signed `crl`, or null.
X509* signerOf(X509_CRL* crl, const std::vector<X509Ptr>& cas) {
  for (const auto& ca : cas) {
    if (X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_CRL_get_issuer(crl)) != 0) continue;
    EVP_PKEY* key = X509_get0_pubkey(ca.get());
    if (key != nullptr && X509_CRL_verify(crl, key) == 1) return ca.get();
    ERR_clear_error();
  }
  return nullptr;
}

}  // namespace

Result<std::vector<RevocationListInfo>, std::string> readRevocationLists(
    const std::filesystem::path& crl_file) {
  auto crls = loadCrls(crl_file);
  if (!crls) return crls.error();
  std::vector<RevocationListInfo> lists;
  for (const auto& crl : crls.value()) lists.push_back(describe(crl.get()));
  return lists;
}

Result<VerifyStore, std::string> loadVerifyStore(const std::filesystem::path& ca_file,
                                                 const std::filesystem::path& crl_file,
                                                 std::int64_t now_ms) {
  auto cas = loadCertificates(ca_file);
  if (!cas) return cas.error();
  VerifyStore result;
  result.store.reset(X509_STORE_new(), X509_STORE_free);
  for (const auto& ca : cas.value()) {
    if (X509_STORE_add_cert(result.store.get(), ca.get()) != 1) {
      return "cannot use a CA of " + ca_file.string() + ": " + lastError();
    }
  }
  if (crl_file.empty()) return result;

  auto crls = loadCrls(crl_file);
  if (!crls) return crls.error();
  std::vector<const X509*> covered;
  for (const auto& crl : crls.value()) {
    RevocationListInfo info = describe(crl.get());
    X509* signer = signerOf(crl.get(), cas.value());
    if (signer == nullptr) {
      return "the revocation list of " + info.issuer + " in " + crl_file.string() +
             " is not signed by a CA of " + ca_file.string();
    }
    covered.push_back(signer);
    if (info.next_update_ms != 0 && info.next_update_ms < now_ms) {
      result.warnings.push_back("the revocation list of " + info.issuer + " in " +
                                crl_file.string() + " expired on " +
                                utc::formatUnixMs(info.next_update_ms) +
                                ": every client certificate of that CA is refused until a "
                                "newer list is published");
    }
    if (X509_STORE_add_crl(result.store.get(), crl.get()) != 1) {
      return "cannot use the revocation list of " + info.issuer + ": " + lastError();
    }
    result.lists.push_back(std::move(info));
  }
  for (const auto& ca : cas.value()) {
    if (std::find(covered.begin(), covered.end(), ca.get()) == covered.end()) {
      result.warnings.push_back("the CA " +
                                protocol::distinguishedName(X509_get_subject_name(ca.get())) +
                                " has no revocation list in " + crl_file.string() +
                                ": client certificates it issued are refused");
    }
  }
  X509_STORE_set_flags(result.store.get(), X509_V_FLAG_CRL_CHECK);
  return result;
}

Result<RevocationListInfo, std::string> publishRevocationList(
    const PemPair& ca, const std::filesystem::path& crl_file,
    const std::vector<std::string>& revoke, std::int64_t lifetime_s) {
  auto ca_bio = memoryBio(ca.certificate);
  X509Ptr ca_cert(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
  auto key_bio = memoryBio(ca.key);
  KeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) {
    ERR_clear_error();
    return std::string("the CA's certificate or key is not PEM");
  }

  CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);  // v2: it carries extensions
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert.get()));
  long number = 1;
  // What the list held before, when it is this CA's.
  if (std::filesystem::exists(crl_file)) {
    auto before = loadCrls(crl_file);
    if (!before) return before.error();
    std::vector<X509Ptr> issuer;
    issuer.emplace_back(X509_dup(ca_cert.get()));
    for (const auto& old : before.value()) {
      if (signerOf(old.get(), issuer) == nullptr) {
        return crl_file.string() + " holds a revocation list this CA did not sign";
      }
      if (auto* n = static_cast<ASN1_INTEGER*>(
              X509_CRL_get_ext_d2i(old.get(), NID_crl_number, nullptr, nullptr))) {
        number = std::max(number, ASN1_INTEGER_get(n) + 1);
        ASN1_INTEGER_free(n);
      }
      const STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(old.get());
      for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
        X509_CRL_add0_revoked(crl.get(), X509_REVOKED_dup(sk_X509_REVOKED_value(entries, i)));
      }
    }
  }
  std::vector<std::string> listed;
  for (int i = 0; i < sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())); ++i) {
    listed.push_back(serialText(
        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl.get()), i))));
  }

  const TimePtr now(X509_gmtime_adj(nullptr, 0));
  for (const auto& pem : revoke) {
    auto bio = memoryBio(pem);
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      ERR_clear_error();
      return std::string("a certificate to revoke is not PEM");
    }
    if (X509_check_issued(ca_cert.get(), cert.get()) != X509_V_OK) {
      return "the certificate " + protocol::distinguishedName(X509_get_subject_name(cert.get())) +
             " was not issued by this CA";
    }
    const std::string serial = serialText(X509_get0_serialNumber(cert.get()));
    if (std::find(listed.begin(), listed.end(), serial) != listed.end()) continue;
    X509_REVOKED* entry = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(cert.get()));
    X509_REVOKED_set_revocationDate(entry, now.get());
    X509_CRL_add0_revoked(crl.get(), entry);
    listed.push_back(serial);
  }

  const TimePtr next(X509_gmtime_adj(nullptr, static_cast<long>(lifetime_s)));
  X509_CRL_set1_lastUpdate(crl.get(), now.get());
  X509_CRL_set1_nextUpdate(crl.get(), next.get());
  ASN1_INTEGER* crl_number = ASN1_INTEGER_new();
  ASN1_INTEGER_set(crl_number, number);
  X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crl_number, 0, 0);
  ASN1_INTEGER_free(crl_number);
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), ca_key.get(), EVP_sha256()) == 0) {
    return "cannot sign the revocation list: " + lastError();
  }
  // Whole or not at all: the listener rereads the file while it runs.
  if (auto written = files::writeWholeFile(crl_file, pemOf(crl.get())); !written) {
    return written.error().message;
  }
  return describe(crl.get());
}

}  // namespace easgate::agent::transport
