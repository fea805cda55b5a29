#include "protocol/validation.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "common/text/ascii.h"
#include "common/text/case_fold.h"
#include "common/text/utf.h"

namespace easgate::protocol {
namespace {

constexpr std::size_t kMaxMailbox = 256;
constexpr std::size_t kMaxDeviceId = 32;
constexpr std::size_t kMaxPartnership = 1024;
constexpr std::size_t kMaxIdempotencyKey = 200;
constexpr std::string_view kDevicesContainer = "ExchangeActiveSyncDevices";

bool isControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }

bool hasControl(std::string_view s) { return std::any_of(s.begin(), s.end(), isControl); }

bool isSpace(char c) { return c == ' ' || c == '\t'; }

// Text that is not what it looks like: broken UTF-8 (a lone surrogate among it), or an
// invisible format character (a bidi override such as U+202E, a zero-width space or joiner)
// that makes one name look like another.
std::optional<std::string> deceptiveText(std::string_view s, std::string_view what) {
  if (!text::isValidUtf8(s)) return std::string(what) + " is not valid UTF-8";
  for (std::size_t pos = 0; pos < s.size();) {
    const char32_t c = text::nextCodePoint(s, pos);
    if (text::isFormatCharacter(c)) {
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
      return std::string(what) + " cannot contain the invisible formatting character " + code;
    }
  }
  return std::nullopt;
}

// Where the devices container sits in an Identity, as a whole path element in any case; npos
// if absent.
std::size_t containerAt(std::string_view identity) {
  const std::size_t n = kDevicesContainer.size();
  for (std::size_t at = 1; at + n < identity.size(); ++at) {
    const bool starts = identity[at - 1] == '/' || identity[at - 1] == '\\';
    const bool ends = identity[at + n] == '/' || identity[at + n] == '\\';
    if (starts && ends && text::equalsIgnoreAsciiCase(identity.substr(at, n), kDevicesContainer)) {
      return at;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::string> mailboxProblem(std::string_view mailbox) {
  if (mailbox.empty()) return "a mailbox is required";
  if (mailbox.size() > kMaxMailbox) return "a mailbox is at most 256 characters";
  if (hasControl(mailbox)) return "a mailbox cannot contain control characters";
  if (auto problem = deceptiveText(mailbox, "a mailbox")) return problem;
  if (isSpace(mailbox.front()) || isSpace(mailbox.back())) {
    return "a mailbox cannot begin or end with a space";
  }
  if (mailbox.find('*') != std::string_view::npos) {
    return "a mailbox cannot contain '*': wildcards could name many mailboxes";
  }
  return std::nullopt;
}

std::optional<std::string> deviceIdProblem(std::string_view device_id) {
  if (device_id.empty()) return "a device ID is required";
  if (device_id.size() > kMaxDeviceId) return "an ActiveSync device ID is at most 32 characters";
  const bool alphanumeric = std::all_of(device_id.begin(), device_id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0;
  });
  if (!alphanumeric) return "an ActiveSync device ID has only ASCII letters and digits";
  return std::nullopt;
}

std::optional<std::string> partnershipProblem(std::string_view identity) {
  if (identity.empty()) return "a partnership Identity is required";
  if (identity.size() > kMaxPartnership) return "a partnership Identity is at most 1024 characters";
  if (hasControl(identity)) return "a partnership Identity cannot contain control characters";
  if (auto problem = deceptiveText(identity, "a partnership Identity")) return problem;
  if (identity.find('*') != std::string_view::npos) {
    return "a partnership Identity cannot contain '*'";
  }
  const std::size_t at = containerAt(identity);
  if (at == std::string_view::npos) {
    return "a partnership Identity has the form <mailbox>/ExchangeActiveSyncDevices/<device>";
  }
  if (auto problem = mailboxProblem(identity.substr(0, at - 1))) {
    return "the Identity's mailbox part: " + *problem;
  }
  if (at + kDevicesContainer.size() + 1 >= identity.size()) {
    return "the Identity names no device after ExchangeActiveSyncDevices";
  }
  return std::nullopt;
}

std::optional<std::string> smtpAddressProblem(std::string_view address) {
  if (address.empty()) return "an SMTP address is required";
  if (address.size() > 320) return "an SMTP address is at most 320 characters";
  if (hasControl(address)) return "an SMTP address cannot contain control characters";
  if (auto problem = deceptiveText(address, "an SMTP address")) return problem;
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find(' ') != std::string_view::npos || address.find('*') != std::string_view::npos) {
    // Appended, not "'" + std::string(...): GCC 12 (mingw-w64, -O3) warns falsely of an
    // overlapping copy (-Wrestrict) in that form.
    std::string message = "'";
    message.append(address).append("' is no SMTP address (local@domain)");
    return message;
  }
  return std::nullopt;
}

std::optional<std::string> idempotencyKeyProblem(std::string_view key) {
  if (key.empty()) return "an Idempotency-Key cannot be empty";
  if (key.size() > kMaxIdempotencyKey) return "an Idempotency-Key is at most 200 characters";
  const bool printable = std::all_of(key.begin(), key.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7F;
  });
  if (!printable) return "an Idempotency-Key has only printable ASCII characters, no spaces";
  return std::nullopt;
}

std::string_view mailboxOfPartnership(std::string_view identity) {
  const std::size_t at = containerAt(identity);
  return at == std::string_view::npos ? std::string_view() : identity.substr(0, at - 1);
}

}  // namespace easgate::protocol
