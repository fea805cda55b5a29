// The 9090 listener on Boost.Beast and OpenSSL. cpprestsdk's listener was the first choice,
// but it cannot tell a handler which client certificate a request came with (neither on
// Linux nor on http.sys: microsoft/cpprestsdk#1515, #1539), and roles hang on exactly that.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "agent/transport/certificates.h"
#include "agent/transport/http_server.h"
#include "agent/transport/openssl_support.h"
#include "agent/transport/revocation.h"
#include "common/text/ascii.h"
#include "common/time/utc_time.h"
#include "protocol/api_error.h"

namespace easgate::agent::transport {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr std::chrono::seconds kHandshakeTimeout{15};

// TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 keeps OpenSSL's defaults.
constexpr const char* kCipherList =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

Result<void, std::string> configureTls(net::ssl::context& ctx, const TlsOptions& o) {
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kCipherList) != 1) {
    return "cannot set the TLS versions and ciphers: " + openssl::lastError();
  }
  ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_compression |
                  net::ssl::context::single_dh_use);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  if (o.certificate_file.empty() || o.key_file.empty()) {
    return std::string(
        "TLS needs the agent's certificate and key files (tls.certificate, tls.key)");
  }
  ctx.use_certificate_chain_file(o.certificate_file, ec);
  if (ec) return "cannot use the certificate " + o.certificate_file + ": " + ec.message();
  ctx.use_private_key_file(o.key_file, net::ssl::context::pem, ec);
  if (ec) return "cannot use the private key " + o.key_file + ": " + ec.message();
  if (SSL_CTX_check_private_key(native) != 1) {
    return "the key " + o.key_file + " does not belong to the certificate " + o.certificate_file;
  }
  if (!o.client_ca_file.empty()) {
    ctx.load_verify_file(o.client_ca_file, ec);
    if (ec) return "cannot use the client CA file " + o.client_ca_file + ": " + ec.message();
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(native, names);
    }
  } else if (o.require_client_certificate) {
    return std::string(
        "client certificates are required but no client CA is configured (tls.client_ca)");
  }
  if (!o.client_ca_file.empty()) {
    ctx.set_verify_mode(net::ssl::verify_peer |
                        (o.require_client_certificate ? net::ssl::verify_fail_if_no_peer_cert : 0));
  } else {
    ctx.set_verify_mode(net::ssl::verify_none);
  }
  // Resumed sessions with verify_peer need a session id context, or OpenSSL refuses them.
  static constexpr unsigned char kSessionContext[] = "easgate";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  return {};
}

PeerIdentity peerOf(SSL* ssl, const std::string& address) {
  PeerIdentity peer;
  peer.address = address;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return peer;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    const CertificateInfo info = describeCertificate(cert);
    peer.authenticated = true;
    peer.subject = info.subject;
    peer.common_name = info.common_name;
    peer.thumbprint = info.thumbprint;
  }
  X509_free(cert);
  return peer;
}

class Server;

// A parsed request as the handler sees it: header names in lower case.
HttpRequest toHttpRequest(http::request<http::string_body>&& message) {
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    const auto raw = field.name_string();
    std::string name = text::lowerAscii(std::string_view(raw.data(), raw.size()));
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  request.body = std::move(message.body());
  return request;
}

// One connection: reads requests, hands each to a worker, writes the answers in order.
// Stream is beast::tcp_stream (plain) or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Server& server, Stream stream, std::string address, std::string endpoint)
      : server_(server),
        stream_(std::move(stream)),
        peer_{false, {}, {}, {}, std::move(address)},
        endpoint_(std::move(endpoint)) {}

  void start();
  void verifiedWith(std::uint64_t generation) { verified_generation_ = generation; }

 private:
  // A long-poll waited for on this connection, holding no worker (see PendingResponse).
  struct Wait {
    std::shared_ptr<PendingResponse> pending;
    std::shared_ptr<void> subscription;
    bool keep_alive = false;
    unsigned version = 11;
    bool attempting = false;             // an attempt runs on a worker
    bool woken = false;                  // woken meanwhile: try again after it
    bool final_due = false;              // the deadline passed meanwhile
    bool watching = false;               // a read watches for the client going away
    std::optional<HttpResponse> answer;  // ready, sent once the watching read has ended
  };

  void handshake();
  std::string stillAccepted();
  void read();
  void onRead(beast::error_code ec);
  void answer(HttpResponse response, bool keep_alive, unsigned version);
  void startWait(std::shared_ptr<PendingResponse> pending, bool keep_alive, unsigned version);
  void armTimer();
  void tryAnswer(bool final);
  void finishWait(HttpResponse response);
  void watch();
  void respond(HttpResponse response, bool keep_alive, unsigned version);
  void fail(int status, const std::string& code, const std::string& message, unsigned version);
  void close();

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  Server& server_;
  Stream stream_;
  PeerIdentity peer_;
  std::string endpoint_;  // address:port, for the log
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::optional<Wait> wait_;
  std::optional<net::steady_timer> timer_;
  std::uint64_t verified_generation_ = 0;
};

