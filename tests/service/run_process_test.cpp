// `easgate run` as an administrator starts it: a configuration file, the simulator, TLS on a
// real port; driven with `easgate ctl` and checked with `easgate doctor`.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <ctime>
#include <functional>
#include <sstream>
#include <thread>

#include "agent/inventory/inventory_store.h"
#include "agent/store/schema.h"
#include "agent/transport/certificates.h"
#include "agent/transport/revocation.h"
#include "common/json/json_value.h"
#include "tests/service/cli_test_support.h"
#include "tests/service/running_agent.h"

namespace easgate::testing {
namespace {

namespace fs = std::filesystem;

class RunProcess : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_TRUE(agent::transport::ensureDevelopmentPki(dir_ / "pki", {}).ok());
    writeConfig("pki/server.pem", "pki/server.key");
  }
  void TearDown() override {
    stopProcessGroup(pid_);
    CliTest::TearDown();
  }

  void writeConfig(const std::string& cert, const std::string& key,
                   const std::string& log_format = "text") {
    std::ofstream(dir_ / "easgate.json") << R"({
      "data_dir": "data",
      "listen": {"address": "127.0.0.1", "port": 0},
      "tls": {"certificate": ")" << cert << R"(", "key": ")"
                                         << key << R"(", "client_ca": "pki/ca.pem",
              "client_crl": "pki/ca.crl", "client_crl_recheck_seconds": 1},
      "clients": [{"subject": "CN=easgate-admin", "role": "admin"},
                  {"subject": "CN=easgate-reader", "role": "reader"}],
      "exchange": {"kind": "simulator", "simulator_arguments": ["--mailboxes", "20", "--devices", "40"], "pool": 1},
      "harvest": {"full_minutes": 60, "delta_minutes": 0, "history_days": 30},
      "log": {"file": "-", "system_log": false, "format": ")"
                                         << log_format << R"("}
    })";
  }

  // Starts `easgate run` in the background; returns the port it listens on.
  int start() {
    const RunningAgent agent = startEasgateRun(dir_);
    pid_ = agent.pid;
    return agent.port;
  }

  // Points the configuration (written with "port": 0) at `port`, as doctor is run beside an
  // agent there.
  void usePort(int port) {
    std::string config = slurp(dir_ / "easgate.json");
    const std::string any_port = R"("port": 0)";
    config.replace(config.find(any_port), any_port.size(), "\"port\": " + std::to_string(port));
    std::ofstream(dir_ / "easgate.json") << config;
  }

  // `doctor` without Exchange, with the client certificate <stem>.pem and its key <stem>.key
  // (a path under the test's folder) when one is named.
  std::string doctor(const std::string& stem = "") {
    const std::string at = (dir_ / stem).string();
    return "doctor --skip-exchange --config '" + (dir_ / "easgate.json").string() + "'" +
           (stem.empty() ? std::string() : " --cert '" + at + ".pem' --key '" + at + ".key'");
  }

  // Doctor, with a reader's certificate (<stem>.pem) the running agent refuses: fails, naming
  // the certificate and the agent's reason (its TLS alert).
  void expectDoctorNamesTheRefusal(const std::string& stem, const std::string& reason) {
    CliRun refused = run(doctor(stem));
    EXPECT_EQ(refused.exit_code, 8) << refused.out;
    EXPECT_NE(refused.out.find("the agent refused the client certificate CN=easgate-reader"),
              std::string::npos)
        << refused.out;
    EXPECT_NE(refused.out.find(reason), std::string::npos) << refused.out;
  }

  std::string ctl(int port, const std::string& who) {
    const std::string pki = (dir_ / "pki").string();
    return "ctl --url https://localhost:" + std::to_string(port) + " --ca '" + pki +
           "/ca.pem' --cert '" + pki + "/" + who + ".pem' --key '" + pki + "/" + who + ".key' ";
  }

  pid_t pid_ = -1;
};

