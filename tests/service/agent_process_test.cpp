// `easgate agent` as a process against easgate-exchange-sim processes:
// - killed with SIGKILL in the middle of 1,000 queued wipes, then restarted: no acknowledged
//   command is lost, and no device gets a second wipe once Exchange (the simulator, which
//   keeps its state on disk as Exchange would) holds the first;
// - under a storm of throttling and session-limit errors: every command still succeeds.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/audit/audit_log.h"
#include "agent/commands/command_journal.h"
#include "agent/store/schema.h"
#include "common/threads/priority.h"
#include "powershell/sim/organisation.h"
#include "tests/service/cli_test_support.h"
#include "tests/service/running_agent.h"

namespace {

namespace fs = std::filesystem;
using namespace easgate;
using namespace std::chrono_literals;

constexpr int kWipes = 1000;

class AgentProcess : public easgate::testing::CliTest {
 protected:
  // Starts `easgate agent` in a process group of its own, so its bridges can be waited for.
  pid_t startAgent(const std::string& log_name, const std::vector<std::string>& extra = {},
                   bool until_idle = true) {
    const std::string data = "--data-dir=" + dir_.string();
    const std::string org = "--sim-arg=" + (dir_ / "org.json").string();
    const std::string log = (dir_ / log_name).string();
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::vector<std::string> args = {EASGATE_BINARY,
                                     "agent",
                                     data,
                                     "--pool=1",
                                     "--sim-arg=--org",
                                     org,
                                     "--sim-arg=--save",
                                     org,
                                     "--sim-arg=--save-every-change"};
    if (until_idle) args.push_back("--until-idle");
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
      execv(EASGATE_BINARY, argv.data());
      _exit(127);
    }
    ::close(log_fd);
    setpgid(pid, pid);
    return pid;
  }

  std::int64_t count(const char* state) {
    auto db = agent::store::openStore(agent::store::storeFile(dir_));
    if (!db) return -1;
    auto q = db.value()->prepare("SELECT count(*) FROM commands WHERE state = ?");
    if (!q) return -1;
    q->bind(1, state);
    auto row = q->step();
    return row && row.value() ? q->integer(0) : -1;
  }
};

