#pragma once

// OpenSSL handles and helpers shared by the transport's .cpp files (certificates, revocation,
// the listener). Not for use outside agent/transport/.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"

namespace easgate::agent::transport::openssl {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

// The oldest error on this thread's OpenSSL queue in words, and the queue cleared.
std::string lastError();

// Milliseconds since 1970 (0 when `t` is null or unreadable).
std::int64_t unixMs(const ASN1_TIME* t);

std::optional<std::string> readFile(const std::filesystem::path& path);

// A read-only BIO over `text`, which must outlive it.
BioPtr memoryBio(const std::string& text);

// The first PEM certificate of a file.
Result<X509Ptr, std::string> loadCertificate(const std::filesystem::path& path);

std::string pemOf(X509* certificate);
std::string pemOf(EVP_PKEY* key);
std::string pemOf(X509_CRL* crl);

// A serial number as upper-case hex, as `openssl x509 -serial` prints it.
std::string serialText(const ASN1_INTEGER* serial);

// `path` as a file: URI (RFC 8089), absolute, with '/' separators and reserved bytes escaped.
std::string fileUri(const std::filesystem::path& path);

}  // namespace easgate::agent::transport::openssl
