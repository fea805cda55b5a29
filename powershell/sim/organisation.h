#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "powershell/exchange/access_decision.h"
#include "powershell/sim/exchange_objects.h"

namespace easgate::powershell::sim {

// The organisation's policy and its evaluation are Exchange's, in one place for the simulator
// and the agent (powershell/exchange/access_decision.h).
using exchange::AccessLevel;
using exchange::accessLevelName;
using exchange::Characteristic;
using exchange::DeviceAccessRule;

struct SimMailbox {
  MailboxFacts facts;  // including the allowed and blocked device-ID lists
  std::vector<PartnershipFacts> devices;
};

struct GenerateOptions {
  std::uint64_t seed = 1;
  std::size_t mailboxes = 1000;
  std::size_t devices = 2000;  // partnerships in all, spread over the mailboxes
  std::int64_t now_ticks = 0;  // the simulated present, as .NET ticks
};

enum class SimErrc { kNotFound, kInvalidArgument, kBadState };
using SimError = Error<SimErrc>;

// A stateful Exchange organisation: mailboxes, their ActiveSync partnerships and device lists,
// device access rules and the default access level, evaluated as Exchange does (ABQ), with
// the remote-wipe lifecycle. Times are .NET ticks passed in by the caller.
class Organisation {
 public:
  static Organisation generate(const GenerateOptions& options);
  static Result<Organisation, SimError> fromJson(std::string_view json);
  std::string toJson() const;

  exchange::AccessPolicy policy;                   // DefaultAccessLevel and the device access rules
  std::vector<std::string> admin_mail_recipients;  // AdminMailRecipients (quarantine notices)
  std::string user_mail_insert;                    // UserMailInsert
  // The type Get-MobileDeviceStatistics' objects carry (one of kStatisticsTypeNames): it differs
  // across Exchange versions.
  std::string statistics_type = kStatisticsTypeNames[0];

  // Failures a large organisation always has somewhere (fault injection, by mailbox name):
  // Get-MobileDeviceStatistics fails with a database offline for these mailboxes, and these
  // are deleted right after a Get-MobileDevice listed them (between listing and statistics).
  std::vector<std::string> statistics_offline;
  std::vector<std::string> deleted_after_listing;

  const std::vector<SimMailbox>& mailboxes() const { return mailboxes_; }
  std::size_t deviceCount() const;

  // A mailbox by any name Exchange takes as -Identity: Identity, Name, DistinguishedName,
  // SamAccountName, alias, UPN, primary or proxy SMTP address, Guid or ExchangeGuid; compared
  // as Exchange compares names (case-insensitive beyond ASCII). A name two mailboxes share
  // finds neither and sets `ambiguous`.
  SimMailbox* findMailbox(std::string_view id, bool* ambiguous = nullptr);
  // A partnership by Identity ("mbx/ExchangeActiveSyncDevices/Type§Id", / or \) or Guid.
  struct DeviceRef {
    SimMailbox* mailbox;
    PartnershipFacts* device;
  };
  std::optional<DeviceRef> findDevice(std::string_view id);
  // Every partnership, mailbox by mailbox in the organisation's order.
  std::vector<DeviceRef> allDevices();

  // Set-CASMailbox on one list: a list replaces it, nullopt clears it, or add/remove edit it.
  struct ListChange {
    std::optional<std::vector<std::string>> replace;  // set when replacing (empty = clear)
    std::vector<std::string> add;
    std::vector<std::string> remove;
  };
  Result<void, SimError> changeLists(SimMailbox& mailbox, const std::optional<ListChange>& allowed,
                                     const std::optional<ListChange>& blocked, std::int64_t now);

  // Clear-MobileDevice: issue (again) or cancel a wipe. Returns a warning, if Exchange gives one.
  std::optional<std::string> wipe(DeviceRef device, bool account_only, bool cancel,
                                  std::int64_t now);

  // Remove-MobileDevice.
  void removeDevice(DeviceRef device);
  // The mailbox is deleted, and its partnerships with it.
  void removeMailbox(const SimMailbox& mailbox);

  // Every device contacts Exchange once: ABQ is evaluated and wipes move on (sent, then
  // acknowledged). What a real organisation does between two harvests.
  void syncAll(std::int64_t now);

  // Exchange's access decision for a device on a mailbox: {state, reason}.
  std::pair<std::string, std::string> evaluate(const SimMailbox& mailbox,
                                               const PartnershipFacts& device) const;
  // A change of DefaultAccessLevel or of the rules: Exchange decides every device again
  // (what a harvest then reads as DeviceAccessState and Reason).
  void reevaluateAll(std::int64_t now);

  // Adds a mailbox or a partnership (for loading and tests); keeps the indexes current. A
  // mailbox without a Guid or ExchangeGuid gets one, as every mailbox in Exchange has them.
  SimMailbox& addMailbox(MailboxFacts facts);
  PartnershipFacts& addDevice(SimMailbox& mailbox, PartnershipFacts device);

 private:
  void reindex();
  void setAccess(PartnershipFacts& device, std::pair<std::string, std::string> access,
                 std::int64_t now);

  std::vector<SimMailbox> mailboxes_;
  // Each name a mailbox is found by, as the hash of its folded form, sorted: the names
  // themselves are the mailboxes' (a found hash is checked against them), not copied here.
  // 12 bytes: the hash in two halves keeps the entry 4-byte aligned (1.1 million of them; the
  // mailbox as 32 bits, for 4 billion mailboxes would not fit in memory anyway).
  struct IndexEntry {
    std::uint32_t hash_high;
    std::uint32_t hash_low;
    std::uint32_t mailbox;
    auto operator<=>(const IndexEntry&) const = default;
    static IndexEntry of(std::uint64_t hash, std::size_t mailbox) {
      return {static_cast<std::uint32_t>(hash >> 32), static_cast<std::uint32_t>(hash),
              static_cast<std::uint32_t>(mailbox)};
    }
    bool sameHash(const IndexEntry& other) const {
      return hash_high == other.hash_high && hash_low == other.hash_low;
    }
  };
  std::vector<IndexEntry> mailbox_index_;
};

// A Guid derived from `seed` (the same seed, the same Guid), for objects given none.
Guid stableGuid(std::string_view seed, char variant);

// .NET ticks for a Unix time in seconds, and the present.
std::int64_t dotNetTicksFromUnixSeconds(std::int64_t seconds);
std::int64_t nowDotNetTicks();

}  // namespace easgate::powershell::sim
