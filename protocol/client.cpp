#include "protocol/client.h"

#include <cpprest/http_client.h>
#include <boost/asio/ssl.hpp>
#include <filesystem>
#include <fstream>
#include <optional>

#include "protocol/tls_probe.h"

namespace easgate::protocol {
namespace {

namespace ssl = boost::asio::ssl;

// cpprestsdk's strings are UTF-16 (std::wstring) on Windows and UTF-8 elsewhere; easgate's are
// UTF-8 everywhere. These two convert at the boundary (and cost nothing off Windows).
utility::string_t platformText(std::string_view utf8) {
  return utility::conversions::to_string_t(std::string(utf8));
}
std::string utf8Text(const utility::string_t& text) {
  return utility::conversions::to_utf8string(text);
}

// Why a file the client was given cannot be read, or nullopt when it can.
std::optional<std::string> unreadable(const std::string& what, const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  std::string why;
  if (status.type() == std::filesystem::file_type::not_found) {
    why = "no such file";
  } else if (ec) {
    why = ec.message();
  } else if (!std::filesystem::is_regular_file(status)) {
    why = "not a file";
  } else if (!std::ifstream(path, std::ios::binary)) {
    why = "it cannot be opened (its permissions?)";
  } else {
    return std::nullopt;
  }
  return "cannot read " + what + " " + path + ": " + why;
}

}  // namespace

struct ApiClient::Impl {
  Impl(web::http::client::http_client c, ClientOptions o)
      : client(std::move(c)), options(std::move(o)) {}
  web::http::client::http_client client;
  ClientOptions options;
};

ApiClient::ApiClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiClient::~ApiClient() = default;

Result<std::unique_ptr<ApiClient>, std::string> ApiClient::create(const ClientOptions& o) {
  web::http::client::http_client_config config;
  config.set_timeout(o.timeout);
  config.set_validate_certificates(true);
  if ((o.certificate_file.empty()) != (o.key_file.empty())) {
    return std::string("a client certificate needs its key, and a key its certificate");
  }
  config.set_ssl_context_callback([o](boost::asio::ssl::context& ctx) {
    // Exceptions here would surface as a failed handshake with no reason; files are checked
    // again below so the caller gets one.
    boost::system::error_code ec;
    ctx.set_options(boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                        boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1,
                    ec);
    if (!o.ca_file.empty()) ctx.load_verify_file(o.ca_file, ec);
    if (!o.certificate_file.empty()) {
      ctx.use_certificate_chain_file(o.certificate_file, ec);
      ctx.use_private_key_file(o.key_file, boost::asio::ssl::context::pem, ec);
    }
  });
  // Load the files once here, so a bad path or a key that does not match is reported now, each
  // by its name.
  for (const auto& [what, path] : {std::pair{"the CA file", &o.ca_file},
                                   std::pair{"the client certificate", &o.certificate_file},
                                   std::pair{"the key", &o.key_file}}) {
    if (path->empty()) continue;
    if (auto problem = unreadable(what, *path)) return *problem;
  }
  ssl::context probe(ssl::context::tls_client);
  boost::system::error_code ec;
  if (!o.ca_file.empty() && probe.load_verify_file(o.ca_file, ec)) {
    return "the CA file " + o.ca_file + " holds no certificate (PEM): " + ec.message();
  }
  if (!o.certificate_file.empty()) {
    if (probe.use_certificate_chain_file(o.certificate_file, ec)) {
      return "the client certificate " + o.certificate_file +
             " is not a certificate (PEM): " + ec.message();
    }
    if (probe.use_private_key_file(o.key_file, ssl::context::pem, ec)) {
      return ec.message().find("mismatch") != std::string::npos
                 ? "the key " + o.key_file + " is not the client certificate's (" +
                       o.certificate_file + ")"
                 : "the key " + o.key_file +
                       " is not a private key (PEM, without a passphrase): " + ec.message();
    }
  }
  try {
    web::uri base(platformText(o.base_url));
    if (base.scheme() != platformText("https") && base.scheme() != platformText("http")) {
      return "the URL must start with https:// (or http:// for a loopback development agent): " +
             o.base_url;
    }
    return std::unique_ptr<ApiClient>(
        new ApiClient(std::make_unique<Impl>(web::http::client::http_client(base, config), o)));
  } catch (const std::exception& e) {
    return "not a URL: " + o.base_url + " (" + e.what() + ")";
  }
}

Result<ApiResponse, std::string> ApiClient::send(std::string_view method, std::string_view path,
                                                 std::string_view body, const Headers& headers) {
  try {
    web::http::http_request request{platformText(method)};
    request.set_request_uri(web::uri(platformText(path)));
    for (const auto& [name, value] : headers) {
      request.headers().add(platformText(name), platformText(value));
    }
    if (!body.empty()) request.set_body(std::string(body), "application/json");
    web::http::http_response response = impl_->client.request(request).get();
    ApiResponse out;
    out.status = response.status_code();
    out.body = response.extract_utf8string(true).get();
    out.content_type = utf8Text(response.headers().content_type());
    const utility::string_t retry_after = platformText("Retry-After");
    if (response.headers().has(retry_after)) {
      out.retry_after = utf8Text(response.headers().find(retry_after)->second);
    }
    return out;
  } catch (const std::exception& e) {
    return explainFailure(e.what());
  }
}

std::string ApiClient::explainFailure(const std::string& failure) const {
  try {
    // A second connection with the same files: the HTTP library says only "Failed to connect
    // to any resolved endpoint", "Error in SSL handshake" or, when TLS 1.3 lets the agent refuse
    // a client certificate after the handshake (or the agent speaks TLS to an http:// URL),
    // "Failed to read HTTP status line".
    const web::uri base(platformText(impl_->options.base_url));
    const bool https = base.scheme() == platformText("https");
    TlsProbeOptions asked;
    asked.host = utf8Text(base.host());
    asked.port = base.port() > 0 ? std::to_string(base.port()) : https ? "443" : "80";
    if (https) {
      asked.ca_file = impl_->options.ca_file;
      asked.certificate_file = impl_->options.certificate_file;
      asked.key_file = impl_->options.key_file;
    } else {
      asked.verify = false;  // only whether TLS answers
      asked.ask_health = false;
    }
    auto probe = probeTls(asked);
    if (!probe) return failure;
    const std::string at = asked.host + ":" + asked.port;
    if (!probe->connected) {
      return probe->failure.empty() ? failure : failure + ": " + at + ": " + probe->failure;
    }
    if (!https) {
      return probe->presented_der.empty()
                 ? failure
                 : failure + ": the agent on " + at + " speaks TLS: use https://" + at;
    }
    if (auto why = tlsProblem(asked, probe.value())) return failure + ": " + *why;
    if (probe->timed_out) {
      return failure + ": " + at + " took the connection and did not answer (" + probe->failure +
             ")";
    }
    return failure;
  } catch (const std::exception&) {
    return failure;
  }
}

}  // namespace easgate::protocol
