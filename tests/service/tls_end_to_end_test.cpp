// The 9090 protocol over real TLS on a real port: the agent's listener and API service, a
// real store, certificates from a CA made for the test, and the protocol's own client
// (cpprestsdk), as `easgate ctl` uses it.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "agent/api/api_service.h"
#include "agent/audit/audit_log.h"
#include "agent/store/schema.h"
#include "agent/transport/certificates.h"
#include "agent/transport/http_server.h"
#include "agent/transport/revocation.h"
#include "protocol/client.h"
#include "tests/support/scratch.h"

namespace easgate::agent {
namespace {

namespace fs = std::filesystem;

// A TLS listener on a free loopback port with the certificate `certificate` and the key `key`
// of the PKI folder `pki`, accepting the client certificates of its CA.
transport::HttpServerOptions loopbackTls(const fs::path& pki, const std::string& certificate,
                                         const std::string& key) {
  transport::HttpServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.tls.certificate_file = (pki / (certificate + ".pem")).string();
  options.tls.key_file = (pki / (key + ".key")).string();
  options.tls.client_ca_file = (pki / "ca.pem").string();
  return options;
}
using transport::CertificateRequest;

// A TLS connection by hand, for what the protocol's client cannot do (send a body chunked past
// the limit, vanish mid-request), with the named client certificate.
struct RawTls {
  RawTls(const fs::path& pki, const std::string& who, unsigned short port)
      : tls(context(pki, who)), stream(io, tls) {
    stream.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port});
    stream.handshake(boost::asio::ssl::stream_base::client);
  }
  static boost::asio::ssl::context context(const fs::path& pki, const std::string& who) {
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
    ctx.load_verify_file((pki / "ca.pem").string());
    ctx.use_certificate_chain_file((pki / (who + ".pem")).string());
    ctx.use_private_key_file((pki / (who + ".key")).string(), boost::asio::ssl::context::pem);
    return ctx;
  }
  boost::asio::io_context io;
  boost::asio::ssl::context tls;
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream;
};

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::scratchPath("tls");
    fs::remove_all(dir_);
    ASSERT_TRUE(transport::ensureDevelopmentPki(dir_ / "pki", {}).value());
    ca_ = {slurp(dir_ / "pki/ca.pem"), slurp(dir_ / "pki/ca.key")};
    db_ = store::openStore(store::storeFile(dir_)).value();
    audit_ = std::make_unique<AuditLog>(*db_);
    journal_ = std::make_unique<CommandJournal>(*db_, *audit_, clock_);
    api_ = std::make_unique<api::ApiService>(
        api::openReaders(dir_, 1).value(), *journal_, clock_,
        api::AccessPolicy({{"CN=easgate-admin", "", api::Role::kAdmin},
                           {"CN=easgate-reader", "", api::Role::kReader},
                           {"CN=easgate-expired", "", api::Role::kAdmin},
                           {"CN=easgate-foreign", "", api::Role::kAdmin}},
                          api::Role::kNone),
        api::ApiOptions{"test", "none", 3600'000, 0, 1}, nullptr, nullptr);
    transport::HttpServerOptions options = loopbackTls(dir_ / "pki", "server", "server");
    options.tls.client_crl_file = (dir_ / "pki/ca.crl").string();
    options.tls.revocation_recheck = std::chrono::milliseconds(50);
    options.max_body_bytes = 64 * 1024;
    auto server = transport::startHttpServer(
        options, [this](const transport::HttpRequest& r) { return api_->handle(r); });
    ASSERT_TRUE(server.ok()) << server.error();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    api_->shutdown();
    server_.reset();
    api_.reset();
    journal_.reset();
    audit_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // A client of the fixture's agent (or of another listener's `port`) with the certificate
  // `name` (none when empty), trusting the CA in `ca` of the PKI folder.
  protocol::ClientOptions clientOptions(const std::string& name, int port = 0,
                                        const std::string& ca = "ca") {
    protocol::ClientOptions o;
    o.base_url = "https://localhost:" + std::to_string(port ? port : server_->port());
    o.ca_file = (dir_ / "pki" / (ca + ".pem")).string();
    if (!name.empty()) {
      o.certificate_file = (dir_ / "pki" / (name + ".pem")).string();
      o.key_file = (dir_ / "pki" / (name + ".key")).string();
    }
    o.timeout = std::chrono::seconds(10);
    return o;
  }
  std::unique_ptr<protocol::ApiClient> client(const std::string& name) {
    return client(clientOptions(name));
  }
  std::unique_ptr<protocol::ApiClient> client(const protocol::ClientOptions& o) {
    auto c = protocol::ApiClient::create(o);
    EXPECT_TRUE(c.ok()) << c.error();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // A client certificate issued by `ca` and written into the PKI folder as `name`.
  void issue(const transport::PemPair& ca, const std::string& name, std::int64_t from_s,
             std::int64_t lifetime_s) {
    CertificateRequest r;
    r.common_name = "easgate-" + name;
    r.valid_from_offset_s = from_s;
    r.lifetime_s = lifetime_s;
    auto pair = transport::issueCertificate(ca, r);
    ASSERT_TRUE(pair.ok()) << pair.error();
    ASSERT_TRUE(transport::writePemPair(dir_ / "pki", name, pair.value()).ok());
  }

  const std::string wipe_ = R"({"kind":"wipe","partnership":"ann/ExchangeActiveSyncDevices/x"})";
  const protocol::Headers json_ = {};
  SystemClock clock_;
  fs::path dir_;
  transport::PemPair ca_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<CommandJournal> journal_;
  std::unique_ptr<api::ApiService> api_;
  std::unique_ptr<transport::HttpServer> server_;
};

TEST_F(Tls, AnAdminWipesAndAReaderCannot) {
  auto admin = client("admin");
  auto wiped = admin->send("POST", "/v1/commands", wipe_);
  ASSERT_TRUE(wiped.ok()) << wiped.error();
  EXPECT_EQ(wiped->status, 202) << wiped->body;
  auto reader = client("reader");
  auto refused = reader->send("POST", "/v1/commands", wipe_);
  ASSERT_TRUE(refused.ok()) << refused.error();
  EXPECT_EQ(refused->status, 403) << refused->body;
  auto read = reader->send("GET", "/v1/health");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(journal_->unfinished()->size(), 1u) << "only the admin's wipe was journaled";
}

// The HIGH finding of the control-port review: each waiting long-poll held a worker thread, so
// sixteen of them stalled every other request. A waiting long-poll now holds no worker.
TEST_F(Tls, LongPollsDoNotStallTheAgent) {
  constexpr int kPolls = 40;  // more than the listener has workers (16)
  std::atomic<int> answered{0};
  std::vector<std::thread> pollers;
  for (int i = 0; i < kPolls; ++i) {
    pollers.emplace_back([&] {
      auto reader = client("reader");
      auto r = reader->send("GET", "/v1/events?after=999999&wait=60");
      EXPECT_TRUE(r.ok() && r->status == 200);
      ++answered;
    });
  }
  for (int i = 0; i < 600 && api_->longPolls() < kPolls; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(api_->longPolls(), static_cast<std::size_t>(kPolls));
  auto admin = client("admin");
  auto health = admin->send("GET", "/v1/health");
  ASSERT_TRUE(health.ok()) << health.error();
  EXPECT_EQ(health->status, 200);
  auto command = admin->send("POST", "/v1/commands",
                             R"({"kind":"allow","mailbox":"ann@contoso.com","deviceId":"A1"})",
                             {{"Content-Type", "application/json"}});
  ASSERT_TRUE(command.ok()) << command.error();
  EXPECT_EQ(command->status, 202) << command->body;
  EXPECT_EQ(answered.load(), 0) << "the long-polls were still waiting, each without a worker";
  api_->shutdown();  // ends the waits, with nothing
  for (auto& t : pollers) t.join();
  EXPECT_EQ(answered.load(), kPolls);
  EXPECT_EQ(api_->longPolls(), 0u);
}

// A client that goes away while its long-poll waits gives its place back at once.
TEST_F(Tls, AClientThatGoesAwayEndsItsLongPoll) {
  namespace net = boost::asio;
  RawTls connection(dir_ / "pki", "reader", server_->port());
  auto& stream = connection.stream;
  const std::string request =
      "GET /v1/events?after=999999&wait=60 HTTP/1.1\r\nHost: localhost\r\n\r\n";
  net::write(stream, net::buffer(request));
  for (int i = 0; i < 200 && api_->longPolls() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(api_->longPolls(), 1u);
  boost::system::error_code ignored;
  stream.next_layer().close(ignored);  // gone, without a word
  for (int i = 0; i < 200 && api_->longPolls() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(api_->longPolls(), 0u) << "the wait ended with the connection";
}

// A body sent chunked, past the limit: a 413 like one with Content-Length, not a cut connection.
TEST_F(Tls, AnOversizedChunkedBodyIsAnswered413) {
  namespace net = boost::asio;
  RawTls connection(dir_ / "pki", "admin", server_->port());
  auto& stream = connection.stream;
  net::write(stream, net::buffer(std::string("POST /v1/commands HTTP/1.1\r\nHost: localhost\r\n"
                                             "Content-Type: application/json\r\n"
                                             "Transfer-Encoding: chunked\r\n\r\n")));
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'a') + "\r\n";
  boost::system::error_code ec;
  for (int i = 0; i < 64 && !ec; ++i) net::write(stream, net::buffer(chunk), ec);  // 1 MiB
  std::string answer(512, '\0');
  const std::size_t n = stream.read_some(net::buffer(answer), ec);
  answer.resize(n);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u)
      << "got: " << answer << " (" << ec.message() << ")";
}

// What the client says when TLS fails is what an administrator has to go on (`easgate ctl`,
// `doctor`): the reason, not the HTTP library's "Failed to read HTTP status line".
void expectSaid(const Result<protocol::ApiResponse, std::string>& r,
                std::initializer_list<std::string> words) {
  ASSERT_FALSE(r.ok()) << "status " << r->status;
  for (const std::string& w : words) EXPECT_NE(r.error().find(w), std::string::npos) << r.error();
}

TEST_F(Tls, NoCertificateNoConnection) {
  auto anonymous = client("");
  expectSaid(anonymous->send("GET", "/v1/health"),
             {"the agent requires a client certificate, and none was given"});
}

TEST_F(Tls, AnExpiredCertificateIsRefused) {
  issue(ca_, "expired", -3 * 86400, 86400);  // valid for a day, two days ago
  expectSaid(client("expired")->send("GET", "/v1/health"),
             {"the agent refused the client certificate CN=easgate-expired", "expired"});
}

TEST_F(Tls, AnAgentWhoseCertificateTheGivenCaDidNotSignIsNotTrusted) {
  auto other_ca = transport::createCertificateAuthority("someone else's CA", 86400);
  ASSERT_TRUE(other_ca.ok());
  ASSERT_TRUE(transport::writePemPair(dir_ / "pki", "other-ca", other_ca.value()).ok());
  const protocol::ClientOptions o = clientOptions("admin", 0, "other-ca");
  expectSaid(client(o)->send("GET", "/v1/health"),
             {"the agent's certificate CN=easgate agent", "is not trusted",
              "it is not signed by the CA in " + o.ca_file});
}

TEST_F(Tls, AnAgentWhoseCertificateIsForAnotherHostIsNamed) {
  CertificateRequest r;
  r.common_name = "agent.example";
  r.dns_names = {"agent.example"};
  r.server = true;
  auto pair = transport::issueCertificate(ca_, r);
  ASSERT_TRUE(pair.ok()) << pair.error();
  ASSERT_TRUE(transport::writePemPair(dir_ / "pki", "elsewhere", pair.value()).ok());
  auto elsewhere = transport::startHttpServer(
      loopbackTls(dir_ / "pki", "elsewhere", "elsewhere"),
      [this](const transport::HttpRequest& request) { return api_->handle(request); });
  ASSERT_TRUE(elsewhere.ok()) << elsewhere.error();
  expectSaid(client(clientOptions("admin", elsewhere.value()->port()))->send("GET", "/v1/health"),
             {"the agent's certificate CN=agent.example", "is not for localhost"});
}

// http:// to the agent's TLS port: the HTTP library says "Failed to read HTTP status line";
// the client says what to use.
TEST_F(Tls, PlainHttpToTheAgentsPortIsToldToUseHttps) {
  protocol::ClientOptions o = clientOptions("admin");
  const std::string at = "localhost:" + std::to_string(server_->port());
  o.base_url = "http://" + at;
  expectSaid(client(o)->send("GET", "/v1/health"),
             {"the agent on " + at + " speaks TLS: use https://" + at});
}

// No agent there, or one that does not answer: the system's reason, where the HTTP library says
// only "Failed to connect to any resolved endpoint".
TEST_F(Tls, APortWhereNothingListensOrAnswersIsSaidSo) {
  namespace net = boost::asio;
  net::io_context io;
  net::ip::tcp::acceptor silent(io, {net::ip::make_address("127.0.0.1"), 0});
  const int port = silent.local_endpoint().port();
  // Listening, and never answering: accepted by the kernel, never read.
  protocol::ClientOptions o = clientOptions("admin", port);
  o.timeout = std::chrono::seconds(1);
  expectSaid(client(o)->send("GET", "/v1/health"),
             {"localhost:" + std::to_string(port) + " took the connection and did not answer"});
  // Nothing listening: refused ("Connection refused"; Windows: "... actively refused it").
  silent.close();
  expectSaid(client(o)->send("GET", "/v1/health"), {"refused"});
}

TEST_F(Tls, AFileThatCannotBeReadIsNamed) {
  const auto refusedSaying = [](const protocol::ClientOptions& o, const std::string& words) {
    auto created = protocol::ApiClient::create(o);
    ASSERT_FALSE(created.ok());
    EXPECT_NE(created.error().find(words), std::string::npos) << created.error();
  };
  protocol::ClientOptions o = clientOptions("nobody-here");
  refusedSaying(o, "cannot read the client certificate " + o.certificate_file + ": no such file");
  o = clientOptions("admin");
  o.key_file = clientOptions("reader").key_file;
  refusedSaying(o, "the key " + o.key_file + " is not the client certificate's");
  o = clientOptions("admin");
  o.ca_file = o.key_file;  // a key where the CA's certificate should be
  refusedSaying(o, "the CA file " + o.ca_file + " holds no certificate");
}

TEST_F(Tls, ACertificateFromAnotherCaIsRefused) {
  auto other_ca = transport::createCertificateAuthority("someone else's CA", 86400);
  ASSERT_TRUE(other_ca.ok());
  issue(other_ca.value(), "foreign", -60, 86400);  // same name, wrong issuer
  // What the log says of it, at debug: the peer with its port, and why, in words. The server
  // logs on its own thread, possibly after the client has already seen the alert: wait for it.
  auto lines = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>("capture", lines);
  capture->set_level(spdlog::level::debug);
  spdlog::set_default_logger(capture);
  auto r = client("foreign")->send("GET", "/v1/health");
  expectSaid(r, {"the agent refused the client certificate CN=easgate-foreign", "unknown ca"});
  std::string said;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    said.clear();
    for (const auto& line : lines->last_formatted()) said += line;
    if (said.find("client certificate: ") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  spdlog::set_default_logger(previous);
  EXPECT_NE(said.find("handshake with 127.0.0.1:"), std::string::npos) << said;
  EXPECT_NE(said.find("client certificate: "), std::string::npos)
      << "the certificate problem, not only 'EVP lib': " << said;
  EXPECT_EQ(said.find("9090:"), std::string::npos) << "the listener names its own port";
}

// An administrator revokes a client certificate by publishing a new list: the agent reads it
// without a restart, refuses the certificate on new connections and on one already open, and
// keeps serving the others.
TEST_F(Tls, ARevokedCertificateIsRefusedWithoutARestart) {
  auto reader = client("reader");
  ASSERT_EQ(reader->send("GET", "/v1/health")->status, 200);
  RawTls open_before(dir_ / "pki", "reader", server_->port());

  auto published =
      transport::publishRevocationList(ca_, dir_ / "pki/ca.crl", {slurp(dir_ / "pki/reader.pem")});
  ASSERT_TRUE(published.ok()) << published.error();
  ASSERT_EQ(published->revoked_serials.size(), 1u);

  bool refused = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    refused = !client("reader")->send("GET", "/v1/health").ok();
  }
  EXPECT_TRUE(refused) << "a new connection with the revoked certificate";

  // The connection opened before: its next request is answered 401, naming why.
  namespace net = boost::asio;
  net::write(open_before.stream,
             net::buffer(std::string("GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")));
  std::string answer(1024, '\0');
  boost::system::error_code ec;
  answer.resize(open_before.stream.read_some(net::buffer(answer), ec));
  EXPECT_EQ(answer.rfind("HTTP/1.1 401", 0), 0u) << answer;
  EXPECT_NE(answer.find("certificate revoked"), std::string::npos) << answer;

  auto admin = client("admin")->send("GET", "/v1/health");
  ASSERT_TRUE(admin.ok()) << admin.error();
  EXPECT_EQ(admin->status, 200) << "the other certificates are still accepted";
}

// A list that cannot be read when it changes (half written, another CA's) leaves the one read
// before in use: the listener does not start refusing everyone, nor accepting everyone.
TEST_F(Tls, AnUnreadableNewRevocationListKeepsTheOldOne) {
  ASSERT_TRUE(
      transport::publishRevocationList(ca_, dir_ / "pki/ca.crl", {slurp(dir_ / "pki/reader.pem")})
          .ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (client("reader")->send("GET", "/v1/health").ok() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ofstream(dir_ / "pki/ca.crl", std::ios::trunc) << "-----BEGIN X509 CRL-----\nMIIB";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // six rechecks
  EXPECT_FALSE(client("reader")->send("GET", "/v1/health").ok()) << "still revoked";
  auto admin = client("admin")->send("GET", "/v1/health");
  ASSERT_TRUE(admin.ok()) << admin.error();
  EXPECT_EQ(admin->status, 200);
}

TEST_F(Tls, AValidCertificateWithoutARoleGets401) {
  issue(ca_, "nobody", -60, 86400);
  auto r = client("nobody")->send("GET", "/v1/health");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 401);
}

TEST_F(Tls, OversizedBodiesAndBrokenJsonAreClearErrors) {
  auto admin = client("admin");
  auto big = admin->send("POST", "/v1/commands", std::string(100 * 1024, ' '));
  if (big.ok()) {
    EXPECT_EQ(big->status, 413);  // the listener's limit (64 KiB here)
  }  // else the listener closed the connection after its 413 before the client finished
  auto broken = client("admin")->send("POST", "/v1/commands", "{\"kind\":");
  ASSERT_TRUE(broken.ok()) << broken.error();
  EXPECT_EQ(broken->status, 400);
  EXPECT_NE(broken->body.find("\"code\":\"invalid-json\""), std::string::npos) << broken->body;
}

TEST(Listener, PlainHttpOnlyOnLoopback) {
  transport::HttpServerOptions options;
  options.plain_http = true;
  options.address = "0.0.0.0";
  options.port = 0;
  auto refused = transport::startHttpServer(
      options, [](const transport::HttpRequest&) { return transport::HttpResponse{}; });
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("loopback"), std::string::npos) << refused.error();
  options.address = "127.0.0.1";
  auto allowed = transport::startHttpServer(options, [](const transport::HttpRequest& r) {
    return transport::HttpResponse{
        200, "application/json", r.peer.authenticated ? "auth" : "anonymous", {}, nullptr};
  });
  ASSERT_TRUE(allowed.ok()) << allowed.error();
  protocol::ClientOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(allowed.value()->port());
  auto c = protocol::ApiClient::create(o);
  ASSERT_TRUE(c.ok());
  auto r = c.value()->send("GET", "/v1/health");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "anonymous");
}

TEST(Listener, RefusesAKeyThatIsNotTheCertificates) {
  const fs::path dir = testing::scratchPath("tls-keys");
  fs::remove_all(dir);
  ASSERT_TRUE(transport::ensureDevelopmentPki(dir, {}).ok());
  auto r = transport::startHttpServer(
      loopbackTls(dir, "server", "admin"),
      [](const transport::HttpRequest&) { return transport::HttpResponse{}; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("admin.key"), std::string::npos) << r.error();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace easgate::agent
