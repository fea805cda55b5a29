#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace easgate::protocol {

// Where the agent is and how to prove who we are: what `easgate ctl` and the tests need.
struct ClientOptions {
  std::string base_url = "https://localhost:9090";
  std::string ca_file;           // the CA that signed the agent's certificate; empty: system CAs
  std::string certificate_file;  // the client certificate (PEM, chain allowed)
  std::string key_file;          // its private key (PEM)
  std::chrono::seconds timeout{70};  // longer than the longest event long-poll
};

struct ApiResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;  // the Retry-After header, when there was one
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// A client of the /v1 protocol over HTTPS with a client certificate. One client keeps its
// connection alive between requests. Safe to use from one thread at a time. The HTTP library
// (cpprestsdk) stays in client.cpp.
class ApiClient {
 public:
  static Result<std::unique_ptr<ApiClient>, std::string> create(const ClientOptions& options);
  ~ApiClient();

  // Sends one request; an error only when no HTTP answer came (TLS refused, no connection,
  // timeout). `path` includes the query string.
  // The error says why (protocol/tls_probe.h): the system's reason no connection was made, an
  // agent that took the connection and did not answer, TLS on an http:// URL; when TLS failed,
  // the agent's certificate not trusted or not for its host, no client certificate given, or
  // ours refused (and the agent's words for it).
  Result<ApiResponse, std::string> send(std::string_view method, std::string_view path,
                                        std::string_view body = {}, const Headers& headers = {});

 private:
  // `failure`, the HTTP library's words, with the reason a second connection finds.
  std::string explainFailure(const std::string& failure) const;
  struct Impl;
  explicit ApiClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace easgate::protocol
