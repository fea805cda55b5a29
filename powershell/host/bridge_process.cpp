// The bridge process host. Boost.Process types stay in this file.
#include "powershell/host/bridge_process.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/process.hpp>

#include "common/json/json_value.h"
#include "powershell/bridge/frames.h"
#include "powershell/host/batch_reading.h"
#include "powershell/host/child_process.h"

namespace easgate::powershell {
namespace bp = boost::process;

namespace {

constexpr std::size_t kStderrLinesKept = 8;

BridgeError failure(BridgeErrc code, std::string message) {
  return BridgeError{code, std::move(message), "", 0};
}

// How many bytes of batches a BridgeProcess's receiveEach may still keep unread.
struct Keeping {
  std::size_t budget;
  std::size_t bytes = 0;
};
// Where receive() keeps one request's batches unread, when it may.
struct Kept {
  Keeping* keeping = nullptr;
  std::vector<std::string>* batches = nullptr;
};

}  // namespace

struct BridgeProcess::Impl {
  using Clock = std::chrono::steady_clock;

  BridgeProcessOptions options;
  bp::pipe in, out, err;
  bp::child child;
  std::thread out_reader, err_reader;

  std::mutex mutex;  // guards everything below
  std::condition_variable frame_arrived;
  std::condition_variable frame_taken;
  std::deque<Frame> frames;
  std::size_t queued_bytes = 0;  // payload bytes in `frames`: options.read_ahead_bytes at most
  std::size_t peak_queued_bytes = 0;
  bool eof = false;
  std::optional<std::string> broken;  // the stream could not be decoded
  std::deque<std::string> last_stderr;
  std::string ready_info;
  std::size_t heartbeats = 0;
  bool stderr_closed = false;  // the bridge's stderr reached EOF: its last words are in

  std::mutex request_mutex;  // one request at a time
  std::atomic<bool> dead{false};
  std::atomic<bool> killed{false};  // it had to be terminated
  std::uint64_t next_id = 1;

  void readFrames() {
    FrameDecoder decoder;
    char buffer[64 * 1024];
    while (true) {
      int n = out.read(buffer, static_cast<int>(sizeof buffer));
      if (n <= 0) break;
      decoder.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
      while (true) {
        auto frame = decoder.next();
        std::unique_lock lock(mutex);
        if (!frame) {
          broken = frame.error().message;
          frame_arrived.notify_all();
          return;
        }
        if (!frame.value()) break;
        // Heartbeats only say the bridge is alive; queueing them would grow the queue for as
        // long as the bridge sits idle.
        if (frame.value()->kind == FrameKind::kHeartbeat) {
          ++heartbeats;
          continue;
        }
        frame_taken.wait(lock, [&] { return queued_bytes < options.read_ahead_bytes || dead; });
        queued_bytes += frame.value()->payload.size();
        peak_queued_bytes = std::max(peak_queued_bytes, queued_bytes);
        frames.push_back(std::move(*frame.value()));
        frame_arrived.notify_all();
      }
    }
    std::lock_guard lock(mutex);
    eof = true;
    frame_arrived.notify_all();
  }

  void readStderr() {
    std::string pending;
    char buffer[4096];
    auto emit = [&](std::string line) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (options.on_stderr) {
        options.on_stderr(line);
      } else {
        spdlog::warn("bridge {}: {}", child.id(), line);
      }
      std::lock_guard lock(mutex);
      last_stderr.push_back(std::move(line));
      if (last_stderr.size() > kStderrLinesKept) last_stderr.pop_front();
    };
    while (true) {
      int n = err.read(buffer, static_cast<int>(sizeof buffer));
      if (n <= 0) break;
      pending.append(buffer, static_cast<std::size_t>(n));
      for (auto eol = pending.find('\n'); eol != std::string::npos; eol = pending.find('\n')) {
        emit(pending.substr(0, eol));
        pending.erase(0, eol + 1);
      }
    }
    if (!pending.empty()) emit(pending);
    std::lock_guard lock(mutex);
    stderr_closed = true;
    frame_arrived.notify_all();
  }

