// The bridge host and pool against easgate-exchange-sim, a real child process speaking the
// bridge protocol, with each fault it can inject.
#include <gtest/gtest.h>

#ifndef _WIN32
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#endif

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "common/threads/priority.h"
#include "powershell/host/bridge_pool.h"
#include "powershell/host/bridge_process.h"
#include "powershell/sim/shared_state.h"
#include "tests/support/scratch.h"

namespace easgate::powershell {
namespace {

using namespace std::chrono_literals;

BridgeCommand sim(std::vector<std::string> extra = {}) {
  BridgeCommand c{EASGATE_SIM_BINARY, {"--mailboxes", "20", "--devices", "40", "--seed", "7"}, {}};
  c.arguments.insert(c.arguments.end(), extra.begin(), extra.end());
  return c;
}

std::unique_ptr<BridgeProcess> startOk(const BridgeCommand& command,
                                       BridgeProcessOptions options = {}) {
  auto started = BridgeProcess::start(command, std::move(options));
  EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().message);
  return started.ok() ? std::move(started).value() : nullptr;
}

// A pool's factory: simulator bridges started with `extra` arguments.
BridgeFactory simBridges(std::vector<std::string> extra = {}) {
  return [extra]() -> Result<std::unique_ptr<Bridge>, BridgeError> {
    auto started = BridgeProcess::start(sim(extra), {});
    if (!started) return started.error();
    return std::unique_ptr<Bridge>(std::move(started).value());
  };
}

BridgeRequest devicesOf(std::string mailbox) {
  return BridgeRequest{"Get-MobileDevice", {}}.with("Mailbox", std::move(mailbox));
}

// The identity of the first generated mailbox, asked of the simulator itself.
std::string firstMailbox(Bridge& bridge) {
  auto r = bridge.run(BridgeRequest{"Get-CASMailbox", {}}.with("ResultSize", std::int64_t{1}));
  EXPECT_TRUE(r.ok());
  if (!r.ok() || r->objects.empty()) return "";
  return *r->objects[0].asObject()->property("Identity")->display();
}

TEST(BridgeProcess, StartsAndAnswersWithExchangeShapedObjects) {
  auto bridge = startOk(sim());
  ASSERT_TRUE(bridge);
  EXPECT_NE(bridge->readyInfo().find("\"mode\":\"simulator\""), std::string::npos);
  std::string mailbox = firstMailbox(*bridge);
  auto result = bridge->run(devicesOf(mailbox));
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_FALSE(result->objects.empty());
  EXPECT_EQ(result->count, result->objects.size());
  const PsObject* device = result->objects[0].asObject();
  ASSERT_NE(device, nullptr);
  EXPECT_TRUE(
      device->hasType("Microsoft.Exchange.Data.Directory.SystemConfiguration.MobileDevice"));
  EXPECT_EQ(device->property("UserDisplayName")->display(), mailbox);
  EXPECT_TRUE(bridge->healthy());
}

TEST(BridgeProcess, ReturnsExchangeErrorsClassifiedAndStaysUsable) {
  auto bridge = startOk(sim());
  ASSERT_TRUE(bridge);
  auto missing = bridge->run(devicesOf("nobody@contoso.com"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, BridgeErrc::kNotFound);
  EXPECT_FALSE(missing.error().retryable());
  EXPECT_NE(missing.error().message.find("couldn't be found"), std::string::npos);
  EXPECT_NE(missing.error().exception_type.find("ManagementObjectNotFoundException"),
            std::string::npos);
  EXPECT_TRUE(bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok());
}

TEST(BridgeProcess, RefusesWhatTheAllowlistDoesNotNameBeforeSendingIt) {
  auto bridge = startOk(sim());
  ASSERT_TRUE(bridge);
  auto empty_identity = bridge->run(devicesOf(""));
  ASSERT_FALSE(empty_identity.ok());
  EXPECT_EQ(empty_identity.error().code, BridgeErrc::kInvalidArgument);
  EXPECT_NE(empty_identity.error().message.find("every object"), std::string::npos);
  auto other_cmdlet =
      bridge->run(BridgeRequest{"Invoke-Expression", {}}.with("Command", "Remove-Item C:\\"));
  ASSERT_FALSE(other_cmdlet.ok());
  EXPECT_NE(other_cmdlet.error().message.find("not an allowlisted cmdlet"), std::string::npos);
  auto other_parameter = bridge->run(devicesOf("x").with("ScriptBlock", "{ evil }"));
  ASSERT_FALSE(other_parameter.ok());
  EXPECT_TRUE(bridge->healthy());
}

TEST(BridgeProcess, ThrottlingAndSessionLimitsAreRetryableWithTheWaitExchangeAsks) {
  auto throttled = startOk(sim({"--throttle-rate", "1", "--throttle-retry-ms", "1500"}));
  ASSERT_TRUE(throttled);
  auto r = throttled->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, BridgeErrc::kThrottled);
  EXPECT_EQ(r.error().retry_after_ms, 1500);
  EXPECT_TRUE(r.error().retryable());

  auto limited = startOk(sim({"--session-limit-rate", "1"}));
  ASSERT_TRUE(limited);
  auto s = limited->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, BridgeErrc::kSessionLimit);
  EXPECT_TRUE(s.error().retryable());
  EXPECT_NE(s.error().message.find("concurrent shells"), std::string::npos);
}

