// The 9090 protocol under load: TLS with client certificates and keep-alive, the real listener,
// API service and store (a harvest of a simulated organisation fills it). Prints latencies and
// rates; the goals are in the README.
// Options: `api_bench --help`.
// The last figures are the MDM's view of full harvests of --harvest-mailboxes mailboxes (two
// partnerships each): commands sent one at a time, every 20 ms, while the harvester writes.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/api/api_service.h"
#include "agent/audit/audit_log.h"
#include "agent/harvest/harvester.h"
#include "agent/mailboxes/directory_file.h"
#include "agent/store/paced_writes.h"
#include "agent/store/schema.h"
#include "agent/transport/certificates.h"
#include "agent/transport/http_server.h"
#include "common/threads/priority.h"
#include "powershell/sim/organisation.h"
#include "tests/bench/bench_support.h"
#include "tests/support/fake_exchange_gateway.h"

namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace easgate;

// One keep-alive TLS connection with the admin's certificate.
class Connection {
 public:
  Connection(const fs::path& pki, int port) : ctx_(context(pki)), stream_(io_, ctx_) {
    net::ip::tcp::resolver resolver(io_);
    net::connect(stream_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    stream_.handshake(net::ssl::stream_base::client);
  }

  // Sends a request and leaves its answer unread (a long-poll that stays open).
  void sendOnly(const std::string& target) {
    http::request<http::string_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "localhost");
    request.keep_alive(true);
    request.prepare_payload();
    http::write(stream_, request);
  }

  int send(http::verb verb, const std::string& target, const std::string& body = "") {
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, "localhost");
    request.keep_alive(true);
    if (!body.empty()) {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
    }
    request.prepare_payload();
    http::write(stream_, request);
    http::response<http::string_body> response;
    http::read(stream_, buffer_, response);
    return static_cast<int>(response.result_int());
  }

 private:
  // The certificate goes into the context before the stream copies it into its SSL object.
  static net::ssl::context context(const fs::path& pki) {
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.load_verify_file((pki / "ca.pem").string());
    ctx.use_certificate_chain_file((pki / "admin.pem").string());
    ctx.use_private_key_file((pki / "admin.key").string(), net::ssl::context::pem);
    ctx.set_verify_mode(net::ssl::verify_peer);
    return ctx;
  }

  net::io_context io_;
  net::ssl::context ctx_;
  beast::ssl_stream<net::ip::tcp::socket> stream_;
  beast::flat_buffer buffer_;
};

struct Figures {
  std::vector<double> latencies_ms;
  double seconds = 0;
  int failures = 0;
};

// `connections` clients each send `make(i)` requests back to back for `seconds`.
template <class Make>
Figures load(const fs::path& pki, int port, int connections, double seconds, Make make) {
  std::vector<std::thread> threads;
  std::vector<Figures> per(static_cast<std::size_t>(connections));
  const auto start = bench::Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      Connection connection(pki, port);
      for (int i = 0; bench::Clock::now() < end; ++i) {
        const auto [verb, target, body] = make(c, i);
        const auto t = bench::Clock::now();
        const int status = connection.send(verb, target, body);
        per[c].latencies_ms.push_back(bench::seconds(bench::Clock::now() - t) * 1000);
        if (status >= 300) ++per[c].failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  Figures all;
  all.seconds = bench::seconds(bench::Clock::now() - start);
  for (auto& f : per) {
    all.latencies_ms.insert(all.latencies_ms.end(), f.latencies_ms.begin(), f.latencies_ms.end());
    all.failures += f.failures;
  }
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  return all;
}

// A GET of `target` as the admin's certificate sends it.
agent::transport::HttpRequest adminGet(const std::string& target) {
  agent::transport::HttpRequest request;
  request.method = "GET";
  request.target = target;
  request.peer = {true, "CN=easgate-admin", "easgate-admin", "", "127.0.0.1"};
  return request;
}

// The API service alone, called in this thread for `seconds`: no TLS, sockets or client. What a
// figure over 9090 adds to it is theirs.
Figures inProcess(agent::api::ApiService& api, const std::string& target, double seconds) {
  const agent::transport::HttpRequest request = adminGet(target);
  Figures f;
  const auto start = bench::Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (bench::Clock::now() < end) {
    const auto t = bench::Clock::now();
    const int status = api.handle(request).status;
    f.latencies_ms.push_back(bench::seconds(bench::Clock::now() - t) * 1000);
    if (status >= 300) ++f.failures;
  }
  f.seconds = bench::seconds(bench::Clock::now() - start);
  std::sort(f.latencies_ms.begin(), f.latencies_ms.end());
  return f;
}

void print(const char* what, const Figures& f) {
  auto at = [&](double q) {
    return f.latencies_ms.empty()
               ? 0.0
               : f.latencies_ms[static_cast<std::size_t>(q * (f.latencies_ms.size() - 1))];
  };
  std::printf("%-44s %7zu requests %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  failures %d\n", what,
              f.latencies_ms.size(), f.latencies_ms.size() / f.seconds, at(0.5), at(0.99),
              f.failures);
}

}  // namespace

