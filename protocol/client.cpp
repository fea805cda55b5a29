#include "protocol/client.h"

#include <cpprest/http_client.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <optional>

namespace easgate::protocol {
namespace {

namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

// cpprestsdk's strings are UTF-16 (std::wstring) on Windows and UTF-8 elsewhere; easgate's are
// UTF-8 everywhere. These two convert at the boundary (and cost nothing off Windows).
utility::string_t platformText(std::string_view utf8) {
  return utility::conversions::to_string_t(std::string(utf8));
}
std::string utf8Text(const utility::string_t& text) {
  return utility::conversions::to_utf8string(text);
}

// A certificate's subject as RFC 2253 writes it ("CN=easgate-admin,O=..."), as the agent's log
// and `doctor` name certificates.
std::string subjectOf(X509* certificate) {
  if (certificate == nullptr) return "(none)";
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, X509_get_subject_name(certificate), 0,
                     XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string out = size > 0 ? std::string(data, static_cast<std::size_t>(size)) : "";
  BIO_free(bio);
  return out;
}

// The subject of the first certificate of a PEM file; empty when there is none.
std::string subjectOfFile(const std::string& path) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) return "";
  X509* certificate = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  const std::string out = certificate ? subjectOf(certificate) : "";
  X509_free(certificate);
  return out;
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

// Why a TLS connection to the agent fails, in words an administrator can act on, found by
// connecting again with the same files (the HTTP library says only "Error in SSL handshake" or,
// when TLS 1.3 lets the agent refuse a client certificate after the handshake, "Failed to read
// HTTP status line"). nullopt when the connection works, cannot be made at all, or fails for a
// reason this does not know.
std::optional<std::string> tlsProblem(const ClientOptions& o, const std::string& host,
                                      const std::string& port, std::chrono::seconds limit) {
  using Error = boost::system::error_code;
  Error ec;
  ssl::context context(ssl::context::tls_client);
  if (o.ca_file.empty()) {
    context.set_default_verify_paths(ec);
  } else {
    context.load_verify_file(o.ca_file, ec);
  }
  if (!o.certificate_file.empty()) {
    context.use_certificate_chain_file(o.certificate_file, ec);
    context.use_private_key_file(o.key_file, ssl::context::pem, ec);
  }
  boost::asio::io_context io;
  ssl::stream<tcp::socket> stream(io, context);
  // Verification goes on past the first problem (the handshake is only a question here): what
  // is wrong with the agent's certificate is kept, and then whether it accepts ours.
  std::string untrusted;
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback([&](bool preverified, ssl::verify_context& v) {
    if (!preverified && untrusted.empty()) {
      X509_STORE_CTX* x = v.native_handle();
      untrusted = std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(x))) +
                  " (at " + subjectOf(X509_STORE_CTX_get_current_cert(x)) + ")";
    }
    return true;
  });
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  tcp::resolver resolver(io);
  std::string request =
      "GET /v1/health HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  char reply[64];
  bool connected = false;
  Error failed;  // the handshake's, or the first write's or read's after it
  resolver.async_resolve(host, port, [&](Error resolving, const tcp::resolver::results_type& at) {
    if (resolving) return;
    boost::asio::async_connect(stream.lowest_layer(), at, [&](Error connecting, const auto&) {
      if (connecting) return;
      connected = true;
      stream.async_handshake(ssl::stream_base::client, [&](Error handshaking) {
        if ((failed = handshaking)) return;
        // TLS 1.3: a refused client certificate comes as an alert after the handshake.
        boost::asio::async_write(stream, boost::asio::buffer(request), [&](Error writing, auto) {
          if ((failed = writing)) return;
          stream.async_read_some(boost::asio::buffer(reply),
                                 [&](Error reading, auto) { failed = reading; });
        });
      });
    });
  });
  io.run_for(limit);
  if (!connected) return std::nullopt;
  std::string server_subject = "(none)";
  if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
    server_subject = subjectOf(peer);
    const bool named = X509_check_host(peer, host.data(), host.size(), 0, nullptr) == 1 ||
                       X509_check_ip_asc(peer, host.c_str(), 0) == 1;
    X509_free(peer);
    if (untrusted.empty() && !named) {
      return "the agent's certificate " + server_subject + " is not for " + host;
    }
  }
  if (!untrusted.empty()) {
    return "the agent's certificate " + server_subject + " is not trusted: " + untrusted + "; " +
           (o.ca_file.empty()
                ? std::string("no CA file was given, and the system's CAs did not sign it")
                : "it is not signed by the CA in " + o.ca_file);
  }
  if (!failed || failed == boost::asio::error::eof) return std::nullopt;
  const std::string reason = failed.message();
  if (reason.find("alert") == std::string::npos) return std::nullopt;
  if (o.certificate_file.empty()) {
    return "the agent requires a client certificate, and none was given (" + reason + ")";
  }
  return "the agent refused the client certificate " + subjectOfFile(o.certificate_file) + " (" +
         reason + ")";
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
    const web::uri base(platformText(impl_->options.base_url));
    if (base.scheme() != platformText("https")) return failure;
    const std::string port = base.port() > 0 ? std::to_string(base.port()) : "443";
    auto why = tlsProblem(impl_->options, utf8Text(base.host()), port, std::chrono::seconds(5));
    return why ? failure + ": " + *why : failure;
  } catch (const std::exception&) {
    return failure;
  }
}

}  // namespace easgate::protocol