  // Ends a bridge that stopped answering and says why, for error messages: it gets a moment
  // to exit by itself (its exit code is the best clue), then it is killed.
  std::string endAndDescribe() {
    std::string what = "the bridge process (pid " + std::to_string(child.id()) + ") ";
    markDead();
    std::error_code ec;
    if (!killed && child.wait_for(std::chrono::seconds(2), ec) && !ec) {
      what += describeExit(child);
    } else {
      kill();
      what += "stopped answering and was stopped";
    }
    std::unique_lock lock(mutex);
    // Its last stderr lines may still be on their way through the reader thread.
    frame_arrived.wait_for(lock, std::chrono::seconds(1), [&] { return stderr_closed; });
    if (broken) what += "; its output was not framed: " + *broken;
    if (!last_stderr.empty()) {
      what += "; it last wrote:";
      for (const auto& l : last_stderr) what += " | " + l;
    }
    return what;
  }

  // No more requests; a reader waiting for room reads on, so the bridge is never left blocked
  // on a full pipe.
  void markDead() {
    {
      std::lock_guard lock(mutex);
      dead = true;
    }
    frame_taken.notify_all();
  }

  void kill() {
    markDead();
    std::error_code ec;
    if (child.running(ec)) {
      killed = true;
      child.terminate(ec);
    }
    child.wait(ec);
  }

  // After a fatal frame the bridge exits by itself; kill it only if it does not.
  void awaitExit() {
    markDead();
    std::error_code ec;
    if (!child.wait_for(std::chrono::seconds(5), ec) || ec) kill();
  }

  // The next frame, or nullopt when the stream ended, broke, or the deadline passed.
  std::optional<Frame> nextFrame(Clock::time_point deadline, bool& timed_out) {
    std::unique_lock lock(mutex);
    timed_out =
        !frame_arrived.wait_until(lock, deadline, [&] { return !frames.empty() || eof || broken; });
    if (frames.empty()) return std::nullopt;
    Frame f = std::move(frames.front());
    frames.pop_front();
    queued_bytes -= f.payload.size();
    frame_taken.notify_all();
    return f;
  }

  Result<BridgeResult, BridgeError> exchange(const BridgeRequest& request, const BatchSink& sink) {
    std::lock_guard one_at_a_time(request_mutex);
    if (dead) return failure(BridgeErrc::kBridgeFailed, "the bridge is no longer running");
    const std::uint64_t id = next_id++;
    if (auto sent = send(encodeRequestLine(id, request), request.cmdlet); !sent) {
      return sent.error();
    }
    return receive(id, request.cmdlet, sink);
  }

  // Sends requests ahead, then reads their answers in order: the bridge reads requests one
  // after the other, so the next one waits in its input while the host reads the answer to the
  // one before. At most kSendAheadBytes of requests are sent ahead, so a write never waits on
  // a bridge that waits for its own answers to be read. Once the bridge fails, the requests it
  // did not answer fail with it. Batches are kept unread as `keeping` allows.
  std::vector<ReceivedAnswer> exchangeEach(const std::vector<BridgeRequest>& requests,
                                           const IndexedBatchSink& sink) {
    constexpr std::size_t kSendAheadBytes = 16 * 1024;
    std::lock_guard one_at_a_time(request_mutex);
    std::vector<ReceivedAnswer> answers(requests.size());
    Keeping keeping{options.keep_answers_bytes};
    std::size_t next = 0;
    while (next < requests.size()) {
      const std::uint64_t first_id = next_id;
      std::string lines;
      std::size_t end = next;
      do {
        lines += encodeRequestLine(next_id++, requests[end++]);
      } while (end < requests.size() && lines.size() < kSendAheadBytes);
      std::optional<BridgeError> not_sent;
      if (dead) {
        not_sent = failure(BridgeErrc::kBridgeFailed, "the bridge is no longer running");
      } else if (auto sent = send(lines, requests[next].cmdlet); !sent) {
        not_sent = sent.error();
      }
      for (std::size_t i = next; i < end; ++i) {
        if (not_sent) {
          answers[i].outcome = *not_sent;
        } else if (dead) {
          answers[i].outcome = failure(BridgeErrc::kBridgeFailed,
                                       requests[i].cmdlet +
                                           " was not answered: the bridge stopped with an earlier "
                                           "request");
        } else {
          answers[i].outcome = receive(first_id + (i - next), requests[i].cmdlet, sink.of(i),
                                       Kept{&keeping, &answers[i].batches});
        }
      }
      next = end;
    }
    return answers;
  }

