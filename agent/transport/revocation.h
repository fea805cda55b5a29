#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/transport/certificates.h"
#include "common/result.h"

typedef struct x509_store_st X509_STORE;

// Revoked client certificates: the certificate revocation lists (CRLs, RFC 5280) the listener
// checks client certificates against (tls.client_crl), what `easgate doctor` says of them, and
// publishing one for the development PKI. OpenSSL stays in revocation.cpp.
namespace easgate::agent::transport {

struct RevocationListInfo {
  std::string issuer;  // RFC 2253
  std::int64_t this_update_ms = 0;
  std::int64_t next_update_ms = 0;           // 0: the list names no next update
  std::vector<std::string> revoked_serials;  // upper-case hex
};

// Every CRL in a file: PEM (one or more) or a single DER list.
Result<std::vector<RevocationListInfo>, std::string> readRevocationLists(
    const std::filesystem::path& crl_file);

// What the listener verifies client certificates with.
struct VerifyStore {
  std::shared_ptr<X509_STORE> store;
  std::vector<RevocationListInfo> lists;  // empty without a CRL file
  std::vector<std::string> warnings;      // a CA without a list, a list past its next update
};

// The CAs of `ca_file` and, when `crl_file` is not empty, their revocation lists, checked for
// the end certificate (a client certificate whose CA has no list is refused, as RFC 5280 asks).
// Fails naming the file at fault: unreadable, no CRL in it, or a list that no CA of `ca_file`
// signed. A CA without a list, or a list past its next update, is a warning: the listener
// still starts, and refuses that CA's clients.
Result<VerifyStore, std::string> loadVerifyStore(const std::filesystem::path& ca_file,
                                                 const std::filesystem::path& crl_file,
                                                 std::int64_t now_ms);

// Writes `crl_file` anew, signed by `ca`: the serials it listed already (when it is `ca`'s) and
// those of `revoke` (PEM certificates `ca` issued; another CA's is refused), valid for
// `lifetime_s`. Written beside and renamed, so that a listener never reads half of it.
Result<RevocationListInfo, std::string> publishRevocationList(
    const PemPair& ca, const std::filesystem::path& crl_file,
    const std::vector<std::string>& revoke, std::int64_t lifetime_s = 3650LL * 86400);

}  // namespace easgate::agent::transport
