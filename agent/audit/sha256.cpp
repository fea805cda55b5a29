// The OpenSSL adapter for hashing.
#include "agent/audit/sha256.h"
#include "common/text/hex.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace easgate::agent {

Sha256 sha256(std::string_view bytes) {
  Sha256 digest{};
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != digest.size()) {
    throw std::runtime_error("OpenSSL SHA-256 failed");  // only if OpenSSL itself is broken
  }
  return digest;
}

std::string toHex(const Sha256& digest) {
  std::string out;
  text::appendHex(out, digest);
  return out;
}

std::optional<Sha256> sha256FromHex(std::string_view hex) {
  Sha256 digest{};
  if (hex.size() != digest.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    int hi = text::hexValue(hex[2 * i]), lo = text::hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    digest[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return digest;
}

}  // namespace easgate::agent
