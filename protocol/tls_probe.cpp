#include "protocol/tls_probe.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "protocol/certificate_names.h"

namespace easgate::protocol {
namespace {

namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Error = boost::system::error_code;

std::string subjectOf(X509* certificate) {
  return distinguishedName(certificate ? X509_get_subject_name(certificate) : nullptr);
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

// The subject of a certificate in DER, as a probe keeps the one the agent presented.
std::string subjectOfDer(const std::string& der) {
  const auto* data = reinterpret_cast<const unsigned char*>(der.data());
  X509* certificate = d2i_X509(nullptr, &data, static_cast<long>(der.size()));
  const std::string out = certificate ? subjectOf(certificate) : "(unreadable)";
  X509_free(certificate);
  return out;
}

// Whether `e` is a TLS alert the other side sent (OpenSSL files each received alert as a reason
// of its own, from SSL_AD_REASON_OFFSET on), as an agent refusing a client certificate does.
bool isReceivedAlert(const Error& e) {
  return e.category() == boost::asio::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(e.value())) >= SSL_AD_REASON_OFFSET;
}

bool isIpAddress(const std::string& host) {
  Error ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

Result<TlsProbe, std::string> probeTls(const TlsProbeOptions& o) {
  Error ec;
  ssl::context context(ssl::context::tls_client);
  if (o.verify) {
    if (o.ca_file.empty()) {
      context.set_default_verify_paths(ec);
    } else if (context.load_verify_file(o.ca_file, ec)) {
      return "cannot use the CA file " + o.ca_file + ": " + ec.message();
    }
  }
  if (!o.certificate_file.empty()) {
    if (context.use_certificate_chain_file(o.certificate_file, ec) ||
        context.use_private_key_file(o.key_file, ssl::context::pem, ec)) {
      return "cannot use the client certificate " + o.certificate_file + ": " + ec.message();
    }
  }
  boost::asio::io_context io;
  ssl::stream<tcp::socket> stream(io, context);
  TlsProbe probe;
  // Verification goes on past the first problem (the handshake is only a question here): what
  // is wrong with the agent's certificate is kept, and then whether it accepts ours.
  if (o.verify) {
    stream.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback([&](bool preverified, ssl::verify_context& v) {
      if (!preverified && probe.untrusted.empty()) {
        X509_STORE_CTX* x = v.native_handle();
        probe.untrusted = std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(x))) +
                          " (at " + subjectOf(X509_STORE_CTX_get_current_cert(x)) + ")";
      }
      return true;
    });
  } else {
    stream.set_verify_mode(ssl::verify_none);
  }
  // SNI carries host names only (RFC 6066).
  if (!isIpAddress(o.host)) SSL_set_tlsext_host_name(stream.native_handle(), o.host.c_str());

  http::request<http::empty_body> request(http::verb::get, "/v1/health", 11);
  request.set(http::field::host, o.host);
  request.set(http::field::connection, "close");
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  bool done = false;
  auto fail = [&](const Error& e) {
    probe.failure = e.message();
    probe.refused = isReceivedAlert(e);
    done = true;
  };
  // The steps, last first: each starts the next when its own succeeded.
  auto answered = [&] {
    http::async_read(stream, buffer, response, [&](Error reading, std::size_t) {
      if (reading) return fail(reading);
      probe.health_status = static_cast<int>(response.result_int());
      probe.health_body = response.body();
      done = true;
    });
  };
  // TLS 1.3: a refused client certificate comes as an alert after the handshake, in answer to
  // the first request.
  auto ask = [&] {
    http::async_write(stream, request, [&](Error writing, std::size_t) {
      if (writing) return fail(writing);
      answered();
    });
  };
  auto shake = [&] {
    stream.async_handshake(ssl::stream_base::client, [&](Error handshaking) {
      if (handshaking) return fail(handshaking);
      if (!o.ask_health) {
        done = true;
        return;
      }
      ask();
    });
  };
  tcp::resolver resolver(io);
  resolver.async_resolve(
      o.host, o.port, [&](Error resolving, const tcp::resolver::results_type& at) {
        if (resolving) return fail(resolving);
        boost::asio::async_connect(stream.lowest_layer(), at, [&](Error connecting, const auto&) {
          if (connecting) return fail(connecting);
          probe.connected = true;
          shake();
        });
      });
  io.run_for(o.limit);
  probe.timed_out = !done;
  if (probe.timed_out) {
    const auto ms = o.limit.count();
    probe.failure = "no answer within " + (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                                                          : std::to_string(ms) + " ms");
  }
  if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
    unsigned char* der = nullptr;
    const int size = i2d_X509(peer, &der);
    if (size > 0) probe.presented_der.assign(reinterpret_cast<char*>(der), size);
    OPENSSL_free(der);
    probe.for_host = X509_check_host(peer, o.host.data(), o.host.size(), 0, nullptr) == 1 ||
                     X509_check_ip_asc(peer, o.host.c_str(), 0) == 1;
    X509_free(peer);
  }
  return probe;
}

std::optional<std::string> tlsProblem(const TlsProbeOptions& o, const TlsProbe& probe) {
  if (!probe.connected) return std::nullopt;
  if (o.verify && !probe.presented_der.empty()) {
    const std::string presented = subjectOfDer(probe.presented_der);
    if (!probe.untrusted.empty()) {
      return "the agent's certificate " + presented + " is not trusted: " + probe.untrusted + "; " +
             (o.ca_file.empty()
                  ? std::string("no CA file was given, and the system's CAs did not sign it")
                  : "it is not signed by the CA in " + o.ca_file);
    }
    if (!probe.for_host) {
      return "the agent's certificate " + presented + " is not for " + o.host;
    }
  }
  if (!probe.refused) return std::nullopt;
  if (o.certificate_file.empty()) {
    return "the agent requires a client certificate, and none was given (" + probe.failure + ")";
  }
  return "the agent refused the client certificate " + subjectOfFile(o.certificate_file) + " (" +
         probe.failure + ")";
}

}  // namespace easgate::protocol