TEST(BridgeProcess, ACrashFailsTheRequestInFlightAsRetryableAndSaysWhy) {
  std::vector<std::string> stderr_lines;
  std::mutex m;
  BridgeProcessOptions options;
  options.on_stderr = [&](std::string_view line) {
    std::lock_guard lock(m);
    stderr_lines.emplace_back(line);
  };
  auto bridge = startOk(sim({"--crash-after", "2"}), options);
  ASSERT_TRUE(bridge);
  EXPECT_TRUE(bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok());
  auto crashed = bridge->run(
      BridgeRequest{"Clear-MobileDevice", {}}.with("Identity", "x/ExchangeActiveSyncDevices/y"));
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.error().code, BridgeErrc::kBridgeFailed);
  EXPECT_TRUE(crashed.error().retryable());
  EXPECT_NE(crashed.error().message.find("Clear-MobileDevice was in flight"), std::string::npos)
      << crashed.error().message;
  EXPECT_NE(crashed.error().message.find("exited with code 70"), std::string::npos)
      << crashed.error().message;
  EXPECT_FALSE(bridge->healthy());
  std::lock_guard lock(m);
  ASSERT_FALSE(stderr_lines.empty());
  EXPECT_NE(stderr_lines.back().find("crashing on request 2"), std::string::npos);
}

// The first `n` generated mailboxes' identities.
std::vector<std::string> mailboxes(Bridge& bridge, std::int64_t n) {
  auto r = bridge.run(BridgeRequest{"Get-CASMailbox", {}}.with("ResultSize", n));
  EXPECT_TRUE(r.ok());
  std::vector<std::string> out;
  if (!r.ok()) return out;
  for (const auto& o : r->objects) out.push_back(*o.asObject()->property("Identity")->display());
  return out;
}

TEST(BridgeProcess, RequestsSentTogetherAreEachAnsweredInOrderAndAFailureStopsNoOther) {
  auto bridge = startOk(sim());
  ASSERT_TRUE(bridge);
  const auto names = mailboxes(*bridge, 2);
  ASSERT_EQ(names.size(), 2u);
  const std::vector<BridgeRequest> requests = {
      devicesOf(names[0]), devicesOf("nobody@contoso.com"), devicesOf(""), devicesOf(names[1]),
      BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}};
  std::vector<std::vector<std::string>> owners(requests.size());
  auto outcomes = bridge->runEach(requests, [&](std::size_t i, std::vector<PsValue>&& batch) {
    for (const auto& v : batch) {
      const PsObject* o = v.asObject();
      const PsValue* name = o ? o->property("UserDisplayName") : nullptr;
      owners[i].push_back(name && name->display() ? *name->display() : "");
    }
  });
  ASSERT_EQ(outcomes.size(), requests.size());
  ASSERT_TRUE(outcomes[0].ok()) << outcomes[0].error().message;
  ASSERT_FALSE(owners[0].empty());
  EXPECT_EQ(outcomes[0]->count, owners[0].size());
  for (const auto& owner : owners[0]) EXPECT_EQ(owner, names[0]);
  ASSERT_FALSE(outcomes[1].ok());
  EXPECT_EQ(outcomes[1].error().code, BridgeErrc::kNotFound);
  EXPECT_TRUE(owners[1].empty());
  ASSERT_FALSE(outcomes[2].ok());  // refused by the allowlist, never sent
  EXPECT_EQ(outcomes[2].error().code, BridgeErrc::kInvalidArgument);
  ASSERT_TRUE(outcomes[3].ok()) << outcomes[3].error().message;
  ASSERT_FALSE(owners[3].empty());
  for (const auto& owner : owners[3]) EXPECT_EQ(owner, names[1]);
  ASSERT_TRUE(outcomes[4].ok());
  EXPECT_EQ(owners[4].size(), 1u);
  // The bridge and the host still agree on which answer is which.
  EXPECT_TRUE(bridge->healthy());
  EXPECT_EQ(firstMailbox(*bridge), names[0]);
  // Without a sink, each request's objects come in its outcome.
  auto kept = bridge->runEach({devicesOf(names[1]), devicesOf(names[0])}, {});
  ASSERT_EQ(kept.size(), 2u);
  ASSERT_TRUE(kept[0].ok() && kept[1].ok());
  EXPECT_EQ(kept[0]->objects.size(), owners[3].size());
  EXPECT_EQ(kept[1]->objects.size(), owners[0].size());
}

