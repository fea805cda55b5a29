#pragma once

#include <openssl/types.h>

#include <string>

namespace easgate::protocol {

// A certificate's subject or issuer as the protocol writes it: RFC 2253 ("CN=easgate-admin,O=..."),
// UTF-8 kept as it is. The configuration's roles name client certificates this way, the agent
// logs and audits the peer's subject this way, and `ctl` and `doctor` print certificates so.
// "(none)" for a null name.
std::string distinguishedName(const X509_NAME* name);

}  // namespace easgate::protocol