class Server final : public HttpServer {
 public:
  Server(const HttpServerOptions& options, RequestHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        tls_(net::ssl::context::tls_server),
        acceptor_(io_),
        workers_(options.workers) {}

  ~Server() override { stop(); }

  Result<void, std::string> listen() {
    if (!options_.plain_http) {
      if (auto t = configureTls(tls_, options_.tls); !t) return t;
    }
    if (auto problem = listenAddressProblem(options_); !problem.empty()) return problem;
    boost::system::error_code ec;
    const auto address = net::ip::make_address(options_.address, ec);
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return "cannot listen on " + options_.address + ":" + std::to_string(options_.port) + ": " +
             ec.message();
    }
    port_ = acceptor_.local_endpoint().port();
    label_ = "listener " + options_.address + ":" + std::to_string(port_);
    if (!options_.plain_http) {
      if (auto v = loadClientVerification(); !v) return v;
    }
    accept();
    reportRefused();
    if (!options_.tls.client_crl_file.empty()) recheckRevocations();
    for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.io_threads); ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
    return {};
  }

  std::uint16_t port() const override { return port_; }

  void stop() override {
    std::call_once(stopped_, [this] {
      // The pending accept is cancelled, and the acceptor closed, on an io thread while they
      // all still run, so that the accept completes (aborted) before they stop. On Windows an
      // operation still pending when the io_context goes is waited for (IOCP), and under Wine's
      // service manager closing the socket alone did not end its AcceptEx: `net stop` left the
      // agent in STOP_PENDING with its bridges running.
      if (!threads_.empty()) {
        std::promise<void> closed;
        net::post(io_, [this, &closed] {
          boost::system::error_code ignored;
          acceptor_.cancel(ignored);
          acceptor_.close(ignored);
          refused_timer_.cancel();
          revocation_timer_.cancel();
          closed.set_value();
        });
        closed.get_future().wait();
      }
      io_.stop();
      for (auto& t : threads_) t.join();
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      // Handlers in flight finish (a long-poll is woken by its owner); their answers go
      // nowhere now.
      workers_.join();
    });
  }

  const HttpServerOptions& options() const { return options_; }

  // A refused TLS handshake: the details at debug, a count per peer a minute at info (a scan
  // or a misconfigured client must not flood the log).
  void handshakeRefused(const std::string& peer, const std::string& reason) {
    spdlog::debug("{}: TLS handshake with {} refused: {}", label_, peer, reason);
    std::lock_guard lock(refused_mutex_);
    auto& entry = refused_[peer.substr(0, peer.rfind(':'))];
    ++entry.first;
    entry.second = reason;
  }
  const std::string& label() const { return label_; }
  net::thread_pool& workers() { return workers_; }

  // The store client certificates are verified with now, and how many times it was replaced.
  std::pair<std::shared_ptr<X509_STORE>, std::uint64_t> verifyStore() {
    std::lock_guard lock(verify_mutex_);
    return {verify_store_, verify_generation_};
  }
  HttpResponse handle(const HttpRequest& request) {
    try {
      return handler_(request);
    } catch (const std::exception& e) {
      spdlog::error("{}: {} {} failed: {}", label_, request.method, request.target, e.what());
      return HttpResponse{
          500,
          "application/json",
          R"({"code":"internal","message":"the agent failed on this request","field":null})",
          {},
          nullptr};
    }
  }

 private:
  // Client certificates are verified against the client CAs and, with tls.client_crl, their
  // revocation lists. Each connection takes the store current when it was accepted; a changed
  // list replaces it for the connections after.
  Result<void, std::string> loadClientVerification() {
    const TlsOptions& tls = options_.tls;
    if (tls.client_ca_file.empty()) return {};
    file_stamp_ = stampOf(tls.client_crl_file);
    auto loaded = loadVerifyStore(tls.client_ca_file, tls.client_crl_file, nowMs());
    if (!loaded) return loaded.error();
    useVerifyStore(std::move(loaded.value()));
    return {};
  }

  void useVerifyStore(VerifyStore loaded) {
    for (const auto& list : loaded.lists) {
      spdlog::info("{}: revocation list of {}: {} revoked certificate(s), next update {}", label_,
                   list.issuer, list.revoked_serials.size(),
                   list.next_update_ms != 0 ? utc::formatUnixMs(list.next_update_ms) : "none");
    }
    for (const auto& warning : loaded.warnings) spdlog::error("{}: {}", label_, warning);
    std::lock_guard lock(verify_mutex_);
    verify_store_ = std::move(loaded.store);
    ++verify_generation_;
  }

  static std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // When the list file was written and how long it is: changed, it is read again.
  static std::pair<std::filesystem::file_time_type, std::uintmax_t> stampOf(
      const std::string& file) {
    std::error_code ec;
    if (file.empty()) return {};
    const auto written = std::filesystem::last_write_time(file, ec);
    const auto size = std::filesystem::file_size(file, ec);
    return {written, ec ? 0 : size};
  }

  void recheckRevocations() {
    revocation_timer_.expires_after(options_.tls.revocation_recheck);
    revocation_timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      const auto stamp = stampOf(options_.tls.client_crl_file);
      if (stamp != file_stamp_) {
        file_stamp_ = stamp;
        auto loaded =
            loadVerifyStore(options_.tls.client_ca_file, options_.tls.client_crl_file, nowMs());
        if (loaded) {
          spdlog::info("{}: {} changed; every connection is checked against it from now on", label_,
                       options_.tls.client_crl_file);
          useVerifyStore(std::move(loaded.value()));
        } else {
          spdlog::error("{}: {}; the revocation lists read before stay in use", label_,
                        loaded.error());
        }
      }
      recheckRevocations();
    });
  }

  void reportRefused() {
    refused_timer_.expires_after(std::chrono::minutes(1));
    refused_timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      std::map<std::string, std::pair<std::size_t, std::string>> refused;
      {
        std::lock_guard lock(refused_mutex_);
        refused.swap(refused_);
      }
      for (const auto& [peer, entry] : refused) {
        spdlog::info("{}: refused {} TLS handshake(s) from {} in the last minute (last: {})",
                     label_, entry.first, peer, entry.second);
      }
      reportRefused();
    });
  }

  void accept() {
    acceptor_.async_accept(
        net::make_strand(io_), accepted_from_, [this](beast::error_code ec, tcp::socket s) {
          if (ec) {
            if (ec != net::error::operation_aborted) {
              spdlog::warn("{}: accept failed: {}", label_, ec.message());
              accept();
            }
            return;
          }
          boost::system::error_code ignored;
          // The peer as accept saw it: asked later, a connection reset meanwhile has none.
          const std::string address = accepted_from_.address().to_string();
          const std::string endpoint = address + ":" + std::to_string(accepted_from_.port());
          s.set_option(tcp::no_delay(true), ignored);
          if (options_.plain_http) {
            std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(s)),
                                                         address, endpoint)
                ->start();
          } else {
            using TlsStream = beast::ssl_stream<beast::tcp_stream>;
            TlsStream stream(std::move(s), tls_);
            const auto [store, generation] = verifyStore();
            if (store) {
              SSL* ssl = stream.native_handle();
              SSL_set1_verify_cert_store(ssl, store.get());
              // A session from before a revocation list changed is not resumed: its client
              // certificate is verified again.
              const std::string context = "easgate/" + std::to_string(generation);
              SSL_set_session_id_context(ssl,
                                         reinterpret_cast<const unsigned char*>(context.data()),
                                         static_cast<unsigned>(context.size()));
            }
            auto session =
                std::make_shared<Session<TlsStream>>(*this, std::move(stream), address, endpoint);
            session->verifiedWith(generation);
            session->start();
          }
          accept();
        });
  }

  HttpServerOptions options_;
  RequestHandler handler_;
  net::io_context io_;
  net::ssl::context tls_;
  tcp::acceptor acceptor_;
  net::thread_pool workers_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::string label_ = "listener";
  tcp::endpoint accepted_from_;
  net::steady_timer refused_timer_{io_};
  std::mutex refused_mutex_;
  std::map<std::string, std::pair<std::size_t, std::string>> refused_;  // peer -> count, reason
  std::mutex verify_mutex_;
  std::shared_ptr<X509_STORE> verify_store_;
  std::uint64_t verify_generation_ = 0;
  net::steady_timer revocation_timer_{io_};
  std::pair<std::filesystem::file_time_type, std::uintmax_t> file_stamp_;
  std::once_flag stopped_;
};

