#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace easgate::agent {

using Sha256 = std::array<std::uint8_t, 32>;

// SHA-256 of `bytes` (OpenSSL).
Sha256 sha256(std::string_view bytes);

// SHA-256 of bytes given a part at a time: equal to sha256() of the parts joined, without
// holding them joined (a policy plan hashes a line per partnership).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  Sha256Stream(Sha256Stream&&) noexcept;  // the stream moved from is not to be used
  Sha256Stream& operator=(Sha256Stream&&) noexcept;

  Sha256Stream& add(std::string_view bytes);
  // The digest of everything added; the stream is not to be used after.
  Sha256 finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

std::string toHex(const Sha256& digest);
// 64 hex digits (either case) back into a digest; nullopt for anything else.
std::optional<Sha256> sha256FromHex(std::string_view hex);

}  // namespace easgate::agent