  Result<void, BridgeError> send(const std::string& lines, const std::string& cmdlet) {
    bool sent = false;
    try {
      sent =
          in.write(lines.data(), static_cast<int>(lines.size())) == static_cast<int>(lines.size());
    } catch (const std::system_error&) {  // Boost throws for EPIPE: the bridge has died
    }
    if (!sent) {
      return failure(BridgeErrc::kBridgeFailed, "cannot send " + cmdlet + ": " + endAndDescribe());
    }
    return {};
  }

  // Request `id`'s answer: its frames up to its done frame, within the request timeout. Its
  // batches are kept in `kept` while the budget lasts; past it, what was kept of this request
  // and what comes next are read into `sink` (or the result) in order.
  BridgeOutcome receive(std::uint64_t id, const std::string& cmdlet, const BatchSink& sink,
                        Kept kept = {}) {
    const auto deadline = Clock::now() + options.request_timeout;
    BridgeResult result;
    std::optional<BridgeError> error;
    while (true) {
      bool timed_out = false;
      std::optional<Frame> frame = nextFrame(deadline, timed_out);
      if (!frame) {
        if (timed_out) {
          kill();
          return failure(BridgeErrc::kTimeout, cmdlet + " got no answer within " +
                                                   std::to_string(options.request_timeout.count()) +
                                                   " ms; the bridge was stopped");
        }
        return failure(BridgeErrc::kBridgeFailed,
                       cmdlet + " was in flight when " + endAndDescribe());
      }
      if (frame->id != id) {
        spdlog::warn("bridge {}: dropped a {} frame for request {} while waiting for {}",
                     child.id(), frameKindName(frame->kind), frame->id, id);
        continue;
      }
      switch (frame->kind) {
        case FrameKind::kBatch: {
          if (kept.keeping) {
            Keeping& k = *kept.keeping;
            if (k.bytes + frame->payload.size() <= k.budget) {
              k.bytes += frame->payload.size();
              kept.batches->push_back(std::move(frame->payload));
              break;
            }
            k.bytes = k.budget;  // nothing more is kept, of this request or any after it
            for (std::string& earlier : *kept.batches) {
              if (auto read = readBatchInto(std::move(earlier), sink, result.objects); !read) {
                kill();
                return read.error();
              }
            }
            kept.batches->clear();
          }
          if (auto read = readBatchInto(std::move(frame->payload), sink, result.objects); !read) {
            kill();
            return read.error();
          }
          break;
        }
        case FrameKind::kWarning: result.warnings.push_back(std::move(frame->payload)); break;
        case FrameKind::kError: error = decodeErrorPayload(frame->payload); break;
        case FrameKind::kDone: {
          if (error) return *error;
          if (auto done = json::parseJson(frame->payload); done) {
            if (const auto* count = done->find("count"); count && count->asInt())
              result.count = static_cast<std::size_t>(*count->asInt());
          }
          return result;
        }
        case FrameKind::kFatal: {
          awaitExit();
          BridgeError fatal = decodeErrorPayload(frame->payload);
          fatal.code = BridgeErrc::kBridgeFailed;
          return fatal;
        }
        default: break;
      }
    }
  }
};