fs::path benchDirectory() {
  return fs::temp_directory_path() / ("easgate-api-bench-" + std::to_string(::getpid()));
}

int runBench(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // each command's lines would be timed too
  const bench::BenchArgs args(
      argc, argv,
      "usage: api_bench [--mailboxes N (2000)] [--seconds S (5)] [--connections C (4)]\n"
      "                 [--long-polls L (1000)] [--idle I (500)] [--harvest-mailboxes H (20000)]\n"
      "                 [--paced-mib P (the agent's: 64)] [--copy-back-mib B (the agent's: 48)]\n"
      "                 [--short-slices yes|no (yes)]\n"
      "The 9090 protocol under load (TLS, client certificates, keep-alive), and commands\n"
      "during full harvests of H mailboxes, the inventory's log written at P MiB/s at most\n"
      "and copied back into its file at B MiB/s at most (agent/store/paced_writes.h).\n"
      "--short-slices no: the threads keep the kernel's default time slice (the agent\n"
      "gives its own the shortest: common/threads/priority.h).\n",
      {"--mailboxes", "--seconds", "--connections", "--long-polls", "--idle", "--harvest-mailboxes",
       "--paced-mib", "--copy-back-mib", "--short-slices"});
  // As the agent does, before any thread starts (service/cli.cpp).
  const std::string short_slices = args.text("--short-slices", "yes");
  if (short_slices != "yes" && short_slices != "no") {
    return std::fprintf(stderr, "--short-slices takes yes or no\n"), 2;
  }
  const bool sliced = short_slices == "yes" && threads::preferPromptWakeups();
  agent::store::setPacedWriteRate(
      args.count("--paced-mib", agent::store::kPacedWriteBytesPerSecond >> 20) << 20);
  agent::store::setPacedCopyBackRate(
      args.count("--copy-back-mib", agent::store::kPacedCopyBackBytesPerSecond >> 20) << 20);
  const std::size_t mailboxes = args.count("--mailboxes", 2000);
  const double seconds = args.number("--seconds", 5);
  const int connections = static_cast<int>(args.count("--connections", 4));
  std::size_t long_polls = args.count("--long-polls", 1000);
  std::size_t idle = args.count("--idle", 500);
  const std::size_t harvest_mailboxes = args.count("--harvest-mailboxes", 20000);
  const fs::path dir = benchDirectory();
  fs::remove_all(dir);
  if (!agent::transport::ensureDevelopmentPki(dir / "pki", {}).ok()) return 1;
  agent::SystemClock clock;
  auto db = agent::store::openStore(agent::store::storeFile(dir)).value();
  agent::AuditLog audit(*db);
  agent::CommandJournal journal(*db, audit, clock);
  {
    namespace sim = powershell::sim;
    testing::FakeExchangeGateway gateway(sim::Organisation::generate(
        {1, mailboxes, mailboxes * 2, sim::dotNetTicksFromUnixSeconds(clock.nowMs() / 1000)}));
    auto harvest_db = agent::store::openStore(agent::store::storeFile(dir)).value();
    auto harvest_directory =
        agent::openDirectory(agent::directoryFile(agent::store::storeFile(dir))).value();
    auto inventory =
        agent::InventoryStore::open(agent::inventoryFile(agent::store::storeFile(dir))).value();
    agent::Harvester harvester(*harvest_directory, *harvest_db, *inventory, gateway, &journal,
                               clock);
    if (!harvester.run(agent::HarvestKind::kFull).ok()) return 1;
  }
  agent::api::ApiService api(
      agent::api::openReaders(dir, 4).value(), journal, clock,
      agent::api::AccessPolicy({{"CN=easgate-admin", "", agent::api::Role::kAdmin}},
                               agent::api::Role::kNone),
      [&] {
        agent::api::ApiOptions o{"bench", "fake", 3600'000, 0, 1};
        o.long_polls_per_client = o.long_polls = long_polls + 16;  // one client opens them all
        return o;
      }(),
      nullptr, nullptr);
  // The 1,000-device page's answer, built once and served again at a target of the bench's own:
  // what TLS, the sockets and the clients cost for those bytes, with nothing to build. Each
  // answer is a copy, as each built page is a string of its own (one memcpy of the body).
  const std::string page = "/v1/devices?limit=1000";
  const std::string prebuilt_page = "/bench/prebuilt-page";
  const agent::transport::HttpResponse prebuilt = api.handle(adminGet(page));
  if (prebuilt.status != 200) return std::fprintf(stderr, "the page: %d\n", prebuilt.status), 1;
  agent::transport::HttpServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.tls.certificate_file = (dir / "pki/server.pem").string();
  options.tls.key_file = (dir / "pki/server.key").string();
  options.tls.client_ca_file = (dir / "pki/ca.pem").string();
  options.tls.client_crl_file = (dir / "pki/ca.crl").string();  // as the demo runs
  auto server =
      agent::transport::startHttpServer(options, [&](const agent::transport::HttpRequest& r) {
        return r.target == prebuilt_page ? prebuilt : api.handle(r);
      });
  if (!server) {
    std::cerr << server.error() << "\n";
    return 1;
  }
  const int port = server.value()->port();
  std::printf(
      "api_bench: %s, %u hardware threads; %zu devices in the store; TLS 1.3 with client "
      "certificates, keep-alive, %d connections, %.0f s per figure; %s\n",
      bench::cpuModel().c_str(), std::thread::hardware_concurrency(), mailboxes * 2, connections,
      seconds,
      sliced ? "0.1 ms time slices, the harvest's the kernel's default"
             : "every thread on the kernel's default time slice");
  using R = std::tuple<http::verb, std::string, std::string>;
  print("GET /v1/health (listener + auth ceiling)",
        load(dir / "pki", port, connections, seconds, [](int, int) {
          return R{http::verb::get, "/v1/health", ""};
        }));
  print("GET /v1/status", load(dir / "pki", port, connections, seconds, [](int, int) {
          return R{http::verb::get, "/v1/status", ""};
        }));
  print("POST /v1/commands (journaled, fsync'd)",
        load(dir / "pki", port, connections, seconds, [](int c, int i) {
          return R{http::verb::post, "/v1/commands",
                   R"({"kind":"allow","mailbox":"m)" + std::to_string(c) + R"(","deviceId":"D)" +
                       std::to_string(i) + "\"}"};
        }));
  print("GET /v1/devices?limit=1000 (a 1,000-device page)",
        load(dir / "pki", port, connections, seconds, [&](int, int) {
          return R{http::verb::get, page, ""};
        }));
  print("  the same, the API service alone (1 thread)", inProcess(api, page, seconds));
  char built_once[64];
  std::snprintf(built_once, sizeof built_once, "  its %.2f MB built once: TLS, TCP, clients",
                static_cast<double>(prebuilt.body.size()) / 1e6);
  print(built_once, load(dir / "pki", port, connections, seconds, [&](int, int) {
          return R{http::verb::get, prebuilt_page, ""};
        }));
  print("mixed: 10-device page, command state, status",
        load(dir / "pki", port, connections, seconds, [](int, int i) {
          const char* targets[] = {"/v1/devices?limit=10", "/v1/commands/1", "/v1/status"};
          return R{http::verb::get, targets[i % 3], ""};
        }));

  // The control port under a crowd: long-polls waiting on the event feed and idle keep-alive
  // connections, while the MDM checks health and sends commands. Each socket is a descriptor
  // at both ends: ask for as many as the hard limit allows.
  const std::size_t descriptors = bench::raiseOpenFileLimit();
  const std::size_t fit = descriptors > 256 ? (descriptors - 256) / 2 : 0;
  if (long_polls + idle > fit) {
    std::printf("(only %zu descriptors: fewer connections than asked)\n", descriptors);
    idle = std::min(idle, fit / 3);
    long_polls = std::min(long_polls, fit - idle);
  }
  std::vector<std::unique_ptr<Connection>> crowd;
  const auto opened = bench::Clock::now();
  for (std::size_t i = 0; i < long_polls; ++i) {
    crowd.push_back(std::make_unique<Connection>(dir / "pki", port));
    crowd.back()->sendOnly("/v1/events?after=999999999&wait=60");
  }
  for (std::size_t i = 0; i < idle; ++i) {
    crowd.push_back(std::make_unique<Connection>(dir / "pki", port));
  }
  for (int i = 0; i < 400 && api.longPolls() < long_polls; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::printf("opened %zu long-polls (%zu waiting) and %zu idle TLS connections in %.1f s\n",
              long_polls, api.longPolls(), idle, bench::seconds(bench::Clock::now() - opened));
  char label[96];
  std::snprintf(label, sizeof label, "GET /v1/health beside %zu long-polls", long_polls);
  print(label, load(dir / "pki", port, 1, seconds, [](int, int) {
          return R{http::verb::get, "/v1/health", ""};
        }));
  std::snprintf(label, sizeof label, "POST /v1/commands beside %zu long-polls", long_polls);
  print(label, load(dir / "pki", port, 1, seconds, [](int, int i) {
          return R{
              http::verb::post, "/v1/commands",
              R"({"kind":"allow","mailbox":"crowd","deviceId":"C)" + std::to_string(i) + "\"}"};
        }));
  std::printf("long-polls still waiting after the figures: %zu of %zu\n", api.longPolls(),
              long_polls);
  api.shutdown();
  crowd.clear();

  // The MDM during full harvests: the harvester writes while a command is sent every 20 ms
  // (the journal's write, fsync'd, is what the 202 waits for). The first harvest finds every
  // partnership new; the second, the usual case, finds them as they were.
  {
    namespace sim = powershell::sim;
    testing::FakeExchangeGateway big(
        sim::Organisation::generate({2, harvest_mailboxes, harvest_mailboxes * 2,
                                     sim::dotNetTicksFromUnixSeconds(clock.nowMs() / 1000)}));
    // As the agent's (service/agent_runtime.cpp): connections of its own to the store and the
    // mailbox directory's file. An empty directory and inventory of their own (a first
    // harvest); the journal is the agent's.
    auto harvest_db = agent::store::openStore(agent::store::storeFile(dir)).value();
    auto harvest_directory = agent::openDirectory(dir / "empty-mailboxes.db").value();
    auto inventory = agent::InventoryStore::open(dir / "empty-inventory.db").value();
    agent::HarvestOptions harvest_options;
    harvest_options.parallelism = 4;
    agent::Harvester harvester(*harvest_directory, *harvest_db, *inventory, big, &journal, clock,
                               harvest_options);
    Connection mdm(dir / "pki", port);
    for (const char* which : {"no", "first", "second"}) {
      const bool none = std::string_view(which) == "no";
      std::atomic<bool> harvesting{true};
      const auto written_before = bench::writtenMiB();
      const auto paced_before = agent::store::pacedWriteTotals();
      double harvest_s = 0;
      std::size_t harvested = 0;
      std::thread harvest_thread([&] {
        // As the agent's harvests run (agent/agent_loop.cpp).
        (void)threads::setThisThreadPriority(threads::Priority::kBelowNormal);
        const auto t = bench::Clock::now();
        if (none) {
          std::this_thread::sleep_for(std::chrono::seconds(5));  // the same, for comparison
        } else if (auto r = harvester.run(agent::HarvestKind::kFull)) {
          harvested = r->devices;
        }
        harvest_s = bench::seconds(bench::Clock::now() - t);
        harvesting = false;
      });
      Figures during;
      std::vector<std::pair<double, double>> sent;  // (seconds into the harvest, latency in ms)
      const auto start = bench::Clock::now();
      for (int i = 0; harvesting; ++i) {
        const auto t = bench::Clock::now();
        const int status = mdm.send(
            http::verb::post, "/v1/commands",
            R"({"kind":"allow","mailbox":"during","deviceId":"H)" + std::to_string(i) + "\"}");
        during.latencies_ms.push_back(bench::seconds(bench::Clock::now() - t) * 1000);
        sent.emplace_back(bench::seconds(t - start), during.latencies_ms.back());
        if (status != 202) ++during.failures;
        std::this_thread::sleep_until(t + std::chrono::milliseconds(20));
      }
      during.seconds = bench::seconds(bench::Clock::now() - start);
      harvest_thread.join();
      std::sort(during.latencies_ms.begin(), during.latencies_ms.end());
      // What the disk was given meanwhile (the journal's own writes included): each 202 waits
      // for an fsync queued behind it.
      std::string written;
      if (const auto after = bench::writtenMiB(); after && written_before) {
        written = ", " + std::to_string(std::lround(*after - *written_before)) +
                  " MiB written to storage";
      }
      // The inventory's writes, metered (agent/store/paced_writes.h), and how long they waited.
      const auto paced = agent::store::pacedWriteTotals();
      // (Counted as more when its writes were scattered: each costs a page of the system's cache.)
      char metered[128];
      std::snprintf(metered, sizeof metered,
                    "; the inventory wrote %.0f MiB (counted as %.0f), waiting %.1f s",
                    static_cast<double>(paced.bytes - paced_before.bytes) / (1 << 20),
                    static_cast<double>(paced.cost - paced_before.cost) / (1 << 20),
                    paced.slept_s - paced_before.slept_s);
      written += metered;
      if (none) {
        std::printf("no harvest, %.1f s%s\n", harvest_s, written.c_str());
      } else {
        std::printf("%s full harvest of %zu partnerships (%zu mailboxes): %.1f s%s\n", which,
                    harvested, harvest_mailboxes, harvest_s, written.c_str());
      }
      print("  POST /v1/commands, one every 20 ms", during);
      // The worst wait, and when it came: where in the harvest to look for its cause.
      const auto worst =
          std::max_element(sent.begin(), sent.end(),
                           [](const auto& a, const auto& b) { return a.second < b.second; });
      std::printf("  max %.2f ms (sent %.2f s in), refused %d of %zu\n",
                  worst == sent.end() ? 0.0 : worst->second,
                  worst == sent.end() ? 0.0 : worst->first, during.failures,
                  during.latencies_ms.size());
      // When the slowest 1 % were sent: spread over the harvest, or in its last seconds (a
      // first harvest's indexes and checkpoint, some 850 MiB at once: tests/bench/README.md).
      if (!none && !during.latencies_ms.empty()) {
        const std::size_t slowest = std::max<std::size_t>(1, during.latencies_ms.size() / 100);
        const double threshold = during.latencies_ms[during.latencies_ms.size() - slowest];
        std::size_t at_end = 0;
        for (const auto& [at, ms] : sent) at_end += ms >= threshold && at >= harvest_s - 2.0;
        std::printf("  its slowest 1 %% (%zu, from %.2f ms): %zu sent in the harvest's last 2 s\n",
                    slowest, threshold, at_end);
      }
    }
  }
  server.value()->stop();
  return 0;
}

int main(int argc, char** argv) {
  const int status = runBench(argc, argv);
  // Only now, with every file closed: Windows removes no file that is open.
  std::error_code ignored;
  fs::remove_all(benchDirectory(), ignored);
  return status;
}
