#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

// The 9090 listener behind the project's own interface: requests in, responses out, and who
// the client proved to be. The HTTP and TLS libraries stay in the implementation.
namespace easgate::agent::transport {

// The client's certificate, as verified in the TLS handshake against the client CA.
struct PeerIdentity {
  bool authenticated = false;  // a certificate was presented and verified
  std::string subject;         // RFC 2253: "CN=mdm.example.com,O=Example"
  std::string common_name;
  std::string thumbprint;  // SHA-256 of the certificate, lower-case hex without separators
  std::string address;     // the client's IP address
};

struct HttpRequest {
  std::string method;  // GET, POST, PUT, DELETE, ...
  std::string target;  // path and query, as sent ("/v1/devices?limit=10")
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  PeerIdentity peer;

  // A header's value (name in lower case); empty when absent.
  std::string_view header(std::string_view lower_case_name) const;
};

class PendingResponse;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set instead of an answer when there is none yet (a long-poll): see PendingResponse.
  std::shared_ptr<PendingResponse> pending;
};

// An answer that is not ready yet: a long-poll. The listener waits for it without holding a
// worker thread or blocking other requests: it asks attempt() again each time the owner wakes it,
// every recheckEvery() if that is set, and once more at the deadline with `final` set. A client
// that disconnects ends the wait; dropping the PendingResponse ends its subscription.
class PendingResponse {
 public:
  virtual ~PendingResponse() = default;
  virtual std::chrono::steady_clock::time_point deadline() const = 0;
  // Also ask this often (for news the owner cannot signal); zero: only when woken.
  virtual std::chrono::milliseconds recheckEvery() const { return std::chrono::milliseconds(0); }
  // `wake` may be called from any thread, any number of times, while the returned subscription
  // lives.
  virtual std::shared_ptr<void> subscribe(std::function<void()> wake) = 0;
  // The answer, if there is one now; with `final`, there must be one.
  virtual std::optional<HttpResponse> attempt(bool final) = 0;
};

// One whole HTTP/1.1 request read from `bytes` as the listener reads it (its header limit,
// `max_body_bytes`, header names in lower case); nullopt when it is incomplete or no valid
// HTTP (the listener answers those itself: 400, 413, 431). For fuzzing and tools.
std::optional<HttpRequest> parseHttpRequest(std::string_view bytes, std::size_t max_body_bytes);

// For callers without a listener (tests, tools): blocks until a pending response is answered,
// as the listener would; returns any other response as it is.
HttpResponse awaitResponse(HttpResponse response);

// Answers one request. Called on a worker thread; it should not block for long: a long-poll
// answers with a PendingResponse instead of waiting.
using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;

struct TlsOptions {
  std::string certificate_file;  // the agent's certificate chain (PEM)
  std::string key_file;          // its private key (PEM)
  std::string client_ca_file;    // CAs whose client certificates are accepted (PEM)
  bool require_client_certificate = true;
  // Their certificate revocation lists (PEM or DER), checked for every client certificate when
  // set; read again when the file changes, at most `revocation_recheck` later.
  std::string client_crl_file;
  std::chrono::milliseconds revocation_recheck{30000};
};

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 9090;  // 0: any free port (tests)
  // Plain HTTP instead of TLS: only for a development agent, and only on a loopback address.
  bool plain_http = false;
  TlsOptions tls;
  std::size_t io_threads = 2;
  std::size_t workers = 16;  // requests handled at once (a waiting long-poll holds none)
  std::size_t max_body_bytes = 256 * 1024;
  std::chrono::seconds idle_timeout{60};  // a keep-alive connection with no request is closed
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // The port it listens on (the one chosen, when asked for 0).
  virtual std::uint16_t port() const = 0;
  // Stops accepting, closes connections and waits for handlers to return.
  virtual void stop() = 0;
};

// Why the listener would refuse these options before touching a certificate or a port (an
// address that is none, plain HTTP off loopback); empty when none. One rule for `easgate run`
// and `easgate doctor`.
std::string listenAddressProblem(const HttpServerOptions& options);

// Listens and serves until stop(). Fails with a message naming the file, address or option at
// fault: unreadable certificates, a key that does not match, a port in use, plain HTTP on a
// non-loopback address.
Result<std::unique_ptr<HttpServer>, std::string> startHttpServer(const HttpServerOptions& options,
                                                                 RequestHandler handler);

}  // namespace easgate::agent::transport