template <class Stream>
void Session<Stream>::start() {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    read();
  } else {
    handshake();
  }
}

template <class Stream>
void Session<Stream>::handshake() {
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    lowest().expires_after(kHandshakeTimeout);
    stream_.async_handshake(
        net::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
          if (ec) {
            // No certificate, an unknown CA, an expired certificate, a plain-HTTP client: the
            // reason goes to the log, not the peer. OpenSSL's verification result names a
            // certificate problem better than the handshake's error ("EVP lib").
            std::string reason = ec.message();
            const long verified = SSL_get_verify_result(self->stream_.native_handle());
            if (verified != X509_V_OK) {
              reason = std::string("client certificate: ") +
                       X509_verify_cert_error_string(verified) + " (" + reason + ")";
            }
            self->server_.handshakeRefused(self->endpoint_, reason);
            return;
          }
          self->peer_ = peerOf(self->stream_.native_handle(), self->peer_.address);
          self->read();
        });
  }
}

// A connection opened before the revocation lists changed: is its certificate still good?
// Empty when it is (or when it is no TLS connection), else why not.
template <class Stream>
std::string Session<Stream>::stillAccepted() {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    return {};
  } else {
    const auto [store, generation] = server_.verifyStore();
    if (generation == verified_generation_ || !store || !peer_.authenticated) return {};
    SSL* ssl = stream_.native_handle();
    openssl::X509Ptr leaf(SSL_get1_peer_certificate(ssl));
    if (!leaf) return {};
    openssl::StoreCtxPtr check(X509_STORE_CTX_new());
    X509_STORE_CTX_init(check.get(), store.get(), leaf.get(), SSL_get_peer_cert_chain(ssl));
    X509_STORE_CTX_set_purpose(check.get(), X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(check.get()) == 1) {
      verified_generation_ = generation;
      return {};
    }
    ERR_clear_error();
    return X509_verify_cert_error_string(X509_STORE_CTX_get_error(check.get()));
  }
}

