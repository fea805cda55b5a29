// easgate-exchange-sim: a stand-in for a bridge process connected to Exchange. It speaks
// bridge.ps1's protocol exactly (JSON request lines in, frames out), holds a stateful
// organisation and can inject the faults real Exchange and real bridges show.
#include <CLI/CLI.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "common/files/atomic_file.h"
#include "common/json/json_value.h"
#include "common/json/json_writer.h"
#include "powershell/bridge/frames.h"
#include "powershell/clixml/scalars.h"
#include "powershell/clixml/writer.h"
#include "powershell/sim/cmdlets.h"
#include "powershell/sim/shared_state.h"

namespace {

using namespace easgate::powershell;
using Clock = std::chrono::steady_clock;
using easgate::Result;

struct Options {
  std::size_t mailboxes = 1000;
  std::size_t devices = 2000;
  std::uint64_t seed = 1;
  std::string org_file;
  std::string save_file;
  bool save_every_change = false;
  std::string shared_state;  // a file several simulator processes keep one organisation in
  std::string statistics_type;
  std::vector<std::string> statistics_offline;
  std::vector<std::string> deleted_after_listing;
  std::string now;  // ISO 8601; the simulated present when generating
  std::size_t batch_size = 500;
  double heartbeat_seconds = 15;
  int connect_ms = 0;
  int latency_ms = 0;
  std::vector<std::string> cmdlet_latency;  // "Get-MobileDevice=200"
  double throttle_rate = 0;
  std::int64_t throttle_retry_ms = 1000;
  double session_limit_rate = 0;
  std::uint64_t crash_after = 0;
  std::uint64_t hang_after = 0;
  bool fail_connect = false;
};

// Frames are gathered here and leave in one write whenever the simulator is about to wait (for
// the next request, a simulated latency, or forever) or 64 KiB have gathered, as a PowerShell
// host's stream does: requests sent together are answered in a few large writes instead of one
// or more per request. (stdio's own buffer does not do this: it writes anything larger than a
// pipe's 4 KiB block straight through.)
constexpr std::size_t kFramesSentAt = 64 * 1024;
std::string gathered_frames;

void sendFrames() {
  if (!gathered_frames.empty() && std::fwrite(gathered_frames.data(), 1, gathered_frames.size(),
                                              stdout) != gathered_frames.size()) {
    std::exit(0);  // the host is gone
  }
  gathered_frames.clear();
  if (std::fflush(stdout) != 0) std::exit(0);
}

void writeFrame(FrameKind kind, std::uint64_t id, std::string_view payload) {
  gathered_frames += frameHeader(kind, id, payload.size());
  gathered_frames += payload;
  if (gathered_frames.size() >= kFramesSentAt) sendFrames();
}

std::string jsonObject(std::initializer_list<std::pair<const char*, std::string>> members) {
  std::string out;
  easgate::json::JsonWriter w(out);
  w.beginObject();
  for (const auto& [k, v] : members) {
    w.key(k);
    w.string(v);
  }
  w.endObject();
  return out;
}

// Output objects in batches: each batch is one CLIXML document holding an object[] (what
// PSSerializer.Serialize writes for an array), so memory stays bounded.
class BatchWriter {
 public:
  BatchWriter(std::uint64_t id, std::size_t size) : id_(id), size_(size) {}
  void add(PsValue v) {
    items_.push_back(std::move(v));
    if (items_.size() >= size_) flush();
  }
  void flush() {
    if (items_.empty()) return;
    static const PsTypeNames kArrayTypes = std::make_shared<const std::vector<std::string>>(
        std::vector<std::string>{"System.Object[]", "System.Array", "System.Object"});
    auto array = std::make_shared<PsObject>();
    array->type_names = kArrayTypes;
    array->container = PsContainer::kList;
    array->items = std::move(items_);
    items_.clear();
    writeFrame(FrameKind::kBatch, id_, writeClixml({PsValue::object(std::move(array))}));
  }