TEST_F(AgentProcess, AKillDuringAThousandWipesLosesNoneAndWipesNoDeviceTwice) {
  auto org = powershell::sim::Organisation::generate(
      {11, 500, kWipes, powershell::sim::dotNetTicksFromUnixSeconds(1'790'000'000)});
  std::ofstream(dir_ / "org.json") << org.toJson();
  {
    auto db = agent::store::openStore(agent::store::storeFile(dir_));
    ASSERT_TRUE(db.ok()) << db.error().message;
    agent::SystemClock clock;
    agent::AuditLog audit(*db.value());
    agent::CommandJournal journal(*db.value(), audit, clock);
    for (const auto& mailbox : org.mailboxes()) {
      for (const auto& device : mailbox.devices) {
        agent::CommandRequest wipe;
        wipe.kind = agent::CommandKind::kWipe;
        wipe.partnership = powershell::sim::partnershipIdentity(device);
        wipe.requested_by = "CN=mdm.contoso.com";
        auto normalized = agent::normalizeCommand(wipe);
        ASSERT_TRUE(normalized.ok()) << normalized.error().message;
        ASSERT_TRUE(journal.submit(normalized.value(), clock.nowMs() + 3600'000).ok());
      }
    }
  }

  pid_t agent = startAgent("first.log");
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::int64_t done = 0;
  while ((done = count("succeeded")) < 150 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(::kill(agent, SIGKILL), 0);
  int status = 0;
  waitpid(agent, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status))
      << "the agent ended by itself: " << easgate::testing::slurp(dir_ / "first.log");
  ASSERT_TRUE(easgate::testing::waitForProcessGroup(agent, 30s))
      << "the agent's bridge outlived it";
  const std::int64_t at_kill = count("succeeded");
  ASSERT_GE(at_kill, 150);
  ASSERT_LT(at_kill, kWipes) << "the kill must land in the middle of the burst";

  agent = startAgent("second.log");
  waitpid(agent, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << easgate::testing::slurp(dir_ / "second.log");
  ASSERT_TRUE(easgate::testing::waitForProcessGroup(agent, 30s));

  EXPECT_EQ(count("succeeded"), kWipes)
      << "every acknowledged wipe was carried out. The first run said:\n"
      << easgate::testing::slurp(dir_ / "first.log") << "\nThe second run said:\n"
      << easgate::testing::slurp(dir_ / "second.log");
  EXPECT_EQ(count("failed"), 0);
  std::ifstream in(dir_ / "org.json");
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto after = powershell::sim::Organisation::fromJson(json);
  ASSERT_TRUE(after.ok()) << after.error().message;
  int wiped = 0, twice = 0;
  for (const auto& mailbox : after->mailboxes()) {
    for (const auto& device : mailbox.devices) {
      wiped += device.wipe_requests >= 1 ? 1 : 0;
      twice += device.wipe_requests > 1 ? 1 : 0;
    }
  }
  EXPECT_EQ(wiped, kWipes);
  EXPECT_EQ(twice, 0) << "a wipe Exchange already held was sent again";
}

// SIGTERM (what systemd sends) and Ctrl+C stop the agent in order, whichever of its threads the
// kernel hands the signal to: its bridges, store and harvest threads are running by then.
TEST_F(AgentProcess, SigtermStopsARunningAgentInOrder) {
  auto org = powershell::sim::Organisation::generate(
      {7, 20, 40, powershell::sim::dotNetTicksFromUnixSeconds(1'790'000'000)});
  std::ofstream(dir_ / "org.json") << org.toJson();
  for (int signal : {SIGTERM, SIGINT}) {
    const std::string log = signal == SIGTERM ? "term.log" : "int.log";
    const pid_t agent = startAgent(log, {}, /*until_idle=*/false);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (easgate::testing::slurp(dir_ / log).find("full harvest:") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_NE(easgate::testing::slurp(dir_ / log).find("full harvest:"), std::string::npos)
        << "no first harvest within 60 s: " << easgate::testing::slurp(dir_ / log);
    ASSERT_EQ(::kill(agent, signal), 0);
    int status = 0;
    waitpid(agent, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "signal " << signal << " ended it "
        << (WIFSIGNALED(status) ? "by the signal's default action" : "with an error") << ":\n"
        << easgate::testing::slurp(dir_ / log);
    EXPECT_NE(easgate::testing::slurp(dir_ / log).find("easgate agent: stopped"), std::string::npos)
        << easgate::testing::slurp(dir_ / log);
    EXPECT_TRUE(easgate::testing::waitForProcessGroup(agent, 30s))
        << "the agent's bridge outlived it";
  }
}

// A thread's nice value and time slice as the kernel shows them (/proc/PID/task/TID/sched,
// read here rather than through the agent's own code); nullopt without that file or its line.
struct ThreadScheduling {
  int nice = 0;
  std::int64_t slice_ns = 0;
};
std::optional<ThreadScheduling> threadScheduling(pid_t pid, const std::string& tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + tid + "/sched");
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(std::stoi(tid)));
  if (errno != 0) return std::nullopt;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("se.slice", 0) == 0) {
      return ThreadScheduling{nice, std::stoll(line.substr(line.find(':') + 1))};
    }
  }
  return std::nullopt;
}

// The agent's threads answer the MDM with the shortest time slice, so that on a kernel that lets
// a running thread finish its slice first (Linux 6.6 and later) they take a core from a harvest
// at once; its harvest's threads, lowered below normal, have the kernel's default.
TEST_F(AgentProcess, ItsThreadsHaveTheShortTimeSliceAndItsHarvestsTheDefault) {
  if (!threads::thisThreadTimeSlice()) {
    GTEST_SKIP() << "SKIPPED: this kernel gives a thread no time slice of its own (Linux 6.12 "
                    "and later do), so the agent's threads all have the default";
  }
  auto org = powershell::sim::Organisation::generate(
      {7, 20, 40, powershell::sim::dotNetTicksFromUnixSeconds(1'790'000'000)});
  std::ofstream(dir_ / "org.json") << org.toJson();
  const pid_t agent = startAgent("slices.log", {}, /*until_idle=*/false);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (easgate::testing::slurp(dir_ / "slices.log").find("full harvest:") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_NE(easgate::testing::slurp(dir_ / "slices.log").find("full harvest:"), std::string::npos)
      << easgate::testing::slurp(dir_ / "slices.log");
  const std::int64_t short_ns = std::chrono::nanoseconds(threads::kShortTimeSlice).count();
  int normal = 0, below = 0;
  std::string read_all = "every thread read";
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(agent) + "/task")) {
    const std::string tid = task.path().filename().string();
    const auto s = threadScheduling(agent, tid);
    if (!s) {
      // A thread that ended since the listing is not one to judge; one still there must read.
      if (fs::exists(task.path())) read_all = "thread " + tid + " unreadable";
      continue;
    }
    if (s->nice > 0) {
      ++below;
      EXPECT_NE(s->slice_ns, short_ns) << "thread " << tid << ", below normal, has the short slice";
    } else {
      ++normal;
      EXPECT_EQ(s->slice_ns, short_ns)
          << "thread " << tid << " (" << easgate::testing::slurp(task.path() / "comm")
          << ") answers with a longer slice; the agent is " << agent;
    }
  }
  ::kill(agent, SIGTERM);
  int status = 0;
  waitpid(agent, &status, 0);
  EXPECT_TRUE(easgate::testing::waitForProcessGroup(agent, 30s));
  EXPECT_EQ(read_all, "every thread read");
  EXPECT_GE(below, 1) << "no harvest thread below normal";
  EXPECT_GE(normal, 3) << "the agent's own threads (main, executor, bridge readers)";
}

TEST_F(AgentProcess, EveryCommandSucceedsThroughAStormOfThrottlingAndSessionLimits) {
  auto org = powershell::sim::Organisation::generate(
      {5, 60, 120, powershell::sim::dotNetTicksFromUnixSeconds(1'790'000'000)});
  std::ofstream(dir_ / "org.json") << org.toJson();
  {
    auto db = agent::store::openStore(agent::store::storeFile(dir_));
    ASSERT_TRUE(db.ok());
    agent::SystemClock clock;
    agent::AuditLog audit(*db.value());
    agent::CommandJournal journal(*db.value(), audit, clock);
    for (const auto& mailbox : org.mailboxes()) {
      agent::CommandRequest block;
      block.kind = agent::CommandKind::kBlock;
      block.mailbox = mailbox.facts.primarySmtpAddress();
      block.device_id = mailbox.devices.at(0).device_id;
      block.requested_by = "CN=mdm.contoso.com";
      ASSERT_TRUE(journal.submit(block, clock.nowMs() + 3600'000).ok());
    }
  }
  // Four in ten requests throttled (Exchange asks for 30 ms), one in ten refused for the
  // session cap; retries start at 20 ms.
  pid_t agent =
      startAgent("storm.log", {"--first-retry-seconds=0.02", "--max-retry-seconds=0.5",
                               "--sim-arg=--throttle-rate=0.4", "--sim-arg=--throttle-retry-ms=30",
                               "--sim-arg=--session-limit-rate=0.1"});
  int status = 0;
  waitpid(agent, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << easgate::testing::slurp(dir_ / "storm.log");
  ASSERT_TRUE(easgate::testing::waitForProcessGroup(agent, 30s));
  EXPECT_EQ(count("succeeded"), 60);
  auto db = agent::store::openStore(agent::store::storeFile(dir_));
  ASSERT_TRUE(db.ok());
  auto retried = db.value()->prepare("SELECT count(*) FROM commands WHERE attempts > 1");
  ASSERT_TRUE(retried.ok());
  ASSERT_TRUE(retried->step().ok());
  EXPECT_GT(retried->integer(0), 10) << "the storm made commands wait and retry";
  std::ifstream in(dir_ / "org.json");
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto after = powershell::sim::Organisation::fromJson(json);
  ASSERT_TRUE(after.ok());
  for (const auto& mailbox : after->mailboxes()) {
    EXPECT_EQ(mailbox.facts.blocked_device_ids.size(), 1u) << mailbox.facts.name;
  }
}

}  // namespace