TEST(BridgeProcess, ObjectsTakenOneByOneAreTheBatchesObjectsForTheirRequest) {
  // The harvest's sinks (BatchSink::ofObjects) read each object from the bridge's CLIXML without
  // building it; they must see what a sink of values sees, each for its own request, also when
  // a request refused before sending renumbers the rest.
  auto bridge = startOk(sim());
  ASSERT_TRUE(bridge);
  const auto names = mailboxes(*bridge, 2);
  ASSERT_EQ(names.size(), 2u);
  const std::vector<BridgeRequest> requests = {devicesOf(names[0]), devicesOf(""),
                                               devicesOf(names[1])};
  using Seen = std::vector<std::vector<std::string>>;
  auto describe = [](const PropertyView& o) {
    std::string line;
    for (const char* p : {"Identity", "DeviceId", "DeviceAccessState", "FirstSyncTime"}) {
      line += o.display(p).value_or("-") + "|";
    }
    return line + (o.dateTime("FirstSyncTime") ? "DT" : "no DT");
  };
  Seen as_values(requests.size()), as_objects(requests.size());
  bridge->runEach(requests, [&](std::size_t i, std::vector<PsValue>&& batch) {
    for (const auto& v : batch) {
      forEachObject(v,
                    [&](const PsObject& o) { as_values[i].push_back(describe(PsObjectView(o))); });
    }
  });
  auto outcomes = bridge->runEach(
      requests, IndexedBatchSink::ofObjects([&](std::size_t i, const PropertyView& o) {
        as_objects[i].push_back(describe(o));
      }));
  ASSERT_EQ(outcomes.size(), requests.size());
  EXPECT_TRUE(outcomes[0].ok() && outcomes[2].ok());
  EXPECT_FALSE(outcomes[1].ok());
  EXPECT_FALSE(as_objects[0].empty());
  EXPECT_FALSE(as_objects[2].empty());
  EXPECT_TRUE(as_objects[1].empty());
  EXPECT_EQ(as_objects, as_values);
  EXPECT_NE(as_objects[0].front().find("|DT"), std::string::npos) << as_objects[0].front();
  // And one request alone.
  std::vector<std::string> alone;
  auto one = bridge->run(devicesOf(names[1]), BatchSink::ofObjects([&](const PropertyView& o) {
                           alone.push_back(describe(o));
                         }));
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(one->count, alone.size());
  EXPECT_EQ(alone, as_values[2]);
  EXPECT_TRUE(bridge->healthy());
}

TEST(BridgeProcess, AnswersKeptUnreadOrReadAsTheyComeGiveEachRequestItsObjectsInOrder) {
  // receiveEach keeps batches unread up to a budget and reads the rest as it comes; wherever
  // the budget runs out, even within a request, each request sees its objects in order. One
  // object per batch, so that a mailbox with several devices answers in several batches.
  const BridgeCommand one_per_batch = sim({"--batch-size", "1"});
  auto reference_bridge = startOk(one_per_batch);
  ASSERT_TRUE(reference_bridge);
  const auto names = mailboxes(*reference_bridge, 20);
  ASSERT_EQ(names.size(), 20u);
  std::vector<BridgeRequest> requests;
  for (const auto& name : names) requests.push_back(devicesOf(name));
  requests.push_back(devicesOf("nobody@contoso.com"));  // fails, keeps nothing
  using Seen = std::vector<std::vector<std::string>>;
  auto identities = [&](Bridge& bridge, Seen& seen) {
    seen.assign(requests.size(), {});
    return bridge.runEach(requests,
                          IndexedBatchSink::ofObjects([&](std::size_t i, const PropertyView& o) {
                            seen[i].push_back(o.display("Identity").value_or("-"));
                          }));
  };
  Seen expected;
  identities(*reference_bridge, expected);
  std::size_t devices = 0;
  for (const auto& one : expected) devices += one.size();
  ASSERT_GT(devices, names.size()) << "some mailboxes have more than one device";

  // A budget that runs out within a request: the first with several batches keeps its first.
  std::size_t within = 0;
  {
    auto all = reference_bridge->receiveEach(requests, {});
    for (std::size_t i = 0; i < names.size() && within == 0; ++i) {
      ASSERT_FALSE(all[i].batches.empty()) << "the default budget keeps a few devices' batches";
      if (all[i].batches.size() > 1) {
        within = all[i].batches[0].size();
        for (std::size_t j = 0; j < i; ++j) {
          for (const auto& b : all[j].batches) within += b.size();
        }
      }
    }
    ASSERT_GT(within, 0u) << "no mailbox answered in more than one batch";
  }

  bool kept_some_then_read_on = false;
  for (std::size_t budget : {std::size_t{0}, within, std::size_t{4} << 20}) {
    BridgeProcessOptions options;
    options.keep_answers_bytes = budget;
    auto bridge = startOk(one_per_batch, options);
    ASSERT_TRUE(bridge);
    // What was kept: every batch within the budget, none after the first that was not.
    auto received = bridge->receiveEach(requests, {});
    std::size_t kept_bytes = 0;
    bool ran_out = false;
    for (std::size_t i = 0; i < names.size(); ++i) {
      ASSERT_TRUE(received[i].outcome.ok()) << i;
      const bool kept = !received[i].batches.empty();
      EXPECT_TRUE(kept || !received[i].outcome->objects.empty()) << i;
      if (!kept) ran_out = true;
      EXPECT_FALSE(kept && ran_out) << budget << ": request " << i << " kept after the budget";
      for (const auto& b : received[i].batches) kept_bytes += b.size();
    }
    EXPECT_LE(kept_bytes, budget);
    if (kept_bytes > 0 && ran_out) kept_some_then_read_on = true;
    EXPECT_EQ(readAnswers(std::move(received), {}).at(names.size()).error().code,
              BridgeErrc::kNotFound);
    Seen seen;
    auto outcomes = identities(*bridge, seen);
    EXPECT_EQ(seen, expected) << "keeping up to " << budget << " bytes";
    for (std::size_t i = 0; i < names.size(); ++i) EXPECT_TRUE(outcomes[i].ok()) << i;
  }
  EXPECT_TRUE(kept_some_then_read_on) << "no budget ran out part of the way through";
}