 private:
  std::uint64_t id_;
  std::size_t size_;
  std::vector<PsValue> items_;
};

// Lines from stdin, read on their own thread so the main loop can send heartbeats.
class InputLines {
 public:
  InputLines() : reader_([this] { run(); }) { reader_.detach(); }

  // Whether a line is waiting (next() would not wait).
  bool ready() {
    std::lock_guard lock(mutex_);
    return !lines_.empty() || eof_;
  }

  // A line, or nullopt on timeout; `eof` is set once stdin has closed and all lines are taken.
  std::optional<std::string> next(double timeout_seconds, bool& eof) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::duration<double>(timeout_seconds),
                 [&] { return !lines_.empty() || eof_; });
    if (!lines_.empty()) {
      std::string line = std::move(lines_.front());
      lines_.pop_front();
      return line;
    }
    eof = eof_;
    return std::nullopt;
  }

 private:
  // Lines that arrived together are queued together, so the main loop finds them all waiting
  // and sends their answers together (see sendFrames), instead of taking them one at a time as
  // this thread gets the core.
  // At most kHeldBack lines wait here for the rest of what arrived, so the main loop is never
  // kept from the first of a long burst for long.
  static constexpr std::size_t kHeldBack = 1024;

  void run() {
    std::string line;
    std::vector<std::string> arrived;
    while (std::getline(std::cin, line)) {
      arrived.push_back(std::move(line));
      if (std::cin.rdbuf()->in_avail() > 0 && arrived.size() < kHeldBack) continue;
      std::lock_guard lock(mutex_);
      for (auto& l : arrived) lines_.push_back(std::move(l));
      arrived.clear();
      cv_.notify_one();
    }
    std::lock_guard lock(mutex_);
    for (auto& l : arrived) lines_.push_back(std::move(l));
    eof_ = true;
    cv_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool eof_ = false;
  std::thread reader_;
};

// The organisation in a JSON file, or why not.
std::variant<sim::Organisation, std::string> loadOrganisation(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read " + path;
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto loaded = sim::Organisation::fromJson(json);
  if (!loaded) return path + ": " + loaded.error().message;
  return std::move(loaded).value();
}

// What the command line injects; not part of the organisation's file.
void applyFaults(const Options& options, sim::Organisation& org) {
  org.statistics_offline = options.statistics_offline;
  org.deleted_after_listing = options.deleted_after_listing;
}

// Whole or not at all, as another program may read it at any moment. (std::rename, which this
// was, cannot replace an existing file on Windows: the save never reached the file there.)
bool saveOrganisation(const sim::Organisation& org, const std::string& path) {
  auto file = easgate::files::AtomicFile::create(path);
  if (!file) return false;
  file->stream() << org.toJson();
  return file->commit().ok();
}

// Where an organisation comes from: generated from a seed and sizes at a moment, or read from
// a file. Simulators sharing one must agree on it, and the first one's moment is everyone's:
// the shared log's first line.
struct Origin {
  std::uint64_t seed = 0;
  std::size_t mailboxes = 0;
  std::size_t devices = 0;
  std::string org_file;
  std::int64_t now = 0;

  std::string line() const {
    std::string out;
    easgate::json::JsonWriter w(out);
    w.beginObject();
    w.key("easgateExchangeSimulator");
    w.number(std::int64_t{1});
    w.key("seed");
    w.string(std::to_string(seed));
    w.key("mailboxes");
    w.number(static_cast<std::int64_t>(mailboxes));
    w.key("devices");
    w.number(static_cast<std::int64_t>(devices));
    w.key("org");
    w.string(org_file);
    w.key("now");
    w.number(now);
    w.endObject();
    return out;
  }