template <class Stream>
void Session<Stream>::read() {
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->body_limit(server_.options().max_body_bytes);
  lowest().expires_after(server_.options().idle_timeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
}

template <class Stream>
void Session<Stream>::onRead(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
      ec == beast::error::timeout || ec == net::error::eof ||
      ec == net::ssl::error::stream_truncated || ec == net::error::connection_reset) {
    return close();
  }
  if (ec == http::error::body_limit) {
    return fail(413, "body-too-large", "the request body is larger than the agent accepts", 11);
  }
  if (ec == http::error::header_limit) {
    return fail(431, "headers-too-large", "the request headers are larger than 16 KiB", 11);
  }
  if (ec) return fail(400, "bad-http", "the request is not valid HTTP/1.1: " + ec.message(), 11);

  if (const std::string problem = stillAccepted(); !problem.empty()) {
    spdlog::warn("{}: {} from {}: the client certificate {} is no longer accepted: {}",
                 server_.label(), std::string(parser_->get().method_string()), endpoint_,
                 peer_.subject, problem);
    return fail(401, "unauthenticated", "the client certificate is no longer accepted: " + problem,
                parser_->get().version());
  }
  auto message = parser_->release();
  const bool keep_alive = message.keep_alive();
  const unsigned version = message.version();
  HttpRequest request = toHttpRequest(std::move(message));
  request.peer = peer_;
  // The handler may block (the store, a long-poll): it runs on a worker, never on an I/O
  // thread, and the answer is written back on this connection's strand.
  net::post(server_.workers(), [self = this->shared_from_this(), request = std::move(request),
                                keep_alive, version]() mutable {
    HttpResponse response = self->server_.handle(request);
    net::post(self->stream_.get_executor(),
              [self, response = std::move(response), keep_alive, version]() mutable {
                self->answer(std::move(response), keep_alive, version);
              });
  });
}

