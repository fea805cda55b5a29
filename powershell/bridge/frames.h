#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

// The bridge's output framing, spoken by bridge.ps1 and easgate-exchange-sim alike:
//   <kind> <request id> <payload length in bytes>\n<payload>
// Kinds: ready (JSON, once, after connecting), batch (a CLIXML document of output objects),
// warning (text), error (JSON, classified), done (JSON, ends a request), heartbeat (JSON,
// while idle), fatal (JSON, before the bridge exits).
namespace easgate::powershell {

enum class FrameKind { kReady, kBatch, kWarning, kError, kDone, kHeartbeat, kFatal };

std::string_view frameKindName(FrameKind kind);

struct Frame {
  FrameKind kind = FrameKind::kDone;
  std::uint64_t id = 0;
  std::string payload;
};

enum class FrameErrc { kMalformed, kTooLarge };
using FrameError = Error<FrameErrc>;

std::string encodeFrame(const Frame& frame);
// What goes before a frame's payload, for a writer that sends the payload where it lies.
std::string frameHeader(FrameKind kind, std::uint64_t id, std::size_t payload_size);

// Splits a byte stream into frames, whatever the sizes of the pieces fed to it.
class FrameDecoder {
 public:
  static constexpr std::size_t kMaxPayload = 512u << 20;  // one batch; batches are much smaller

  void feed(std::string_view bytes) { buffer_.append(bytes); }

  // The next whole frame, nullopt when more bytes are needed, or an error: after an error
  // the stream cannot be trusted and the bridge must be restarted.
  Result<std::optional<Frame>, FrameError> next();

 private:
  std::string buffer_;
  std::size_t consumed_ = 0;
};

}  // namespace easgate::powershell