  static std::optional<Origin> parse(std::string_view line) {
    auto doc = easgate::json::parseJson(line);
    if (!doc || !doc->find("easgateExchangeSimulator")) return std::nullopt;
    const auto* seed = doc->find("seed");
    const auto* mailboxes = doc->find("mailboxes");
    const auto* devices = doc->find("devices");
    const auto* org = doc->find("org");
    const auto* now = doc->find("now");
    if (!seed || !seed->asString() || !mailboxes || !mailboxes->asInt() || !devices ||
        !devices->asInt() || !org || !org->asString() || !now || !now->asInt()) {
      return std::nullopt;
    }
    Origin o;
    o.seed = std::strtoull(seed->asString()->c_str(), nullptr, 10);
    o.mailboxes = static_cast<std::size_t>(*mailboxes->asInt());
    o.devices = static_cast<std::size_t>(*devices->asInt());
    o.org_file = *org->asString();
    o.now = *now->asInt();
    return o;
  }

  bool sameOrganisation(const Origin& other) const {
    return org_file == other.org_file &&
           (!org_file.empty() ||
            (seed == other.seed && mailboxes == other.mailboxes && devices == other.devices));
  }

  std::string describe() const {
    if (!org_file.empty()) return "--org " + org_file;
    return "--seed " + std::to_string(seed) + " --mailboxes " + std::to_string(mailboxes) +
           " --devices " + std::to_string(devices);
  }
};

std::variant<sim::Organisation, std::string> makeOrganisation(const Origin& origin,
                                                              const Options& options) {
  sim::Organisation org;
  if (!origin.org_file.empty()) {
    auto loaded = loadOrganisation(origin.org_file);
    if (auto* error = std::get_if<std::string>(&loaded)) return *error;
    org = std::move(std::get<sim::Organisation>(loaded));
  } else {
    org = sim::Organisation::generate({origin.seed, origin.mailboxes, origin.devices, origin.now});
  }
  if (!options.statistics_type.empty()) org.statistics_type = options.statistics_type;
  applyFaults(options, org);
  return org;
}

// One request against the organisation; the simulator's own control, Sim-Sync, lets its time
// pass. Replaying a shared log's change runs it again at the moment it first ran.
sim::CmdletOutcome runRequest(sim::Organisation& org, const BridgeRequest& request,
                              std::int64_t now, const std::function<void(PsValue)>& emit) {
  if (request.cmdlet == "Sim-Sync") {
    org.syncAll(now);
    return {};
  }
  return sim::runCmdlet(org, request, now, emit);
}

// Whether a request that succeeded changed the organisation (and goes into a shared log).
bool changes(const BridgeRequest& request, const sim::Organisation& org) {
  if (request.cmdlet == "Get-MobileDevice") return !org.deleted_after_listing.empty();
  return request.cmdlet.rfind("Get-", 0) != 0;
}

// A shared log's change line: "<.NET ticks> <the request line>".
std::string changeLine(std::int64_t now, std::string_view request_line) {
  return std::to_string(now) + " " + std::string(request_line);
}

// Replays changes other simulators made, in order, or says which one cannot be read.
Result<void, std::string> replay(sim::Organisation& org, const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    const std::size_t space = line.find(' ');
    char* end = nullptr;
    const long long at = std::strtoll(line.c_str(), &end, 10);
    if (space == std::string::npos || end != line.c_str() + space) {
      return "a change in the shared state has no time: " + line.substr(0, 200);
    }
    auto decoded = decodeRequestLine(std::string_view(line).substr(space + 1));
    if (!decoded) {
      return "a change in the shared state cannot be read (" + decoded.error().message +
             "): " + line.substr(0, 200);
    }
    runRequest(org, decoded->request, at, [](PsValue) {});
  }
  return {};
}

