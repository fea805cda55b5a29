#include "powershell/bridge/frames.h"

#include <charconv>

#include "common/text/name_table.h"

namespace easgate::powershell {
namespace {

constexpr std::size_t kMaxHeader = 64;

constexpr Named<FrameKind> kKinds[] = {
    {FrameKind::kReady, "ready"},     {FrameKind::kBatch, "batch"},
    {FrameKind::kWarning, "warning"}, {FrameKind::kError, "error"},
    {FrameKind::kDone, "done"},       {FrameKind::kHeartbeat, "heartbeat"},
    {FrameKind::kFatal, "fatal"}};

template <class T>
bool parseNumber(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string_view frameKindName(FrameKind kind) { return nameOf(kKinds, kind); }

std::string frameHeader(FrameKind kind, std::uint64_t id, std::size_t payload_size) {
  std::string out(frameKindName(kind));
  out.push_back(' ');
  out.append(std::to_string(id));
  out.push_back(' ');
  out.append(std::to_string(payload_size));
  out.push_back('\n');
  return out;
}

std::string encodeFrame(const Frame& frame) {
  return frameHeader(frame.kind, frame.id, frame.payload.size()) + frame.payload;
}

Result<std::optional<Frame>, FrameError> FrameDecoder::next() {
  std::string_view pending = std::string_view(buffer_).substr(consumed_);
  std::size_t eol = pending.find('\n');
  if (eol == std::string_view::npos) {
    if (pending.size() > kMaxHeader) {
      return FrameError{FrameErrc::kMalformed, "bridge output is not framed: '" +
                                                   std::string(pending.substr(0, 40)) + "...'"};
    }
    return std::optional<Frame>();
  }
  std::string_view header = pending.substr(0, eol);
  if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
  auto bad = [&] {
    return FrameError{FrameErrc::kMalformed,
                      "bad frame header '" + std::string(header.substr(0, 60)) + "'"};
  };
  std::size_t s1 = header.find(' ');
  std::size_t s2 = s1 == std::string_view::npos ? s1 : header.find(' ', s1 + 1);
  if (s2 == std::string_view::npos) return bad();
  Frame frame;
  std::optional<FrameKind> kind = valueNamed(kKinds, header.substr(0, s1));
  const bool known = kind.has_value();
  if (kind) frame.kind = *kind;
  std::size_t length = 0;
  if (!known || !parseNumber(header.substr(s1 + 1, s2 - s1 - 1), frame.id) ||
      !parseNumber(header.substr(s2 + 1), length)) {
    return bad();
  }
  if (length > kMaxPayload) {
    return FrameError{FrameErrc::kTooLarge,
                      "frame of " + std::to_string(length) + " bytes is too large"};
  }
  if (pending.size() - eol - 1 < length) return std::optional<Frame>();
  frame.payload.assign(pending.substr(eol + 1, length));
  consumed_ += eol + 1 + length;
  // Drop what was read once it is most of the buffer, so the buffer stays small.
  if (consumed_ > (1u << 16) && consumed_ * 2 > buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return std::optional<Frame>(std::move(frame));
}

}  // namespace easgate::powershell