TEST_F(RunProcess, ServesTheProtocolAndStopsCleanlyOnSigterm) {
  const int port = start();
  ASSERT_GT(port, 0) << slurp(dir_ / "run.log");
  CliRun status = run(ctl(port, "admin") + "status");
  ASSERT_EQ(status.exit_code, 0) << status.err << slurp(dir_ / "run.log");
  EXPECT_NE(status.out.find("\"exchange\":\"simulator\""), std::string::npos) << status.out;

  CliRun allow = run(ctl(port, "admin") + "allow 'contoso.com/Users/Zoe Lee 1' ABC123");
  ASSERT_EQ(allow.exit_code, 0) << allow.err;
  CliRun done = run(ctl(port, "admin") + "command 1 --wait 30");
  EXPECT_NE(done.out.find("\"state\":\"succeeded\""), std::string::npos) << done.out << done.err;

  // Harvest now, and wait for it: the lists it read are the ones just changed.
  CliRun harvested = run(ctl(port, "admin") + "harvest --full --wait 60");
  ASSERT_EQ(harvested.exit_code, 0) << harvested.err << slurp(dir_ / "run.log");
  EXPECT_NE(harvested.out.find(R"("kind":"full","state":"finished")"), std::string::npos)
      << harvested.out;
  CliRun lists = run(ctl(port, "admin") + "lists 'contoso.com/Users/Zoe Lee 1'");
  EXPECT_NE(lists.out.find("ABC123"), std::string::npos) << lists.out;

  // What a monitoring system scrapes: the build, the process, the certificates, the harvests.
  CliRun metrics = run(ctl(port, "reader") + "metrics");
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  for (const char* line :
       {"easgate_build_info{version=\"", "process_cpu_seconds_total ",
        "process_resident_memory_bytes ", "process_open_fds ", "process_start_time_seconds ",
        "easgate_certificate_expiry_seconds{certificate=\"server\"} ",
        "easgate_certificate_expiry_seconds{certificate=\"client_ca\"} ",
        "easgate_harvest_last_success_timestamp_seconds{kind=\"full\"} ",
        "easgate_harvest_failures_total{kind=\"full\",class=\"exchange\"} 0"}) {
    EXPECT_NE(metrics.out.find(std::string("\n") + line), std::string::npos) << line << " in\n"
                                                                             << metrics.out;
  }
  const auto rss_at = metrics.out.find("\nprocess_resident_memory_bytes ");
  ASSERT_NE(rss_at, std::string::npos);
  EXPECT_GT(std::stoll(metrics.out.substr(rss_at + 31)), 1'000'000) << "a real process's memory";
  const auto expiry_at = metrics.out.find("{certificate=\"server\"} ");
  ASSERT_NE(expiry_at, std::string::npos);
  EXPECT_GT(std::stoll(metrics.out.substr(expiry_at + 23)), 700LL * 86400)
      << "the development server certificate is good for 825 days";

  CliRun refused = run(ctl(port, "reader") + "wipe 'Zoe/ExchangeActiveSyncDevices/x'");
  EXPECT_EQ(refused.exit_code, 6) << refused.out;
  EXPECT_NE(refused.err.find("403"), std::string::npos) << refused.err;
  // ctl names commands as the wire does; the older `remove` still works.
  for (const char* name : {"remove-partnership", "remove"}) {
    CliRun removal = run(ctl(port, "admin") + name + " 'Zoe/ExchangeActiveSyncDevices/x'");
    EXPECT_EQ(removal.exit_code, 0) << removal.err;
    EXPECT_NE(removal.out.find("\"kind\":\"remove-partnership\""), std::string::npos)
        << removal.out;
  }

  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  int wait_status = 0;
  ASSERT_EQ(::waitpid(pid_, &wait_status, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << slurp(dir_ / "run.log");
}

// The first policy through ctl and 9090 against the simulator: a plan shows every device
// quarantined without grandfathering; applied with every Allowed device kept, the agent
// harvests at once, and every device is Allowed by its mailbox's list; rollback restores Allow.
TEST_F(RunProcess, TheFirstPolicyIsPlannedAppliedAndRolledBack) {
  const int port = start();
  ASSERT_GT(port, 0) << slurp(dir_ / "run.log");
  const std::string admin = ctl(port, "admin");
  auto waitForLevel = [&](const std::string& level) {
    for (int i = 0; i < 300; ++i) {
      CliRun shown = run(admin + "policy show");
      if (shown.exit_code == 0 &&
          shown.out.find("\"defaultAccessLevel\":\"" + level + "\"") != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  ASSERT_TRUE(waitForLevel("Allow")) << "the first harvest reads the policy\n"
                                     << slurp(dir_ / "run.log");
  auto count = [](const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  CliRun none = run(admin + "policy plan quarantine --grandfather none");
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(count(none.out, "\"to\":{\"accessState\":\"Quarantined\""), 40) << none.out;
  // A page of the plan, and the whole of it read page by page into one answer.
  CliRun page = run(admin + "policy plan quarantine --grandfather none --limit 7");
  ASSERT_EQ(page.exit_code, 0) << page.err;
  EXPECT_EQ(count(page.out, "\"to\":{\"accessState\":\"Quarantined\""), 7) << page.out;
  EXPECT_NE(page.out.find("\"changesTotal\":40"), std::string::npos) << page.out;
  CliRun whole = run(admin + "policy plan quarantine --grandfather none --limit 7 --all");
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  auto joined = json::parseJson(whole.out);
  ASSERT_TRUE(joined.ok()) << whole.out;
  EXPECT_EQ(joined->find("changes")->asArray()->size(), 40u) << whole.out;
  EXPECT_TRUE(joined->find("nextCursor")->isNull());
  EXPECT_EQ(joined->find("digest")->asString()->size(), 64u) << "the plan's own members kept";

  CliRun plan = run(admin + "policy plan Quarantine");
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const auto id_at = plan.out.find("\"id\":\"plan-");
  ASSERT_NE(id_at, std::string::npos) << plan.out;
  const std::string plan_id = plan.out.substr(id_at + 6, 21);
  CliRun applied = run(admin + "policy apply " + plan_id);
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  const auto apply_at = applied.out.find("\"applyId\":");
  ASSERT_NE(apply_at, std::string::npos) << applied.out;
  const std::string apply_id =
      applied.out.substr(apply_at + 10, applied.out.find(',', apply_at) - apply_at - 10);
  CliRun done = run(admin + "command " + apply_id + " --wait 60");
  EXPECT_NE(done.out.find("\"state\":\"succeeded\""), std::string::npos) << done.out;
  ASSERT_TRUE(waitForLevel("Quarantine")) << "a harvest follows the apply";
  CliRun devices = run(admin + "devices --limit 100");
  EXPECT_EQ(count(devices.out, "\"accessState\":\"Allowed\""), 40) << devices.out;
  EXPECT_EQ(count(devices.out, "\"accessStateReason\":\"Individual\""), 40) << devices.out;

  CliRun rollback = run(admin + "policy rollback");
  ASSERT_EQ(rollback.exit_code, 0) << rollback.err;
  EXPECT_TRUE(waitForLevel("Allow")) << slurp(dir_ / "run.log");
}

// Under the usual umask 022, what the agent creates is still its own account's only: the
// store, its journal, the log.
TEST_F(RunProcess, TheStoreTheJournalAndTheLogAreReadableByTheAgentAlone) {
  std::string config = slurp(dir_ / "easgate.json");
  const std::string no_file = R"("file": "-")";
  config.replace(config.find(no_file), no_file.size(), R"("file": "logs/easgate.log")");
  std::ofstream(dir_ / "easgate.json") << config;
  const mode_t previous = ::umask(022);
  const int port = start();
  ::umask(previous);
  ASSERT_GT(port, 0) << slurp(dir_ / "run.log");
  for (const char* file : {"data/easgate.db", "data/easgate.db-wal", "logs/easgate.log"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / file).c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0077, 0u) << file << " has mode " << std::oct << (st.st_mode & 0777);
  }
  struct stat data {};
  ASSERT_EQ(::stat((dir_ / "data").c_str(), &data), 0);
  EXPECT_EQ(data.st_mode & 0077, 0u) << "the data directory it made";
}

// Doctor beside the running service checks the service instead of failing on its busy port.
// A script waits for the port file to learn where the agent listens: one it cannot write is a
// failed start with its reason, not an agent running where nobody will find it.
TEST_F(RunProcess, APortFileThatCannotBeWrittenStopsTheStartWithItsReason) {
  const RunningAgent agent = startEasgateRun(dir_, {}, dir_ / "no such folder" / "port");
  pid_ = agent.pid;
  EXPECT_EQ(agent.port, 0);
  ASSERT_TRUE(agent.exit_status.has_value()) << "still running: " << slurp(dir_ / "run.log");
  EXPECT_TRUE(WIFEXITED(*agent.exit_status) && WEXITSTATUS(*agent.exit_status) == 5)
      << "the output cannot be written: " << *agent.exit_status;
  const std::string log = slurp(dir_ / "run.log");
  EXPECT_NE(log.find("cannot write the port file"), std::string::npos) << log;
  EXPECT_NE(log.find("no such folder"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir_ / "no such folder")) << "nothing made up in its place";
}

TEST_F(RunProcess, DoctorRecognisesTheRunningAgentOnItsPort) {
  const int port = start();
  ASSERT_GT(port, 0) << slurp(dir_ / "run.log");
  usePort(port);
  CliRun plain = run(doctor());
  EXPECT_EQ(plain.exit_code, 0) << plain.out;
  EXPECT_NE(plain.out.find("the agent is running on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << plain.out;
  // With a client certificate it asks the agent itself.
  CliRun asked = run(doctor("pki/reader"));
  EXPECT_EQ(asked.exit_code, 0) << asked.out;
  EXPECT_NE(asked.out.find("is healthy, version "), std::string::npos) << asked.out;
  // A certificate the agent maps to no role: doctor says so, and fails.
  agent::transport::CertificateRequest nobody_request;
  nobody_request.common_name = "nobody";
  auto nobody_pair = agent::transport::issueCertificate(
      agent::transport::readPemPair(dir_ / "pki", "ca").value(), nobody_request);
  ASSERT_TRUE(nobody_pair.ok());
  ASSERT_TRUE(agent::transport::writePemPair(dir_ / "pki", "nobody", nobody_pair.value()).ok());
  CliRun nobody = run(doctor("pki/nobody"));
  EXPECT_EQ(nobody.exit_code, 8) << nobody.out;
  EXPECT_NE(nobody.out.find("answered GET /v1/health with 401"), std::string::npos) << nobody.out;
  // A certificate of another CA: the agent refuses it in the handshake, and doctor says so in
  // the agent's words.
  ASSERT_TRUE(agent::transport::ensureDevelopmentPki(dir_ / "other", {}).ok());
  expectDoctorNamesTheRefusal("other/reader", "unknown ca");

  // Another certificate on that port is not this agent.
  writeConfig("pki/admin.pem", "pki/admin.key");
  usePort(port);
  CliRun other = run(doctor());
  EXPECT_EQ(other.exit_code, 8) << other.out;
  EXPECT_NE(other.out.find("not this agent's certificate"), std::string::npos) << other.out;
}

// A client certificate revoked with `easgate pki revoke` is refused by the running agent from
// its next connection, without a restart; the others are not.
TEST_F(RunProcess, ARevokedClientIsRefusedWithoutARestart) {
  const int port = start();
  ASSERT_GT(port, 0) << slurp(dir_ / "run.log");
  ASSERT_EQ(run(ctl(port, "reader") + "health").exit_code, 0);
  const std::string pki = (dir_ / "pki").string();
  CliRun revoked = run("pki revoke --dir '" + pki + "' '" + pki + "/reader.pem'");
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_NE(revoked.out.find("now lists 1 revoked certificate(s)"), std::string::npos)
      << revoked.out;
  CliRun refused{};  // exit code 0 until a run says otherwise
  for (int i = 0; i < 100 && refused.exit_code == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    refused = run(ctl(port, "reader") + "health");
  }
  // A connection the listener accepted just before it took up the new list is answered 401 at
  // its request (exit 6); every connection after that is refused in the handshake (exit 7).
  if (refused.exit_code == 6) {
    EXPECT_NE(refused.err.find("401"), std::string::npos) << refused.err;
    refused = run(ctl(port, "reader") + "health");
  }
  EXPECT_EQ(refused.exit_code, 7) << "ctl gets no answer: the TLS handshake is refused\n"
                                  << refused.err << slurp(dir_ / "run.log");
  EXPECT_EQ(run(ctl(port, "admin") + "health").exit_code, 0);
  EXPECT_NE(slurp(dir_ / "run.log").find("1 revoked certificate(s)"), std::string::npos)
      << "the agent logs the list it reads";
  // Doctor beside it names the refusal and its reason.
  usePort(port);
  expectDoctorNamesTheRefusal("pki/reader", "certificate revoked");

  // Another CA's certificate is not this PKI's to revoke.
  ASSERT_TRUE(agent::transport::ensureDevelopmentPki(dir_ / "other", {}).ok());
  CliRun foreign =
      run("pki revoke --dir '" + pki + "' '" + (dir_ / "other/admin.pem").string() + "'");
  EXPECT_EQ(foreign.exit_code, 4) << foreign.out;
  EXPECT_NE(foreign.err.find("was not issued by this CA"), std::string::npos) << foreign.err;
}

// Something on the agent's port that accepts a connection and never answers: doctor gives up on
// it after its limit and says what it found, rather than wait with the administrator.
TEST_F(RunProcess, DoctorGivesUpOnAPortWhereNothingAnswers) {
  namespace net = boost::asio;
  net::io_context io;
  net::ip::tcp::acceptor silent(io, {net::ip::make_address("127.0.0.1"), 0});
  net::ip::tcp::socket held(io);
  char bytes[4096];
  // Reads what comes (a ClientHello) and answers nothing, until doctor closes the connection,
  // or for 60 s at most (a doctor that waited that long fails below on what it printed).
  std::function<void(boost::system::error_code, std::size_t)> swallow =
      [&](boost::system::error_code e, std::size_t) {
        if (!e) held.async_read_some(net::buffer(bytes), swallow);
      };
  silent.async_accept(held, [&](boost::system::error_code accepted) {
    if (!accepted) swallow({}, 0);
  });
  std::thread holding([&] {
    io.run_for(std::chrono::seconds(60));
    boost::system::error_code ignored;
    held.close(ignored);
  });
  usePort(silent.local_endpoint().port());
  CliRun silence = run(doctor("pki/reader"));
  io.stop();
  holding.join();
  EXPECT_EQ(silence.exit_code, 8) << silence.out;
  EXPECT_NE(silence.out.find("speaks no TLS (no TLS certificate came back: no answer within 5 s)"),
            std::string::npos)
      << silence.out;
}

TEST_F(RunProcess, DoctorPassesAGoodSetupAndNamesWhatIsWrong) {
  CliRun good = run("doctor --config '" + (dir_ / "easgate.json").string() + "'");
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("all checks passed"), std::string::npos) << good.out;
  EXPECT_NE(good.out.find("psVersion"), std::string::npos) << "the bridge's ready frame";
  EXPECT_NE(good.out.find("easgate-inventory.db is not there yet"), std::string::npos)
      << "the inventory is checked beside the store: " << good.out;
  EXPECT_NE(good.out.find("0 revoked certificate(s)"), std::string::npos) << good.out;

  // A revocation list past its next update: the listener would refuse every client.
  auto ca = agent::transport::readPemPair(dir_ / "pki", "ca").value();
  ASSERT_TRUE(agent::transport::publishRevocationList(ca, dir_ / "pki/ca.crl", {}, -3600).ok());
  CliRun stale = run("doctor --skip-exchange --config '" + (dir_ / "easgate.json").string() + "'");
  EXPECT_EQ(stale.exit_code, 8) << stale.out;
  EXPECT_NE(stale.out.find("expired on"), std::string::npos) << stale.out;
  ASSERT_TRUE(agent::transport::publishRevocationList(ca, dir_ / "pki/ca.crl", {}).ok());

  writeConfig("pki/server.pem", "pki/admin.key");
  CliRun wrong_key =
      run("doctor --skip-exchange --config '" + (dir_ / "easgate.json").string() + "'");
  EXPECT_EQ(wrong_key.exit_code, 8);
  EXPECT_NE(wrong_key.out.find("does not belong"), std::string::npos) << wrong_key.out;

  // The same rules as run: plain HTTP off loopback is refused by both.
  std::ofstream(dir_ / "easgate.json") << R"({"data_dir": "data",
    "listen": {"address": "0.0.0.0", "port": 0, "plain_http": true},
    "clients": [{"subject": "CN=easgate-admin", "role": "admin"}],
    "exchange": {"kind": "simulator"}, "log": {"file": "-", "system_log": false}})";
  CliRun plain = run("doctor --skip-exchange --config '" + (dir_ / "easgate.json").string() + "'");
  EXPECT_EQ(plain.exit_code, 8) << plain.out;
  EXPECT_NE(plain.out.find("loopback"), std::string::npos) << plain.out;
  CliRun refused = run("run --config '" + (dir_ / "easgate.json").string() + "'");
  EXPECT_EQ(refused.exit_code, 2) << "and run refuses it too: " << refused.err;

  // A private key every account may read fails; a rule naming only a CN is warned about.
  writeConfig("pki/server.pem", "pki/server.key");
  std::filesystem::permissions(dir_ / "pki/server.key", std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  CliRun open_key =
      run("doctor --skip-exchange --config '" + (dir_ / "easgate.json").string() + "'");
  EXPECT_EQ(open_key.exit_code, 8);
  EXPECT_NE(open_key.out.find("readable by every account"), std::string::npos) << open_key.out;
  EXPECT_NE(open_key.out.find("names only a common name"), std::string::npos) << open_key.out;

  std::ofstream(dir_ / "easgate.json") << R"({"listen": {"prot": 9090}})";
  CliRun typo = run("doctor --config '" + (dir_ / "easgate.json").string() + "'");
  EXPECT_EQ(typo.exit_code, 8);
  EXPECT_NE(typo.out.find("listen.prot: unknown key"), std::string::npos) << typo.out;

  std::ofstream(dir_ / "easgate.json") << R"({"harvest": {"history_days": -1}})";
  CliRun negative = run("doctor --config '" + (dir_ / "easgate.json").string() + "'");
  EXPECT_EQ(negative.exit_code, 8);
  EXPECT_NE(negative.out.find("harvest.history_days"), std::string::npos) << negative.out;
}

// Doctor runs beside the service or before a new release first starts: it reads the store and
// inventory as they are, and neither creates the data directory nor migrates what it finds.
TEST_F(RunProcess, DoctorReadsTheStoreWithoutCreatingOrMigratingIt) {
  const std::string doctor =
      "doctor --skip-exchange --config '" + (dir_ / "easgate.json").string() + "'";
  CliRun fresh = run(doctor);
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out;
  EXPECT_NE(fresh.out.find("easgate.db is not there yet"), std::string::npos) << fresh.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data")) << "doctor made the data directory";

  // A store an earlier release wrote: named with its version, and left at it.
  std::filesystem::create_directories(dir_ / "data");
  std::filesystem::copy_file(
      std::filesystem::path(EASGATE_TEST_DATA_DIR) / "store/release-0.1.0/easgate.db",
      dir_ / "data/easgate.db");
  const std::string before = slurp(dir_ / "data/easgate.db");
  CliRun old = run(doctor);
  EXPECT_EQ(old.exit_code, 0) << old.out;
  EXPECT_NE(old.out.find("easgate.db is at schema version 4: the agent brings it to " +
                         std::to_string(agent::store::currentSchemaVersion())),
            std::string::npos)
      << old.out;
  EXPECT_EQ(slurp(dir_ / "data/easgate.db"), before) << "doctor changed the store";
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data/easgate-inventory.db"));

  // Brought up to date as the agent does: then both open as they are.
  ASSERT_TRUE(agent::store::openStore(dir_ / "data/easgate.db").ok());
  ASSERT_TRUE(agent::InventoryStore::open(dir_ / "data/easgate-inventory.db").ok());
  CliRun current = run(doctor);
  EXPECT_EQ(current.exit_code, 0) << current.out;
  EXPECT_NE(current.out.find("easgate.db opens (schema up to date)"), std::string::npos)
      << current.out;
  EXPECT_NE(current.out.find("easgate-inventory.db opens (schema up to date)"), std::string::npos)
      << current.out;

  // One a newer release wrote is refused, not misread.
  {
    auto db = agent::store::Database::open(dir_ / "data/easgate.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db.value()->execute("PRAGMA user_version = 999").ok());
  }
  CliRun newer = run(doctor);
  EXPECT_EQ(newer.exit_code, 8) << newer.out;
  EXPECT_NE(newer.out.find("written by an easgate newer than this"), std::string::npos)
      << newer.out;
}

TEST_F(RunProcess, CtlShowsTablesReadsEveryPageWaitsForChangesAndTakesOptionsAnywhere) {
  const int port = start();
  ASSERT_GT(port, 0) << slurp(dir_ / "run.log");
  const std::string pki = (dir_ / "pki").string();
  const std::string url = " --url https://localhost:" + std::to_string(port);
  const std::string credentials =
      " --ca '" + pki + "/ca.pem' --cert '" + pki + "/admin.pem' --key '" + pki + "/admin.key'";
  // The connection options after the subcommand, as people type them.
  CliRun status = run("ctl status" + url + credentials + " -o table");
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.out.rfind("field", 0), 0u) << status.out;
  const auto exchange_row = status.out.find("\nexchange ");
  ASSERT_NE(exchange_row, std::string::npos) << status.out;
  EXPECT_EQ(status.out.substr(status.out.find_first_not_of(' ', exchange_row + 9), 10),
            "simulator\n")
      << status.out;
  // What is inside an object is a row each, named by its path: nothing cut off at the width.
  EXPECT_NE(status.out.find("\ncommands.failed "), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\nbridges.capacity "), std::string::npos) << status.out;
  EXPECT_EQ(status.out.find("{\""), std::string::npos) << status.out;

  // A table of devices with the columns a person reads first; piped, the agent's JSON. The
  // harvest the agent starts with may still be running: one more, waited for, has them all.
  CliRun harvested = run(ctl(port, "admin") + "harvest --full --wait 60");
  ASSERT_EQ(harvested.exit_code, 0) << harvested.err << slurp(dir_ / "run.log");
  CliRun table = run(ctl(port, "admin") + "devices --limit 5 -o table");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("deviceId ", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("accessState"), std::string::npos);
  EXPECT_EQ(std::count(table.out.begin(), table.out.end(), '\n'), 6) << table.out;
  CliRun piped = run(ctl(port, "admin") + "devices --limit 5");
  EXPECT_EQ(piped.out.rfind("{\"devices\":[", 0), 0u) << piped.out;

  // Search by the start of a user's name, in any case.
  CliRun zoe = run(ctl(port, "admin") + "devices --search ZOE");
  ASSERT_EQ(zoe.exit_code, 0) << zoe.err;
  auto found = json::parseJson(zoe.out);
  ASSERT_TRUE(found.ok()) << zoe.out;
  ASSERT_FALSE(found->find("devices")->asArray()->empty()) << zoe.out;
  for (const auto& d : *found->find("devices")->asArray()) {
    EXPECT_NE(d.find("mailboxIdentity")->asString()->find("/Zoe"), std::string::npos) << zoe.out;
  }
  // One device as a table: its members a row each, each value whole (an Identity is longer
  // than a column of a page may be, and is what a person copies).
  const std::string identity =
      *found->find("devices")->asArray()->front().find("identity")->asString();
  ASSERT_GT(identity.size(), 60u);
  CliRun one = run(ctl(port, "admin") + "device '" + identity + "' -o table");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("\ndevice.identity "), std::string::npos) << one.out;
  EXPECT_NE(one.out.find(" " + identity + "\n"), std::string::npos) << one.out;

  // --all reads page after page: the 40 devices, 7 at a time, as one CSV.
  CliRun all = run(ctl(port, "admin") + "devices --all --limit 7 -o csv");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 41) << all.out;
  CliRun all_json = run(ctl(port, "admin") + "--all devices --limit 7");
  auto joined = json::parseJson(all_json.out);
  ASSERT_TRUE(joined.ok()) << all_json.out;
  EXPECT_EQ(joined->find("devices")->asArray()->size(), 40u);

  // --wait on a change: the command as it ended; a failed one exits 6 with Exchange's error.
  CliRun allowed = run(ctl(port, "admin") + "allow 'contoso.com/Users/Zoe Lee 1' ABC123 --wait 30");
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_NE(allowed.out.find("\"state\":\"succeeded\""), std::string::npos) << allowed.out;
  CliRun failed = run(ctl(port, "admin") + "--wait 30 block nobody@nowhere.example XYZ");
  EXPECT_EQ(failed.exit_code, 6) << failed.out;
  EXPECT_NE(failed.out.find("\"state\":\"failed\""), std::string::npos) << failed.out;
  EXPECT_NE(failed.err.find("command 2 failed: Exchange has no mailbox"), std::string::npos)
      << failed.err;
  // A monitoring system counts it by its class.
  CliRun metrics = run(ctl(port, "reader") + "metrics");
  EXPECT_NE(metrics.out.find("\neasgate_command_failures_total{class=\"not-found\"} 1\n"),
            std::string::npos)
      << metrics.out;

  // Every subcommand's help has an example.
  for (const char* sub : {"devices", "allow", "wipe", "remove-partnership", "events", "lists"}) {
    CliRun help = run(std::string("ctl ") + sub + " --help");
    EXPECT_NE(help.out.find("Example:\n  easgate ctl " + std::string(sub) + " "), std::string::npos)
        << sub << ": " << help.out;
  }
  CliRun plan_help = run("ctl policy plan --help");
  EXPECT_NE(plan_help.out.find("Example:\n  easgate ctl policy plan Quarantine"), std::string::npos)
      << plan_help.out;
}

TEST_F(RunProcess, AJsonLogIsOneObjectPerLineWithEveryCommandsLifecycle) {
  writeConfig("pki/server.pem", "pki/server.key", "json");
  const int port = start();
  ASSERT_GT(port, 0) << slurp(dir_ / "run.log");
  // A quote and a line break in a request must not forge a line of their own.
  CliRun allow = run(ctl(port, "admin") + "allow 'contoso.com/Users/Zoe Lee 1' 'ABC\"123'");
  EXPECT_NE(allow.exit_code, 0) << "an ID with a quote is refused";
  allow = run(ctl(port, "admin") + "allow 'contoso.com/Users/Zoe Lee 1' ABC123");
  ASSERT_EQ(allow.exit_code, 0) << allow.err;
  CliRun done = run(ctl(port, "admin") + "command 1 --wait 30");
  EXPECT_NE(done.out.find("\"state\":\"succeeded\""), std::string::npos) << done.out;
  stopProcessGroup(pid_);
  pid_ = -1;

  std::istringstream lines(slurp(dir_ / "run.log"));
  std::string line;
  int objects = 0;
  bool accepted = false, succeeded = false;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    auto doc = json::parseJson(line);
    ASSERT_TRUE(doc.ok() && doc->asObject()) << "not one JSON object: " << line;
    std::vector<std::string> keys;
    for (const auto& [key, value] : *doc->asObject()) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"time", "level", "logger", "thread", "message"}))
        << line;
    const std::string message = *doc->find("message")->asString();
    accepted |= message.rfind("command 1: accepted: allow", 0) == 0;
    succeeded |= message.rfind("command 1: succeeded", 0) == 0;
    EXPECT_EQ(doc->find("time")->asString()->back(), 'Z') << line;
    ++objects;
  }
  EXPECT_GT(objects, 5);
  EXPECT_TRUE(accepted && succeeded) << slurp(dir_ / "run.log");

  std::ofstream(dir_ / "bad.json") << R"({"log": {"format": "xml"}})";
  CliRun bad = run("doctor --config '" + (dir_ / "bad.json").string() + "'");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("log.format: text or json"), std::string::npos) << bad.out << bad.err;
}