int serve(const Options& options, std::int64_t now) {
  // With --shared-state the organisation is the log's: the first process writes where it came
  // from, the others make the same one and replay every change made since.
  Origin origin{options.seed, options.mailboxes, options.devices, options.org_file, now};
  std::unique_ptr<sim::SharedState> shared;
  std::vector<std::string> earlier_changes;
  auto fatal = [](const std::string& message) {
    std::fprintf(stderr, "easgate-exchange-sim: %s\n", message.c_str());
    return 2;
  };
  if (!options.shared_state.empty()) {
    auto opened = sim::SharedState::open(options.shared_state);
    if (!opened) return fatal(opened.error());
    shared = std::move(opened).value();
    sim::SharedState::Lock lock(*shared);
    auto lines = shared->read(lock);
    if (!lines) return fatal(lines.error());
    if (lines->empty()) {
      if (auto written = shared->append(lock, origin.line()); !written) {
        return fatal(written.error());
      }
    } else {
      auto theirs = Origin::parse(lines->front());
      if (!theirs) return fatal(options.shared_state + " is not a simulator's shared state");
      if (!theirs->sameOrganisation(origin)) {
        return fatal(options.shared_state + " holds the organisation of " + theirs->describe() +
                     ", not of " + origin.describe());
      }
      origin.now = theirs->now;
      earlier_changes.assign(lines->begin() + 1, lines->end());
    }
  }
  auto made = makeOrganisation(origin, options);
  if (auto* error = std::get_if<std::string>(&made)) return fatal(*error);
  sim::Organisation org = std::move(std::get<sim::Organisation>(made));
  if (auto replayed = replay(org, earlier_changes); !replayed) return fatal(replayed.error());
  earlier_changes.clear();

  std::mt19937_64 rng(options.seed ^ 0x5eed);
  std::uniform_real_distribution<double> chance(0.0, 1.0);
  std::map<std::string, int> latency;
  for (const auto& spec : options.cmdlet_latency) {
    auto eq = spec.find('=');
    if (eq != std::string::npos) latency[spec.substr(0, eq)] = std::stoi(spec.substr(eq + 1));
  }

  if (options.connect_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(options.connect_ms));
  if (options.fail_connect) {
    writeFrame(FrameKind::kFatal, 0,
               encodeErrorPayload(BridgeError{
                   BridgeErrc::kBridgeFailed,
                   "Connecting to remote server ex01.contoso.com failed: "
                   "the WinRM client cannot process the request (simulated)",
                   "System.Management.Automation.Remoting.PSRemotingTransportException", 0}));
    sendFrames();
    return 3;
  }
  writeFrame(FrameKind::kReady, 0,
             jsonObject({{"protocol", "1"},
                         {"mode", "simulator"},
                         {"psVersion", "simulated"},
                         {"mailboxes", std::to_string(org.mailboxes().size())},
                         {"devices", std::to_string(org.deviceCount())}}));
  sendFrames();

  InputLines input;
  std::uint64_t handled = 0;
  while (true) {
    if (!input.ready()) sendFrames();
    bool eof = false;
    auto line = input.next(options.heartbeat_seconds, eof);
    if (!line) {
      if (eof) break;
      writeFrame(FrameKind::kHeartbeat, 0, jsonObject({{"state", "idle"}}));
      continue;
    }
    if (line->empty() || *line == "\r") continue;
    ++handled;
    if (options.crash_after && handled >= options.crash_after) {
      std::fprintf(stderr, "easgate-exchange-sim: crashing on request %llu as configured\n",
                   static_cast<unsigned long long>(handled));
      sendFrames();  // what it answered before reached the host, as a crashing bridge's does
      std::_Exit(70);
    }
    if (options.hang_after && handled >= options.hang_after) {
      std::fprintf(stderr, "easgate-exchange-sim: hanging on request %llu as configured\n",
                   static_cast<unsigned long long>(handled));
      sendFrames();
      while (true) std::this_thread::sleep_for(std::chrono::hours(1));
    }
    auto decoded = decodeRequestLine(*line);
    if (!decoded) {
      writeFrame(FrameKind::kError, 0,
                 encodeErrorPayload(
                     BridgeError{BridgeErrc::kInvalidArgument, decoded.error().message, "", 0}));
      writeFrame(FrameKind::kDone, 0, "{\"count\":0}");
      continue;
    }
    const std::uint64_t id = decoded->id;
    const BridgeRequest& request = decoded->request;
    int delay = options.latency_ms;
    if (auto it = latency.find(request.cmdlet); it != latency.end()) delay = it->second;
    if (delay > 0) {
      sendFrames();
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }

    auto finish = [&](std::size_t count) {
      writeFrame(FrameKind::kDone, id, "{\"count\":" + std::to_string(count) + "}");
    };
    if (request.cmdlet == "Sim-Save") {
      if (options.save_file.empty() || !saveOrganisation(org, options.save_file)) {
        writeFrame(FrameKind::kError, id,
                   encodeErrorPayload(BridgeError{
                       BridgeErrc::kOther, "no --save file, or it cannot be written", "", 0}));
      }
      finish(0);
      continue;
    }
    const bool control = request.cmdlet.rfind("Sim-", 0) == 0;  // not Exchange's: never refused
    if (!control && chance(rng) < options.throttle_rate) {
      std::string ms = std::to_string(options.throttle_retry_ms);
      writeFrame(
          FrameKind::kError, id,
          encodeErrorPayload(BridgeError{
              BridgeErrc::kThrottled,
              "The user load quota of 15 has been exceeded, please try again later. The request "
              "will not be approved for at least " +
                  ms + " milliseconds.",
              "Microsoft.Exchange.Configuration.Tasks.ThrottlingException",
              options.throttle_retry_ms}));
      finish(0);
      continue;
    }
    if (!control && chance(rng) < options.session_limit_rate) {
      writeFrame(FrameKind::kError, id,
                 encodeErrorPayload(BridgeError{
                     BridgeErrc::kSessionLimit,
                     "Fail to create a runspace because you have exceeded the maximum number of 18 "
                     "concurrent shells allowed for this account.",
                     "System.Management.Automation.Remoting.PSRemotingTransportException", 0}));
      finish(0);
      continue;
    }
    // A request that can change nothing runs on this process's copy with the log unlocked once
    // others' changes are replayed (if there are any), as a read in one Exchange session does
    // not wait for the others; a change holds the lock until it is logged, so the log's order is
    // the order the changes were made in.
    const bool may_change = changes(request, org);
    std::optional<sim::SharedState::Lock> lock;
    if (shared && (may_change || shared->hasNews())) {
      lock.emplace(*shared);
      auto others = shared->read(*lock);
      auto replayed = others ? replay(org, others.value())
                             : Result<void, std::string>(std::move(others).error());
      if (!replayed) {
        std::fprintf(stderr, "easgate-exchange-sim: %s\n", replayed.error().c_str());
        writeFrame(FrameKind::kError, id,
                   encodeErrorPayload(BridgeError{
                       BridgeErrc::kTransient, "the shared organisation cannot be read", "", 0}));
        finish(0);
        continue;
      }
      if (!may_change) lock.reset();
    }
    BatchWriter batches(id, options.batch_size);
    const std::int64_t at = sim::nowDotNetTicks();
    sim::CmdletOutcome outcome =
        runRequest(org, request, at, [&](PsValue v) { batches.add(std::move(v)); });
    batches.flush();
    const bool changed = !outcome.error && may_change;
    // Exchange does not forget what it accepted: with --save-every-change, every change is on
    // disk before the answer goes out, whatever happens to this process afterwards. It writes
    // the whole organisation each time, so it suits test-sized organisations.
    if (options.save_every_change && changed && !saveOrganisation(org, options.save_file)) {
      std::fprintf(stderr, "easgate-exchange-sim: cannot save the organisation to %s\n",
                   options.save_file.c_str());
    }
    if (lock && changed) {
      if (auto logged = shared->append(*lock, changeLine(at, *line)); !logged) {
        std::fprintf(stderr, "easgate-exchange-sim: %s\n", logged.error().c_str());
      }
    }
    lock.reset();
    for (const auto& w : outcome.warnings) writeFrame(FrameKind::kWarning, id, w);
    if (outcome.error) writeFrame(FrameKind::kError, id, encodeErrorPayload(*outcome.error));
    finish(outcome.objects);
  }
  sendFrames();  // the last answers, when stdin closed right behind their requests
  if (!options.save_file.empty() && !saveOrganisation(org, options.save_file)) {
    std::fprintf(stderr, "easgate-exchange-sim: cannot save the organisation to %s\n",
                 options.save_file.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Requests are read with std::cin alone and frames written with stdio alone: unsynchronised,
  // std::cin reads its input a buffer at a time rather than a character at a time (3% of the
  // simulator's CPU through a harvest's 100,000 statistics requests).
  std::ios::sync_with_stdio(false);
  Options o;
  CLI::App app{
      "easgate-exchange-sim: a simulated Exchange organisation behind the bridge protocol.\n"
      "Reads JSON request lines on stdin, writes frames on stdout (see powershell/bridge/).",
      "easgate-exchange-sim"};
  app.add_option("--mailboxes", o.mailboxes, "Mailboxes to generate")->capture_default_str();
  app.add_option("--devices", o.devices, "Partnerships to generate, spread over the mailboxes")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the generated organisation and of fault injection")
      ->capture_default_str();
  app.add_option("--now", o.now, "The present for generated dates (ISO 8601); default: the clock");
  app.add_option("--org", o.org_file, "Load the organisation from this JSON file instead");
  app.add_option("--save", o.save_file, "Save the organisation here on exit and on Sim-Save");
  app.add_flag("--save-every-change", o.save_every_change,
               "Also save after every change, before answering (rewrites the whole file)")
      ->needs("--save");
  app.add_option("--batch-size", o.batch_size, "Objects per batch frame")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--heartbeat-seconds", o.heartbeat_seconds, "Heartbeat interval when idle")
      ->capture_default_str();
  app.add_option("--connect-ms", o.connect_ms, "Delay before the ready frame (connecting)");
  app.add_option("--latency-ms", o.latency_ms, "Delay before every answer");
  app.add_option("--latency", o.cmdlet_latency, "Per-cmdlet delay, CMDLET=MS (repeatable)");
  app.add_option("--throttle-rate", o.throttle_rate,
                 "Fraction of requests answered with a throttling error")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--throttle-retry-ms", o.throttle_retry_ms,
                 "The wait a throttling error asks for");
  app.add_option("--session-limit-rate", o.session_limit_rate,
                 "Fraction answered with a session-limit error")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--crash-after", o.crash_after, "Exit abruptly on the K-th request");
  app.add_option("--hang-after", o.hang_after,
                 "Stop answering (and heartbeating) from the K-th request");
  app.add_flag("--fail-connect", o.fail_connect, "Fail to connect: a fatal frame instead of ready");
  app.add_option("--shared-state", o.shared_state,
                 "Keep the organisation in this file, shared with every simulator given the same "
                 "file (a pool's bridges then see one Exchange): the first to start writes where "
                 "its organisation came from, the others must be given the same --org, or "
                 "--seed, --mailboxes and --devices, and every change any of them makes is "
                 "appended to the file and replayed by the others");
  app.add_option("--statistics-type", o.statistics_type,
                 "The type Get-MobileDeviceStatistics' objects carry, as Exchange versions differ")
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(sim::kStatisticsTypeNames),
                                                     std::end(sim::kStatisticsTypeNames))));
  app.add_option("--statistics-offline", o.statistics_offline,
                 "A mailbox whose Get-MobileDeviceStatistics fails: its database is offline "
                 "(repeatable)");
  app.add_option("--delete-after-listing", o.deleted_after_listing,
                 "A mailbox deleted right after Get-MobileDevice lists it (repeatable)");
  CLI11_PARSE(app, argc, argv);

  std::int64_t now = sim::nowDotNetTicks();
  if (!o.now.empty()) {
    auto parsed = scalars::parseDateTime(o.now);
    if (!parsed) {
      std::fprintf(stderr, "easgate-exchange-sim: --now '%s' is not an ISO 8601 time\n",
                   o.now.c_str());
      return 2;
    }
    now = parsed->utcTicks();
  }
  return serve(o, now);
}