TEST(ReadAnswers, AKeptBatchThatCannotBeReadFailsItsRequestAloneAndRetryably) {
  std::vector<ReceivedAnswer> answers(2);
  answers[0].batches.push_back("<Objs Version=\"1.1.0.1\"><Obj RefId=\"0\"><broken");
  answers[1].batches.push_back(
      "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
      "<S>kept</S></Objs>");
  auto outcomes = readAnswers(std::move(answers), {});
  ASSERT_EQ(outcomes.size(), 2u);
  ASSERT_FALSE(outcomes[0].ok());
  EXPECT_EQ(outcomes[0].error().code, BridgeErrc::kBridgeFailed);
  EXPECT_TRUE(outcomes[0].error().retryable());
  EXPECT_NE(outcomes[0].error().message.find("unreadable batch"), std::string::npos);
  ASSERT_TRUE(outcomes[1].ok());
  ASSERT_EQ(outcomes[1]->objects.size(), 1u);
  EXPECT_EQ(outcomes[1]->objects[0].display(), "kept");
}

TEST(ReadAnswers, AFailedRequestsKeptObjectsGoToTheSinkAndItKeepsItsOwnError) {
  // Objects that came before a request failed reach the sink, as they would have while it ran;
  // a batch of it that cannot be read does not hide why it failed.
  const std::string kept =
      "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
      "<S>before the failure</S></Objs>";
  std::vector<ReceivedAnswer> answers(2);
  answers[0].outcome = BridgeError{BridgeErrc::kTransient, "database failing over", "", 0};
  answers[0].batches = {kept};
  answers[1].outcome = BridgeError{BridgeErrc::kNotFound, "no such mailbox", "", 0};
  answers[1].batches = {kept, "<Objs Version=\"1.1.0.1\"><broken"};
  std::vector<std::pair<std::size_t, std::string>> seen;
  auto outcomes = readAnswers(std::move(answers), [&](std::size_t i, std::vector<PsValue>&& b) {
    for (const auto& v : b) seen.emplace_back(i, v.display().value_or("?"));
  });
  ASSERT_EQ(outcomes.size(), 2u);
  ASSERT_FALSE(outcomes[0].ok());
  EXPECT_EQ(outcomes[0].error().code, BridgeErrc::kTransient);
  ASSERT_FALSE(outcomes[1].ok());
  EXPECT_EQ(outcomes[1].error().code, BridgeErrc::kNotFound);
  EXPECT_EQ(outcomes[1].error().message, "no such mailbox");
  const std::vector<std::pair<std::size_t, std::string>> expected = {{0, "before the failure"},
                                                                     {1, "before the failure"}};
  EXPECT_EQ(seen, expected);
}

TEST(BridgeProcess, ThousandsOfRequestsSentTogetherAreAllAnswered) {
  // More than the host sends ahead at once (16 KB of requests): sent in turns, none lost.
  auto bridge = startOk(sim());
  ASSERT_TRUE(bridge);
  const auto names = mailboxes(*bridge, 20);
  ASSERT_EQ(names.size(), 20u);
  std::vector<BridgeRequest> requests;
  for (int i = 0; i < 2000; ++i) {
    requests.push_back(BridgeRequest{"Get-MobileDeviceStatistics", {}}.with(
        "Mailbox", names[static_cast<std::size_t>(i) % names.size()]));
  }
  std::vector<std::size_t> objects(requests.size(), 0);
  auto outcomes = bridge->runEach(
      requests, [&](std::size_t i, std::vector<PsValue>&& batch) { objects[i] += batch.size(); });
  ASSERT_EQ(outcomes.size(), requests.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    ASSERT_TRUE(outcomes[i].ok()) << i << ": " << outcomes[i].error().message;
    EXPECT_EQ(outcomes[i]->count, objects[i]) << i;
    EXPECT_EQ(objects[i], objects[i % names.size()]) << i;  // the same mailbox, the same answer
  }
  EXPECT_TRUE(bridge->healthy());
}

TEST(BridgeProcess, ACrashAmongRequestsSentTogetherFailsThatOneAndTheRestRetryably) {
  BridgeProcessOptions quiet;
  quiet.on_stderr = [](std::string_view) {};
  auto bridge = startOk(sim({"--crash-after", "3"}), quiet);
  ASSERT_TRUE(bridge);
  const std::vector<BridgeRequest> requests(
      5, BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
  auto outcomes = bridge->runEach(requests, [](std::size_t, std::vector<PsValue>&&) {});
  ASSERT_EQ(outcomes.size(), 5u);
  EXPECT_TRUE(outcomes[0].ok());
  EXPECT_TRUE(outcomes[1].ok());
  for (std::size_t i = 2; i < 5; ++i) {
    ASSERT_FALSE(outcomes[i].ok()) << i;
    EXPECT_EQ(outcomes[i].error().code, BridgeErrc::kBridgeFailed) << i;
    EXPECT_TRUE(outcomes[i].error().retryable()) << i;
  }
  EXPECT_NE(outcomes[2].error().message.find("was in flight"), std::string::npos)
      << outcomes[2].error().message;
  EXPECT_NE(outcomes[3].error().message.find("not answered"), std::string::npos)
      << outcomes[3].error().message;
  EXPECT_FALSE(bridge->healthy());
}

TEST(BridgeProcess, AHungBridgeTimesOutAndIsStopped) {
  BridgeProcessOptions options;
  options.request_timeout = 300ms;
  auto bridge = startOk(sim({"--hang-after", "1"}), options);
  ASSERT_TRUE(bridge);
  auto hung = bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.error().code, BridgeErrc::kTimeout);
  EXPECT_TRUE(hung.error().retryable());
  EXPECT_FALSE(bridge->healthy());
  auto after = bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, BridgeErrc::kBridgeFailed);
}

