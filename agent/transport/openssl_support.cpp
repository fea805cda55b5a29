#include "agent/transport/openssl_support.h"
#include "common/text/hex.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <fstream>
#include <iterator>

namespace easgate::agent::transport::openssl {
namespace {

std::string memoryText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

}  // namespace

std::string lastError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return buffer;
}

std::int64_t unixMs(const ASN1_TIME* t) {
  if (t == nullptr) return 0;
  ASN1_TIME* epoch = ASN1_TIME_set(nullptr, 0);
  int days = 0;
  int seconds = 0;
  const bool ok = ASN1_TIME_diff(&days, &seconds, epoch, t) == 1;
  ASN1_TIME_free(epoch);
  return ok ? (static_cast<std::int64_t>(days) * 86400 + seconds) * 1000 : 0;
}

std::optional<std::string> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

BioPtr memoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

Result<X509Ptr, std::string> loadCertificate(const std::filesystem::path& path) {
  auto text = readFile(path);
  if (!text) return "cannot read " + path.string();
  auto bio = memoryBio(*text);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return path.string() + " holds no PEM certificate";
  }
  return cert;
}

std::string pemOf(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return memoryText(bio.get());
}

std::string pemOf(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return memoryText(bio.get());
}

std::string pemOf(X509_CRL* crl) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), crl);
  return memoryText(bio.get());
}

std::string serialText(const ASN1_INTEGER* serial) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
  if (bn == nullptr) return {};
  char* hex = BN_bn2hex(bn);
  std::string text = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return text;
}

std::string fileUri(const std::filesystem::path& path) {
  const std::string generic = std::filesystem::absolute(path).lexically_normal().generic_string();
  std::string uri = "file://";
  if (generic.empty() || generic.front() != '/') uri += '/';  // C:/... on Windows
  for (const unsigned char c : generic) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == ':';
    if (plain) {
      uri += static_cast<char>(c);
    } else {
      uri += '%';
      text::appendHexByte(uri, c, text::HexCase::kUpper);
    }
  }
  return uri;
}

}  // namespace easgate::agent::transport::openssl