// `easgate demo` as a new user meets it: it comes up with TLS on the port asked for, its banner
// shows the commands to try, and what they show is worth looking at: quarantined and blocked
// devices, a wiped phone, phones that have not synced for weeks.
class DemoProcess : public CliTest {
 protected:
  void TearDown() override {
    stopProcessGroup(pid_);
    CliTest::TearDown();
  }
  static int freePort() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
  }
  pid_t pid_ = -1;
};

TEST_F(DemoProcess, TheDemoShowsQuarantinedBlockedWipedAndStaleDevices) {
  const int port = freePort();
  const fs::path demo = dir_ / "demo";
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    const std::string out = (dir_ / "demo.out").string();
    const std::string log = (dir_ / "demo.log").string();
    if (!std::freopen(out.c_str(), "w", stdout) || !std::freopen(log.c_str(), "w", stderr)) {
      ::_exit(126);
    }
    const std::string p = std::to_string(port);
    ::execl(EASGATE_BINARY, EASGATE_BINARY, "demo", "--dir", demo.c_str(), "--port", p.c_str(),
            "--mailboxes", "60", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
  const std::string pki = (demo / "pki").string();
  const std::string ctl = "ctl --url https://localhost:" + std::to_string(port) + " --ca '" + pki +
                          "/ca.pem' --cert '" + pki + "/admin.pem' --key '" + pki + "/admin.key' ";
  bool harvested = false;
  for (int i = 0; i < 300 && !harvested; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CliRun status = run(ctl + "status");
    harvested = status.exit_code == 0 && status.out.find(R"("full":{)") != std::string::npos;
  }
  ASSERT_TRUE(harvested) << slurp(dir_ / "demo.log");
  EXPECT_NE(slurp(dir_ / "demo.out").find("ctl policy plan Quarantine"), std::string::npos)
      << slurp(dir_ / "demo.out");

  auto count = [](const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  CliRun quarantined = run(ctl + "devices --access-state quarantined");  // any case
  ASSERT_EQ(quarantined.exit_code, 0) << quarantined.err;
  EXPECT_GT(count(quarantined.out, R"("accessState":"Quarantined")"), 0) << quarantined.out;
  CliRun blocked = run(ctl + "devices --access-state Blocked");
  EXPECT_GT(count(blocked.out, R"("accessState":"Blocked")"), 0) << blocked.out;
  CliRun all = run(ctl + "devices --limit 1000");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(count(all.out, R"("wipeStatus":"DeviceWipeSucceeded")"), 1) << "the lost phone";
  // Stale: the devices synced in the last 30 days are fewer than all of them.
  const auto month_ago = std::chrono::system_clock::now() - std::chrono::hours(24 * 30);
  const std::time_t t = std::chrono::system_clock::to_time_t(month_ago);
  char since[32];
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  CliRun recent = run(ctl + "devices --limit 1000 --seen-since " + since);
  ASSERT_EQ(recent.exit_code, 0) << recent.err;
  const int everyone = count(all.out, R"("identity":)");
  EXPECT_EQ(everyone, 120);
  EXPECT_LT(count(recent.out, R"("identity":)"), everyone) << "some have not synced for weeks";
  EXPECT_GT(count(recent.out, R"("identity":)"), everyone / 2);
}

}  // namespace
}  // namespace easgate::testing