// The simulator answers requests sent together in a few large writes; what it has answered
// still reaches the host before it stops answering.
TEST(BridgeProcess, AnswersToRequestsSentTogetherArriveBeforeTheBridgeHangs) {
  BridgeProcessOptions options;
  options.request_timeout = 2s;
  auto bridge = startOk(sim({"--hang-after", "3"}), options);
  ASSERT_TRUE(bridge);
  const BridgeRequest settings{"Get-ActiveSyncOrganizationSettings", {}};
  auto outcomes = bridge->runEach({settings, settings, settings}, {});
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[0].ok() && outcomes[1].ok()) << "answered before the bridge hung";
  ASSERT_FALSE(outcomes[2].ok());
  EXPECT_EQ(outcomes[2].error().code, BridgeErrc::kTimeout);
}

TEST(BridgeProcess, LatencyPerCmdletSlowsOnlyThatCmdlet) {
  // Get-MobileDevice takes 2 s here, longer than the request timeout; other cmdlets do not.
  BridgeProcessOptions options;
  options.request_timeout = 1s;
  auto bridge = startOk(sim({"--latency", "Get-MobileDevice=2000"}), options);
  ASSERT_TRUE(bridge);
  EXPECT_TRUE(bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok());
  auto slow = bridge->run(BridgeRequest{"Get-MobileDevice", {}});
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, BridgeErrc::kTimeout);
}

#ifndef _WIN32
// A bridge killed from outside (the OOM killer, an operator's kill -9) is said to be, not to
// have "exited with code 9".
TEST(BridgeProcess, ABridgeKilledBySignalIsSaidToBe) {
  auto bridge = startOk(sim());
  ASSERT_TRUE(bridge);
  ASSERT_EQ(::kill(bridge->pid(), SIGKILL), 0);
  // Dead (not yet reaped, so its status stays for the bridge to read): its end of the request
  // pipe is closed, and sending the request meets a broken pipe, which must not end the agent.
  siginfo_t ended{};
  for (int i = 0; i < 1000 && ended.si_pid != bridge->pid(); ++i) {
    ASSERT_EQ(
        ::waitid(P_PID, static_cast<id_t>(bridge->pid()), &ended, WEXITED | WNOWAIT | WNOHANG), 0);
    if (ended.si_pid != bridge->pid()) std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(ended.si_pid, bridge->pid());
  auto r = bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, BridgeErrc::kBridgeFailed);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_NE(r.error().message.find("was ended by signal 9 (SIGKILL)"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("exited with code"), std::string::npos) << r.error().message;
}
#endif

TEST(BridgeProcess, ReportsAFailedConnectionAndAMissingProgram) {
  auto failed = BridgeProcess::start(sim({"--fail-connect"}), {});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, BridgeErrc::kBridgeFailed);
  EXPECT_NE(failed.error().message.find("could not connect"), std::string::npos)
      << failed.error().message;
  auto missing = BridgeProcess::start(BridgeCommand{"/nonexistent/pwsh", {}, {}}, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/pwsh"), std::string::npos);
  BridgeProcessOptions slow;
  slow.connect_timeout = 200ms;
  auto late = BridgeProcess::start(sim({"--connect-ms", "5000"}), slow);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message.find("did not connect"), std::string::npos);
}

TEST(BridgeProcess, StreamsLargeResultsInBatches) {
  auto bridge = startOk(BridgeCommand{
      EASGATE_SIM_BINARY, {"--mailboxes", "500", "--devices", "3000", "--batch-size", "100"}, {}});
  ASSERT_TRUE(bridge);
  std::size_t batches = 0, objects = 0;
  auto r = bridge->run(BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", "Unlimited"),
                       [&](std::vector<PsValue>&& batch) {
                         ++batches;
                         objects += batch.size();
                         EXPECT_LE(batch.size(), 100u);
                       });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(objects, 3000u);
  EXPECT_EQ(r->count, 3000u);
  EXPECT_EQ(batches, 30u);
  EXPECT_TRUE(r->objects.empty()) << "the sink took them";
  EXPECT_TRUE(r->warnings.empty());

  auto capped = bridge->run(BridgeRequest{"Get-MobileDevice", {}});
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->objects.size(), 1000u) << "Exchange's default -ResultSize";
  ASSERT_EQ(capped->warnings.size(), 1u);
  EXPECT_NE(capped->warnings[0].find("-ResultSize Unlimited"), std::string::npos);
}

