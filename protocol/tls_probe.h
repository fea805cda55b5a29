#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/result.h"

namespace easgate::protocol {

// One TLS connection to an agent, made to find out what is wrong with it rather than to use it:
// `easgate ctl` makes one when a request over https got no answer (to say why), and
// `easgate doctor` one to recognise the agent on its port (by the certificate it presents) and
// ask its health.
struct TlsProbeOptions {
  std::string host;  // a name or an IP address; a name is sent as SNI
  std::string port;
  // Check the agent's certificate against `ca_file` (empty: the system's CAs) and `host`, and
  // say what fails; doctor compares the certificate with its configuration instead.
  bool verify = true;
  std::string ca_file;
  std::string certificate_file;  // a client certificate (PEM) and its key; both or neither
  std::string key_file;
  bool ask_health = true;  // GET /v1/health after the handshake
  std::chrono::milliseconds limit{5000};
};

struct TlsProbe {
  bool connected = false;     // a TCP connection was made
  bool timed_out = false;     // the limit passed first
  std::string presented_der;  // the certificate the agent presented (DER); empty: none came
  // With `verify`: OpenSSL's reason the chain is not trusted and the certificate it stopped at
  // ("unable to get local issuer certificate (at CN=...)"); empty when trusted.
  std::string untrusted;
  bool for_host = false;  // with `verify`: the certificate names `host`
  std::string failure;    // the handshake's, the request's or the answer's error, first of them
  bool refused = false;   // `failure` is an alert the agent sent (a refused client certificate)
  int health_status = 0;  // the answer to GET /v1/health; 0: not asked, or no answer
  std::string health_body;
};

// Connects, shakes hands and (when asked) asks GET /v1/health, all within `options.limit`.
// An error only when the client certificate or the CA file cannot be used (nothing connected).
Result<TlsProbe, std::string> probeTls(const TlsProbeOptions& options);

// What a probe found wrong, in words an administrator can act on: the agent's certificate not
// trusted or not for the host (with `verify`), no client certificate given where the agent
// requires one, or ours refused and the agent's alert. nullopt when nothing connected, or the
// connection failed for a reason this does not know.
std::optional<std::string> tlsProblem(const TlsProbeOptions& options, const TlsProbe& probe);

}  // namespace easgate::protocol