BridgeProcess::BridgeProcess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<BridgeProcess>, BridgeError> BridgeProcess::start(
    const BridgeCommand& command, BridgeProcessOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  try {
    // One start at a time: see child_process.h.
    static std::mutex starting;
    std::lock_guard one_start(starting);
    impl->in = makeChildPipe();
    impl->out = makeChildPipe();
    impl->err = makeChildPipe();
    bp::environment environment = boost::this_process::environment();
    // set(), not operator[]: Boost 1.74's environment::find reads past shorter entries
    // (AddressSanitizer: heap-buffer-overflow); the implementation's set() compares safely.
    for (const auto& [name, value] : command.environment) environment.set(name, value);
    impl->child = startChild(command, environment, impl->in, impl->out, impl->err);
  } catch (const std::exception& e) {
    return failure(BridgeErrc::kBridgeFailed, "cannot start " + command.program + ": " + e.what());
  }
  Impl* raw = impl.get();
  impl->out_reader = std::thread([raw] { raw->readFrames(); });
  impl->err_reader = std::thread([raw] { raw->readStderr(); });
  std::unique_ptr<BridgeProcess> bridge(new BridgeProcess(std::move(impl)));

  const auto deadline = Impl::Clock::now() + raw->options.connect_timeout;
  while (true) {
    bool timed_out = false;
    std::optional<Frame> frame = raw->nextFrame(deadline, timed_out);
    if (!frame) {
      std::string why = timed_out ? "did not connect within " +
                                        std::to_string(raw->options.connect_timeout.count()) +
                                        " ms (no ready frame)"
                                  : "ended before it was ready: " + raw->endAndDescribe();
      raw->kill();
      return failure(BridgeErrc::kBridgeFailed, command.program + " " + why);
    }
    if (frame->kind == FrameKind::kReady) {
      raw->ready_info = std::move(frame->payload);
      return bridge;
    }
    if (frame->kind == FrameKind::kFatal) {
      raw->awaitExit();
      BridgeError fatal = decodeErrorPayload(frame->payload);
      fatal.code = BridgeErrc::kBridgeFailed;
      fatal.message = "the bridge could not connect: " + fatal.message;
      return fatal;
    }
  }
}

BridgeProcess::~BridgeProcess() { close(); }

std::optional<int> BridgeProcess::close(std::chrono::milliseconds grace) {
  std::lock_guard no_request_in_flight(impl_->request_mutex);
  std::optional<int> exit_code;
  if (impl_->in.is_open()) impl_->in.close();
  std::error_code ec;
  if (impl_->child.valid() && impl_->child.wait_for(grace, ec) && !ec && !impl_->killed) {
    exit_code = impl_->child.exit_code();
  }
  impl_->kill();
  if (impl_->out_reader.joinable()) impl_->out_reader.join();
  if (impl_->err_reader.joinable()) impl_->err_reader.join();
  return exit_code;
}

Result<BridgeResult, BridgeError> BridgeProcess::run(const BridgeRequest& request,
                                                     const BatchSink& sink) {
  if (auto valid = validateRequest(request); !valid) {
    return BridgeError{BridgeErrc::kInvalidArgument, valid.error().message, "", 0};
  }
  return impl_->exchange(request, sink);
}

std::vector<ReceivedAnswer> BridgeProcess::receiveEach(const std::vector<BridgeRequest>& requests,
                                                       const IndexedBatchSink& sink) {
  // Refused requests are answered here and never sent; the others go together.
  std::vector<ReceivedAnswer> answers(requests.size());
  std::vector<BridgeRequest> valid;
  std::vector<std::size_t> sent;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (auto checked = validateRequest(requests[i]); !checked) {
      answers[i].outcome =
          BridgeError{BridgeErrc::kInvalidArgument, checked.error().message, "", 0};
    } else {
      valid.push_back(requests[i]);
      sent.push_back(i);
    }
  }
  auto received = impl_->exchangeEach(valid, sink.renumbered(sent));
  for (std::size_t j = 0; j < received.size(); ++j) answers[sent[j]] = std::move(received[j]);
  return answers;
}

Result<BridgeResult, BridgeError> BridgeProcess::runUncheckedForTest(const BridgeRequest& request) {
  return impl_->exchange(request, {});
}

bool BridgeProcess::healthy() const {
  std::error_code ec;
  return !impl_->dead && impl_->child.running(ec);
}

int BridgeProcess::pid() const { return impl_->child.id(); }

const std::string& BridgeProcess::readyInfo() const { return impl_->ready_info; }

std::size_t BridgeProcess::peakReadAheadBytes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->peak_queued_bytes;
}

std::size_t BridgeProcess::heartbeats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->heartbeats;
}

}  // namespace easgate::powershell