template <class Stream>
void Session<Stream>::answer(HttpResponse response, bool keep_alive, unsigned version) {
  if (response.pending) return startWait(std::move(response.pending), keep_alive, version);
  respond(std::move(response), keep_alive, version);
}

template <class Stream>
void Session<Stream>::startWait(std::shared_ptr<PendingResponse> pending, bool keep_alive,
                                unsigned version) {
  wait_.emplace();
  wait_->pending = std::move(pending);
  wait_->keep_alive = keep_alive;
  wait_->version = version;
  std::weak_ptr<Session> weak = this->shared_from_this();
  wait_->subscription = wait_->pending->subscribe([weak] {
    if (auto self = weak.lock()) {
      net::post(self->stream_.get_executor(), [self] {
        if (self->wait_) self->tryAnswer(false);
      });
    }
  });
  timer_.emplace(stream_.get_executor());
  armTimer();
  // The deadline timer bounds the wait; the connection's idle timeout must not cut it short.
  lowest().expires_never();
  watch();
  // News may have come between the handler's look and the subscription.
  tryAnswer(false);
}

template <class Stream>
void Session<Stream>::armTimer() {
  const auto deadline = wait_->pending->deadline();
  auto next = deadline;
  if (const auto every = wait_->pending->recheckEvery(); every.count() > 0) {
    next = std::min(deadline, std::chrono::steady_clock::now() + every);
  }
  timer_->expires_at(next);
  timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
    if (ec || !self->wait_ || self->wait_->answer) return;
    self->tryAnswer(std::chrono::steady_clock::now() >= self->wait_->pending->deadline());
  });
}

template <class Stream>
void Session<Stream>::tryAnswer(bool final) {
  if (wait_->answer) return;
  if (wait_->attempting) {
    wait_->woken = true;
    wait_->final_due |= final;
    return;
  }
  wait_->attempting = true;
  net::post(server_.workers(), [self = this->shared_from_this(), pending = wait_->pending,
                                final]() mutable {
    std::optional<HttpResponse> response;
    try {
      response = pending->attempt(final);
    } catch (const std::exception& e) {
      spdlog::error("{}: a long-poll failed: {}", self->server_.label(), e.what());
    }
    if (!response && final) {
      response = HttpResponse{500,
                              "application/json",
                              R"({"code":"internal","message":"the agent failed on this request",)"
                              R"("field":null})",
                              {},
                              nullptr};
    }
    net::post(self->stream_.get_executor(),
              [self, response = std::move(response), final]() mutable {
                if (!self->wait_) return;  // the client went away meanwhile
                self->wait_->attempting = false;
                if (response) return self->finishWait(std::move(*response));
                if (self->wait_->woken) {
                  self->wait_->woken = false;
                  return self->tryAnswer(self->wait_->final_due);
                }
                if (!final) self->armTimer();
              });
  });
}

template <class Stream>
void Session<Stream>::finishWait(HttpResponse response) {
  wait_->subscription.reset();
  timer_->cancel();
  if (wait_->watching) {
    // The watching read must end before the answer is written: it is cancelled, and its
    // handler sends the answer.
    wait_->answer = std::move(response);
    beast::error_code ignored;
    lowest().socket().cancel(ignored);
    return;
  }
  const bool keep_alive = wait_->keep_alive;
  const unsigned version = wait_->version;
  wait_.reset();
  respond(std::move(response), keep_alive, version);
}