TEST(BridgeProcess, ACallerSlowerThanTheBridgeHoldsOnlyAFewBatches) {
  // A harvest writes what it reads, more slowly than the bridge answers. The host reads ahead
  // of it only so far; the rest waits in the pipe and in the bridge, and nothing is lost.
  BridgeProcessOptions options;
  options.read_ahead_bytes = 64 << 10;
  auto started = BridgeProcess::start(
      BridgeCommand{EASGATE_SIM_BINARY,
                    {"--mailboxes", "500", "--devices", "3000", "--batch-size", "20"},
                    {}},
      options);
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto& bridge = started.value();
  std::size_t objects = 0;
  auto r = bridge->run(BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", "Unlimited"),
                       [&](std::vector<PsValue>&& batch) {
                         objects += batch.size();
                         std::this_thread::sleep_for(std::chrono::microseconds(300));
                       });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(objects, 3000u) << "every partnership, in the end";
  // 3,000 partnerships are a few megabytes of CLIXML; one batch of 20 is far below 64 KiB.
  EXPECT_GT(bridge->peakReadAheadBytes(), 0u);
  EXPECT_LT(bridge->peakReadAheadBytes(), 2 * options.read_ahead_bytes);
  // And the bridge, blocked on its pipe meanwhile, is still well.
  auto again = bridge->run(BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", "Unlimited"));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->objects.size(), 3000u);
}

TEST(BridgeProcess, HeartbeatsWhileIdleDoNotDisturbRequests) {
  auto bridge = startOk(sim({"--heartbeat-seconds", "0.01"}));
  ASSERT_TRUE(bridge);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok());
  }
  // Idle now: heartbeats arrive (every 10 ms; the deadline is only a guard).
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (bridge->heartbeats() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GE(bridge->heartbeats(), 3u);
  EXPECT_TRUE(bridge->run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok());
}

TEST(BridgeProcess, ExitsCleanlyOnEofEvenWithOtherBridgesRunning) {
  // Each bridge's stdin must belong to it alone: if a sibling inherited the write end, closing
  // ours would not reach the bridge, and it would have to be killed.
  std::vector<std::unique_ptr<BridgeProcess>> bridges(4);
  std::vector<std::thread> starters;
  for (auto& b : bridges) starters.emplace_back([&b] { b = startOk(sim()); });
  for (auto& t : starters) t.join();
  for (auto& b : bridges) ASSERT_TRUE(b);
  for (std::size_t i = 0; i < bridges.size(); ++i) {
    EXPECT_EQ(bridges[i]->close(std::chrono::seconds(20)), std::optional<int>(0)) << "bridge " << i;
  }
}

TEST(BridgePool, RunsConcurrentRequestsOnAtMostItsSizeOfBridges) {
  BridgePool pool(simBridges({"--latency-ms", "5"}), 2);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (pool.run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok()) ++ok;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(ok.load(), 40);
  auto stats = pool.stats();
  EXPECT_EQ(stats.started, 2u) << "two warm bridges served all forty requests";
  EXPECT_EQ(stats.requests, 40u);
  EXPECT_EQ(stats.busy, 0u);
  EXPECT_EQ(stats.replaced, 0u);
}

TEST(BridgePool, ReplacesACrashedBridgeAndGoesOn) {
  BridgePool pool(simBridges({"--crash-after", "3"}), 1);
  int ok = 0, retryable_failures = 0;
  for (int i = 0; i < 9; ++i) {
    auto r = pool.run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
    if (r.ok())
      ++ok;
    else if (r.error().retryable())
      ++retryable_failures;
  }
  EXPECT_EQ(ok, 6) << "each bridge answers twice, then crashes on its third request";
  EXPECT_EQ(retryable_failures, 3);
  auto stats = pool.stats();
  EXPECT_EQ(stats.started, 3u);
  EXPECT_EQ(stats.replaced, 3u) << "each crashed bridge is dropped when its request ends";
  EXPECT_EQ(stats.running, 0u);
}

TEST(BridgePool, RunsRequestsSentTogetherOnOneBridgeAndReplacesOneThatCrashed) {
  BridgePool pool(simBridges({"--crash-after", "4"}), 2);
  const std::vector<BridgeRequest> requests(
      3, BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
  auto noop = [](std::size_t, std::vector<PsValue>&&) {};
  auto first = pool.runEach(requests, noop);
  ASSERT_EQ(first.size(), 3u);
  for (const auto& o : first) EXPECT_TRUE(o.ok());
  EXPECT_EQ(pool.stats().requests, 3u);
  EXPECT_EQ(pool.stats().started, 1u);         // one bridge took all three
  auto second = pool.runEach(requests, noop);  // its 4th request crashes it
  EXPECT_FALSE(second[0].ok());
  EXPECT_EQ(second[0].error().code, BridgeErrc::kBridgeFailed);
  auto third = pool.runEach(requests, noop);  // on a bridge started in its place
  for (const auto& o : third) EXPECT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(pool.stats().replaced, 1u);
}

TEST(BridgePool, ABridgeServesTheNextCallerWhileTheLastOneReadsItsAnswers) {
  // A harvest reads a lot of statistics after its bridge has answered: the bridge goes back to
  // the pool first, so the next lot is asked for while this one is read.
  BridgePool pool(simBridges(), 1);
  std::mutex m;
  std::condition_variable changed;
  bool reading = false, other_answered = false;
  std::size_t read_objects = 0;
  std::thread first([&] {
    auto outcomes = pool.runEach({BridgeRequest{"Get-MobileDevice", {}}},
                                 IndexedBatchSink::ofObjects([&](std::size_t, const PropertyView&) {
                                   std::unique_lock lock(m);
                                   ++read_objects;
                                   reading = true;
                                   changed.notify_all();
                                   // Held at the first object until the other caller has been
                                   // answered by the pool's only bridge (or, when it cannot be, for
                                   // 20 s).
                                   if (read_objects == 1)
                                     changed.wait_for(lock, 20s, [&] { return other_answered; });
                                 }));
    EXPECT_TRUE(outcomes.at(0).ok());
  });
  bool first_reads = false;
  {
    std::unique_lock lock(m);
    first_reads = changed.wait_for(lock, 20s, [&] { return reading; });
  }
  if (!first_reads) {  // the first caller is let go and joined before the test fails
    {
      std::lock_guard lock(m);
      other_answered = true;
    }
    changed.notify_all();
    first.join();
    FAIL() << "the first caller was given no object within 20 s";
  }
  auto other = pool.run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}});
  bool answered_while_reading = false;
  {
    std::lock_guard lock(m);
    answered_while_reading = read_objects == 1;  // the first caller is still at its first object
    other_answered = true;
  }
  changed.notify_all();
  first.join();
  EXPECT_TRUE(other.ok());
  EXPECT_TRUE(answered_while_reading)
      << "the other caller waited until the first had read all of its answers";
  EXPECT_GT(read_objects, 1u);
  EXPECT_EQ(pool.stats().started, 1u);
}

