#pragma once

#include <optional>
#include <string>
#include <string_view>

// What the agent accepts from the network as Exchange names, checked before anything reaches
// the journal or PowerShell. Each check returns why a value is refused, or nothing when it is
// fine; the reason is written for the MDM's operator.
namespace easgate::protocol {

// A mailbox as Exchange's -Identity takes it: an SMTP address, alias, name, DN, GUID or
// domain\user. 1 to 256 characters, no control characters, no surrounding spaces, and no
// wildcard: `*` would let one request name many mailboxes.
std::optional<std::string> mailboxProblem(std::string_view mailbox);

// An ActiveSync DeviceId (MS-ASHTTP 2.2.1.1.1.2.3): 1 to 32 ASCII letters and digits.
std::optional<std::string> deviceIdProblem(std::string_view device_id);

// A partnership Identity: `<mailbox>/ExchangeActiveSyncDevices/<name>` (or with `\`), with a
// valid mailbox part and a non-empty device part; at most 1024 characters, no wildcard.
std::optional<std::string> partnershipProblem(std::string_view identity);

// The mailbox part of a partnership Identity: "contoso.com/Users/Tony" of
// "contoso.com/Users/Tony/ExchangeActiveSyncDevices/iPhone§ABC", "Lila" of
// "Lila\ExchangeActiveSyncDevices\REST§Outlook§5eec" (the container as a whole path element,
// in any case, either separator). Empty when `identity` names no partnership. The one reading
// of partnership Identities: the agent's harvest and commands use it too.
std::string_view mailboxOfPartnership(std::string_view identity);

// An SMTP address (AdminMailRecipients): local@domain, at most 320 characters, no spaces,
// control or invisible format characters.
std::optional<std::string> smtpAddressProblem(std::string_view address);

// An Idempotency-Key header: 1 to 200 printable ASCII characters.
std::optional<std::string> idempotencyKeyProblem(std::string_view key);

}  // namespace easgate::protocol