template <class Stream>
void Session<Stream>::watch() {
  wait_->watching = true;
  stream_.async_read_some(buffer_.prepare(4096),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->buffer_.commit(n);
                            if (!self->wait_) return;
                            self->wait_->watching = false;
                            if (self->wait_->answer) {
                              HttpResponse response = std::move(*self->wait_->answer);
                              const bool keep_alive = self->wait_->keep_alive;
                              const unsigned version = self->wait_->version;
                              self->wait_.reset();
                              return self->respond(std::move(response), keep_alive, version);
                            }
                            if (ec) {
                              // The client went away: the wait ends, and with it the subscription.
                              self->wait_.reset();
                              self->timer_->cancel();
                              return self->close();
                            }
                            // Data: the client sent its next request already; it is read after this
                            // answer.
                          });
}

template <class Stream>
void Session<Stream>::respond(HttpResponse response, bool keep_alive, unsigned version) {
  response_ = {};
  response_.version(version);
  response_.result(static_cast<unsigned>(response.status));
  response_.set(http::field::server, "easgate");
  response_.set(http::field::content_type, response.content_type);
  response_.set(http::field::cache_control, "no-store");
  for (const auto& [name, value] : response.headers) response_.set(name, value);
  response_.body() = std::move(response.body);
  response_.keep_alive(keep_alive);
  response_.prepare_payload();
  lowest().expires_after(server_.options().idle_timeout);
  http::async_write(
      stream_, response_,
      [self = this->shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
        if (ec || !keep_alive) return self->close();
        self->read();
      });
}

template <class Stream>
void Session<Stream>::fail(int status, const std::string& code, const std::string& message,
                           unsigned version) {
  HttpResponse response;
  response.status = status;
  response.body = protocol::encodeError(protocol::ApiError{status, code, message, ""});
  respond(std::move(response), false, version);
}

template <class Stream>
void Session<Stream>::close() {
  beast::error_code ignored;
  if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
    // A TLS close_notify, bounded in time: a vanished peer must not hold the session.
    lowest().expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
      beast::error_code ignore;
      self->lowest().socket().close(ignore);
    });
  } else {
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().socket().close(ignored);
  }
}

}  // namespace

std::string_view HttpRequest::header(std::string_view lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return value;
  }
  return {};
}

std::optional<HttpRequest> parseHttpRequest(std::string_view bytes, std::size_t max_body_bytes) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(max_body_bytes);
  parser.eager(true);
  beast::error_code ec;
  parser.put(net::buffer(bytes.data(), bytes.size()), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return std::nullopt;
  return toHttpRequest(parser.release());
}

std::string listenAddressProblem(const HttpServerOptions& options) {
  boost::system::error_code ec;
  const auto address = net::ip::make_address(options.address, ec);
  if (ec) return "not an IP address to listen on: " + options.address;
  if (options.plain_http && !address.is_loopback()) {
    return "plain HTTP is only allowed on a loopback address (127.0.0.1 or ::1), not " +
           options.address + "; configure TLS to listen on the network";
  }
  return {};
}

HttpResponse awaitResponse(HttpResponse response) {
  if (!response.pending) return response;
  const std::shared_ptr<PendingResponse> pending = std::move(response.pending);
  // Shared with the wake callback, which a notifier may still be running (from its own copy)
  // when this wait has returned.
  struct Wait {
    std::mutex mutex;
    std::condition_variable woken;
    bool news = true;  // look once at once
  };
  const auto wait = std::make_shared<Wait>();
  auto subscription = pending->subscribe([wait] {
    {
      std::lock_guard lock(wait->mutex);
      wait->news = true;
    }
    wait->woken.notify_all();
  });
  while (true) {
    const bool final = std::chrono::steady_clock::now() >= pending->deadline();
    {
      std::lock_guard lock(wait->mutex);
      wait->news = false;
    }
    if (auto r = pending->attempt(final)) return *r;
    auto until = pending->deadline();
    if (const auto every = pending->recheckEvery(); every.count() > 0) {
      until = std::min(until, std::chrono::steady_clock::now() + every);
    }
    std::unique_lock lock(wait->mutex);
    wait->woken.wait_until(lock, until, [&] { return wait->news; });
  }
}

Result<std::unique_ptr<HttpServer>, std::string> startHttpServer(const HttpServerOptions& options,
                                                                 RequestHandler handler) {
  auto server = std::make_unique<Server>(options, std::move(handler));
  if (auto l = server->listen(); !l) return l.error();
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace easgate::agent::transport