// A harvest's threads run below normal priority and commands use the same bridges: a bridge
// (its process and the threads that read it) starts at the pool's priority whoever needs it.
TEST(BridgePool, StartsBridgesAtItsOwnPriorityWhicheverThreadNeedsThem) {
  if (threads::thisThreadPriority() != threads::Priority::kNormal) {
    GTEST_SKIP() << "SKIPPED: the tests themselves run below normal priority (under `nice`?)";
  }
  std::mutex mutex;
  std::vector<threads::Priority> starts;  // the priority each bridge was started at
  std::vector<int> nices;                 // Linux: each bridge process's nice value
  BridgePool pool(
      [&]() -> Result<std::unique_ptr<Bridge>, BridgeError> {
        const auto priority = threads::thisThreadPriority();
        auto started = BridgeProcess::start(sim(), {});
        if (!started) return started.error();
        std::lock_guard lock(mutex);
        starts.push_back(priority);
#if defined(__linux__)
        errno = 0;
        nices.push_back(::getpriority(PRIO_PROCESS, static_cast<id_t>(started.value()->pid())));
#endif
        return std::unique_ptr<Bridge>(std::move(started).value());
      },
      2);
  // Two harvest workers, each needing a bridge of its own at once.
  std::atomic<int> ok{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 2; ++i) {
    workers.emplace_back([&] {
      ASSERT_TRUE(threads::setThisThreadPriority(threads::Priority::kBelowNormal));
      std::this_thread::sleep_for(20ms);  // both waiting for a bridge at the same time, mostly
      for (int r = 0; r < 3; ++r) {
        if (pool.run(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}).ok()) ++ok;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(pool.stats().started, 2u);
  std::lock_guard lock(mutex);
  EXPECT_EQ(starts, std::vector<threads::Priority>(2, threads::Priority::kNormal));
#if defined(__linux__)
  EXPECT_EQ(nices, std::vector<int>(2, 0)) << "the processes too";
#endif
}

TEST(BridgePool, WarmStartsEveryBridgeOrSaysWhyNot) {
  BridgePool good(simBridges(), 3);
  ASSERT_TRUE(good.warm().ok());
  EXPECT_EQ(good.stats().running, 3u);
  BridgePool bad(
      [] {
        return Result<std::unique_ptr<Bridge>, BridgeError>(
            BridgeError{BridgeErrc::kBridgeFailed, "no Exchange", "", 0});
      },
      2);
  auto warmed = bad.warm();
  ASSERT_FALSE(warmed.ok());
  EXPECT_EQ(warmed.error().message, "no Exchange");
}

namespace shared {

// A shared state file of the test's own, removed before and after it. Declared before the
// bridges, it outlives them: Windows removes no file a process holds open.
struct SharedFile {
  SharedFile() { remove(); }
  ~SharedFile() { remove(); }
  void remove() const {
    std::filesystem::remove(path);
    std::filesystem::remove(path.string() + ".lock");
  }
  std::vector<std::string> arguments() const { return {"--shared-state", path.string()}; }
  const std::filesystem::path path = testing::scratchPath("shared-org", ".log");
};

// Exchange is one organisation whichever session a request goes to.
TEST(SharedSimulator, ABridgePoolSeesOneOrganisation) {
  const SharedFile file;
  const std::vector<std::string> shared = file.arguments();
  auto a = startOk(sim(shared));
  auto b = startOk(sim(shared));
  ASSERT_TRUE(a && b);
  auto found = a->run(BridgeRequest{"Get-CASMailbox", {}}.with("ResultSize", 1));
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->objects.size(), 1u);
  const PsValue* address = found->objects[0].asObject()->property("PrimarySmtpAddress");
  ASSERT_TRUE(address && address->display());
  const std::string mailbox = *address->display();

  ASSERT_TRUE(a->run(BridgeRequest{"Set-CASMailbox", {}}
                         .with("Identity", mailbox)
                         .with("ActiveSyncBlockedDeviceIDs", ListEdit{{"SHARED1"}, {}}))
                  .ok());
  auto seen = b->run(BridgeRequest{"Get-CASMailbox", {}}.with("Identity", mailbox));
  ASSERT_TRUE(seen.ok());
  const PsValue* blocked = seen->objects[0].asObject()->property("ActiveSyncBlockedDeviceIDs");
  ASSERT_TRUE(blocked && blocked->asObject());
  ASSERT_EQ(blocked->asObject()->items.size(), 1u) << "the other bridge sees the change";
  EXPECT_EQ(*blocked->asObject()->items[0].display(), "SHARED1");

  // And the other way, an edit on top of the first: the changes apply in the order made.
  ASSERT_TRUE(b->run(BridgeRequest{"Set-CASMailbox", {}}
                         .with("Identity", mailbox)
                         .with("ActiveSyncBlockedDeviceIDs", ListEdit{{"SHARED2"}, {}}))
                  .ok());
  auto blockedAsSeenBy = [&](BridgeProcess& bridge) {
    std::vector<std::string> ids;
    auto got = bridge.run(BridgeRequest{"Get-CASMailbox", {}}.with("Identity", mailbox));
    EXPECT_TRUE(got.ok() && got->objects.size() == 1u);
    if (!got.ok() || got->objects.empty()) return ids;
    for (const auto& id :
         got->objects[0].asObject()->property("ActiveSyncBlockedDeviceIDs")->asObject()->items) {
      ids.push_back(id.display().value_or(""));
    }
    return ids;
  };
  const std::vector<std::string> both = {"SHARED1", "SHARED2"};
  EXPECT_EQ(blockedAsSeenBy(*a), both);

  // A third process joining later finds the organisation as it is now, not a fresh one.
  auto c = startOk(sim(shared));
  ASSERT_TRUE(c);
  EXPECT_EQ(blockedAsSeenBy(*c), both);
}

// A read in one Exchange session does not wait for another session's change to finish; it waits
// only when there is an answered change it has not seen yet. The test holds the log's lock as a
// simulator writing a change would.
TEST(SharedSimulator, AReadWaitsForTheLogOnlyWhenItHasAChangeToReplay) {
  const SharedFile file;
  BridgeProcessOptions options;
  options.request_timeout = 10s;  // a read stuck on the lock fails instead of hanging the suite
  auto a = startOk(sim(file.arguments()), options);
  ASSERT_TRUE(a);
  auto found = a->run(BridgeRequest{"Get-CASMailbox", {}}.with("ResultSize", 1));
  ASSERT_TRUE(found.ok() && found->objects.size() == 1u);
  const std::string mailbox =
      found->objects[0].asObject()->property("PrimarySmtpAddress")->display().value_or("");
  auto other_session = sim::SharedState::open(file.path);
  ASSERT_TRUE(other_session.ok()) << other_session.error();
  auto& log = *other_session.value();
  std::optional<sim::SharedState::Lock> held;
  held.emplace(log);
  ASSERT_TRUE(log.read(*held).ok());  // the origin line: the log's news, read

  const BridgeRequest read = BridgeRequest{"Get-CASMailbox", {}}.with("Identity", mailbox);
  auto unhindered = a->run(read);
  EXPECT_TRUE(unhindered.ok()) << "a read with nothing to replay waited for another's lock: "
                               << (unhindered.ok() ? "" : unhindered.error().message);

  // Another session's change, logged: the next read must replay it, so it waits for the lock.
  const BridgeRequest change = BridgeRequest{"Set-CASMailbox", {}}
                                   .with("Identity", mailbox)
                                   .with("ActiveSyncBlockedDeviceIDs", ListEdit{{"LOGGED1"}, {}});
  std::string line = encodeRequestLine(1, change);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  ASSERT_TRUE(log.append(*held, "638000000000000000 " + line).ok());  // "<ticks> <request>"
  auto reading = std::async(std::launch::async, [&] { return a->run(read); });
  EXPECT_EQ(reading.wait_for(300ms), std::future_status::timeout)
      << "a read answered without the change logged before it";
  held.reset();
  auto seen = reading.get();
  ASSERT_TRUE(seen.ok()) << seen.error().message;
  const auto& blocked =
      seen->objects[0].asObject()->property("ActiveSyncBlockedDeviceIDs")->asObject()->items;
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].display().value_or(""), "LOGGED1");
}

// The organisation a later bridge joins is the first one's to the tick: the same devices with
// the same times, not one generated again at its own moment.
TEST(SharedSimulator, ABridgeStartedLaterHasTheFirstOnesTimes) {
  const SharedFile file;
  const std::vector<std::string> shared = file.arguments();
  auto firstSync = [](BridgeProcess& bridge) {
    auto devices = bridge.run(BridgeRequest{"Get-MobileDevice", {}}.with("ResultSize", 1));
    EXPECT_TRUE(devices.ok() && devices->objects.size() == 1u);
    if (!devices.ok() || devices->objects.empty()) return std::string();
    const PsValue* at = devices->objects[0].asObject()->property("FirstSyncTime");
    return at && at->display() ? *at->display() : std::string();
  };
  auto a = startOk(sim(shared));
  ASSERT_TRUE(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto b = startOk(sim(shared));
  ASSERT_TRUE(b);
  const std::string seen_by_a = firstSync(*a);
  EXPECT_FALSE(seen_by_a.empty());
  EXPECT_EQ(firstSync(*b), seen_by_a);
}

// A simulator given another organisation than the one the file holds would answer for a
// different Exchange: it refuses to start, and says why.
TEST(SharedSimulator, ASimulatorOfAnotherOrganisationDoesNotJoin) {
  const SharedFile file;
  auto a = startOk(sim(file.arguments()));
  ASSERT_TRUE(a);
  const BridgeCommand another_seed{
      EASGATE_SIM_BINARY,
      {"--mailboxes", "20", "--devices", "40", "--seed", "8", "--shared-state", file.path.string()},
      {}};
  auto other = BridgeProcess::start(another_seed, {});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("holds the organisation of --seed 7"), std::string::npos)
      << other.error().message;
}

}  // namespace shared

}  // namespace
}  // namespace easgate::powershell
