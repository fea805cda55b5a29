#include "protocol/client.h"

#include <cpprest/http_client.h>

#include <boost/asio/ssl.hpp>

namespace easgate::protocol {
namespace {

// cpprestsdk's strings are UTF-16 (std::wstring) on Windows and UTF-8 elsewhere; easgate's are
// UTF-8 everywhere. These two convert at the boundary (and cost nothing off Windows).
utility::string_t platformText(std::string_view utf8) {
  return utility::conversions::to_string_t(std::string(utf8));
}
std::string utf8Text(const utility::string_t& text) {
  return utility::conversions::to_utf8string(text);
}

}  // namespace

struct ApiClient::Impl {
  explicit Impl(web::http::client::http_client c) : client(std::move(c)) {}
  web::http::client::http_client client;
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
  // Load the files once here, so a bad path or a key that does not match is reported now.
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
    if (!o.ca_file.empty()) probe.load_verify_file(o.ca_file);
    if (!o.certificate_file.empty()) {
      probe.use_certificate_chain_file(o.certificate_file);
      probe.use_private_key_file(o.key_file, boost::asio::ssl::context::pem);
    }
  } catch (const std::exception& e) {
    return std::string("cannot use the TLS files: ") + e.what();
  }
  try {
    web::uri base(platformText(o.base_url));
    if (base.scheme() != platformText("https") && base.scheme() != platformText("http")) {
      return "the URL must start with https:// (or http:// for a loopback development agent): " +
             o.base_url;
    }
    return std::unique_ptr<ApiClient>(
        new ApiClient(std::make_unique<Impl>(web::http::client::http_client(base, config))));
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
    return std::string(e.what());
  }
}

}  // namespace easgate::protocol
