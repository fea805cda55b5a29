#include "agent/api/access_policy.h"

#include <algorithm>
#include <cctype>

#include "common/text/ascii.h"
#include "common/text/name_table.h"

namespace easgate::agent::api {
namespace {

constexpr Named<Role> kRoles[] = {{Role::kNone, "none"},
                                  {Role::kReader, "reader"},
                                  {Role::kOperator, "operator"},
                                  {Role::kAdmin, "admin"}};

}  // namespace

std::string_view roleName(Role role) { return nameOf(kRoles, role); }
std::optional<Role> roleNamed(std::string_view name) { return valueNamed(kRoles, name); }

std::string normalizeThumbprint(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == ':' || c == ' ') continue;
    out.push_back(text::lowerAsciiChar(c));
  }
  return out;
}

AccessPolicy::AccessPolicy(std::vector<ClientRule> rules, Role anonymous)
    : rules_(std::move(rules)), anonymous_(anonymous) {
  for (auto& r : rules_) r.thumbprint = normalizeThumbprint(r.thumbprint);
}

Role AccessPolicy::roleOf(const transport::PeerIdentity& peer) const {
  if (!peer.authenticated) return anonymous_;
  for (const auto& rule : rules_) {
    if (!rule.thumbprint.empty() && rule.thumbprint == peer.thumbprint) return rule.role;
    if (!rule.subject.empty() &&
        (text::equalsIgnoreAsciiCase(rule.subject, peer.subject) ||
         (!peer.common_name.empty() &&
          text::equalsIgnoreAsciiCase(rule.subject, "CN=" + peer.common_name)))) {
      return rule.role;
    }
  }
  return Role::kNone;
}

std::string clientLabel(const transport::PeerIdentity& peer) {
  if (!peer.authenticated) return "anonymous@" + peer.address;
  return peer.subject + " (sha256:" + peer.thumbprint.substr(0, 16) + ")";
}

}  // namespace easgate::agent::api
