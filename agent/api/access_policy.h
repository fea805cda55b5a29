#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/transport/http_server.h"

namespace easgate::agent::api {

// What a client may do. Each role includes the ones before it.
enum class Role { kNone, kReader, kOperator, kAdmin };
std::string_view roleName(Role role);  // none, reader, operator, admin
std::optional<Role> roleNamed(std::string_view name);

// One configured client: matched by its certificate's subject (the whole RFC 2253 subject, or
// just "CN=<name>"), or by its SHA-256 thumbprint (hex, any case, ':' allowed).
struct ClientRule {
  std::string subject;
  std::string thumbprint;
  Role role = Role::kNone;
};

// Maps a verified client certificate to its role. A certificate that matches no rule has no
// role (401), even when the CA signed it: the CA says who, the rules say what.
class AccessPolicy {
 public:
  AccessPolicy() = default;
  // `anonymous` is the role of a client without a certificate: kNone unless the agent runs
  // plain HTTP on loopback for development and the configuration says otherwise.
  AccessPolicy(std::vector<ClientRule> rules, Role anonymous);

  Role roleOf(const transport::PeerIdentity& peer) const;

 private:
  std::vector<ClientRule> rules_;
  Role anonymous_ = Role::kNone;
};

// A thumbprint as compared: lower-case hex without separators.
std::string normalizeThumbprint(std::string_view text);

// Who the client is, for the audit log and the rate limiter.
std::string clientLabel(const transport::PeerIdentity& peer);

}  // namespace easgate::agent::api
