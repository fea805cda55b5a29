#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "powershell/bridge/bridge_error.h"
#include "powershell/host/bridge.h"

namespace easgate::agent {

// Errors come classified as the bridge classifies them: throttled and session-limit are worth
// a retry later, not-found and invalid-argument are not.
using GatewayError = powershell::BridgeError;
using GatewayErrc = powershell::BridgeErrc;
// Output objects, a batch at a time, as Exchange returns them.
using ObjectSink = powershell::BatchSink;
// The same for several calls at once: which call (its index) the objects answer.
using IndexedObjectSink = powershell::IndexedBatchSink;

// What a call did: how many objects it returned and Exchange's warnings (a cancel with no
// wipe pending, say).
struct GatewayReply {
  std::size_t objects = 0;
  std::vector<std::string> warnings;
};
using GatewayResult = Result<GatewayReply, GatewayError>;

enum class DeviceList { kAllowed, kBlocked };  // ActiveSyncAllowedDeviceIDs / ...BlockedDeviceIDs
enum class WipeScope { kDevice, kAccountOnly };

// Everything the agent asks of Exchange about ActiveSync devices. Mailboxes are named as
// Exchange accepts them (SMTP address, alias, identity, Guid); partnerships by their Identity.
class ExchangeGateway {
 public:
  virtual ~ExchangeGateway() = default;

  // Every partnership in the organisation (Get-MobileDevice -ResultSize Unlimited), or one
  // mailbox's when `mailbox` is given (an empty name is refused, never taken as "all").
  virtual GatewayResult listDevices(const ObjectSink& sink,
                                    std::optional<std::string_view> mailbox = std::nullopt) = 0;
  // Partnerships changed after a moment (Get-MobileDevice -Filter "WhenChangedUTC -gt ..."),
  // for delta harvests. `since_unix_ms` is UTC.
  virtual GatewayResult listDevicesChangedSince(const ObjectSink& sink,
                                                std::int64_t since_unix_ms) = 0;
  // The statistics of one mailbox's partnerships (Get-MobileDeviceStatistics -Mailbox).
  virtual GatewayResult deviceStatistics(std::string_view mailbox, const ObjectSink& sink) = 0;
  // The statistics of several mailboxes, each as deviceStatistics() reads it: one result per
  // mailbox, in order (one that fails does not stop the others), objects to `sink` with their
  // mailbox's index. A bridge takes the calls together, so a harvest waits for it once per
  // batch of mailboxes rather than once per mailbox.
  virtual std::vector<GatewayResult> deviceStatisticsOfEach(
      const std::vector<std::string>& mailboxes, const IndexedObjectSink& sink) = 0;
  // Every mailbox with a partnership, with its allowed and blocked lists (Get-CASMailbox).
  virtual GatewayResult casMailboxes(const ObjectSink& sink) = 0;
  // One mailbox's CAS settings, its lists among them (Get-CASMailbox -Identity).
  virtual GatewayResult casMailbox(std::string_view mailbox, const ObjectSink& sink) = 0;

  // Edits a mailbox's allowed and blocked lists in one Set-CASMailbox call: @{Add=...;
  // Remove=...} on each list given; other entries stay as they are. Exchange refuses an ID
  // added to both (ErrorDeviceIdInBothLists).
  virtual GatewayResult editLists(std::string_view mailbox,
                                  const std::optional<powershell::ListEdit>& allowed,
                                  const std::optional<powershell::ListEdit>& blocked) = 0;
  // One list only.
  GatewayResult editList(std::string_view mailbox, DeviceList list,
                         const std::vector<std::string>& add,
                         const std::vector<std::string>& remove) {
    powershell::ListEdit edit{add, remove};
    return list == DeviceList::kAllowed ? editLists(mailbox, edit, std::nullopt)
                                        : editLists(mailbox, std::nullopt, edit);
  }
  // Clear-MobileDevice: wipe the device, or only the mailbox's data on it; cancel a pending one.
  virtual GatewayResult wipe(std::string_view partnership, WipeScope scope) = 0;
  virtual GatewayResult cancelWipe(std::string_view partnership) = 0;
  // Remove-MobileDevice.
  virtual GatewayResult removePartnership(std::string_view partnership) = 0;

  // The organisation's policy: Get-ActiveSyncOrganizationSettings (one object) and
  // Get-ActiveSyncDeviceAccessRule (every rule).
  virtual GatewayResult organisationSettings(const ObjectSink& sink) = 0;
  virtual GatewayResult deviceAccessRules(const ObjectSink& sink) = 0;
  // Set-ActiveSyncOrganizationSettings -DefaultAccessLevel (Allow, Block or Quarantine).
  virtual GatewayResult setDefaultAccessLevel(std::string_view level) = 0;
  // Set-ActiveSyncOrganizationSettings -AdminMailRecipients (replaces the list).
  virtual GatewayResult setAdminMailRecipients(const std::vector<std::string>& recipients) = 0;
  // One rule by its name ("<QueryString> (<Characteristic>)"): Get-ActiveSyncDeviceAccessRule
  // -Identity; New-, Set- (its level) and Remove-ActiveSyncDeviceAccessRule.
  virtual GatewayResult deviceAccessRule(std::string_view name, const ObjectSink& sink) = 0;
  virtual GatewayResult newDeviceAccessRule(std::string_view query_string,
                                            std::string_view characteristic,
                                            std::string_view level) = 0;
  virtual GatewayResult setDeviceAccessRuleLevel(std::string_view name, std::string_view level) = 0;
  virtual GatewayResult removeDeviceAccessRule(std::string_view name) = 0;

  GatewayResult addAllowed(std::string_view mailbox, const std::vector<std::string>& ids) {
    return editList(mailbox, DeviceList::kAllowed, ids, {});
  }
  GatewayResult removeAllowed(std::string_view mailbox, const std::vector<std::string>& ids) {
    return editList(mailbox, DeviceList::kAllowed, {}, ids);
  }
  GatewayResult addBlocked(std::string_view mailbox, const std::vector<std::string>& ids) {
    return editList(mailbox, DeviceList::kBlocked, ids, {});
  }
  GatewayResult removeBlocked(std::string_view mailbox, const std::vector<std::string>& ids) {
    return editList(mailbox, DeviceList::kBlocked, {}, ids);
  }
};

// A gateway that turns each call into one allowlisted cmdlet request and runs it somewhere:
// over a bridge (BridgeExchangeGateway) or in memory (tests' FakeExchangeGateway). All of them
// accept and refuse the same input: requests are checked against the allowlist first.
class CmdletGateway : public ExchangeGateway {
 public:
  GatewayResult listDevices(const ObjectSink& sink,
                            std::optional<std::string_view> mailbox = std::nullopt) final;
  GatewayResult listDevicesChangedSince(const ObjectSink& sink, std::int64_t since_unix_ms) final;
  GatewayResult deviceStatistics(std::string_view mailbox, const ObjectSink& sink) final;
  std::vector<GatewayResult> deviceStatisticsOfEach(const std::vector<std::string>& mailboxes,
                                                    const IndexedObjectSink& sink) final;
  GatewayResult casMailboxes(const ObjectSink& sink) final;
  GatewayResult casMailbox(std::string_view mailbox, const ObjectSink& sink) final;
  GatewayResult editLists(std::string_view mailbox,
                          const std::optional<powershell::ListEdit>& allowed,
                          const std::optional<powershell::ListEdit>& blocked) final;
  GatewayResult wipe(std::string_view partnership, WipeScope scope) final;
  GatewayResult cancelWipe(std::string_view partnership) final;
  GatewayResult removePartnership(std::string_view partnership) final;
  GatewayResult organisationSettings(const ObjectSink& sink) final;
  GatewayResult deviceAccessRules(const ObjectSink& sink) final;
  GatewayResult setDefaultAccessLevel(std::string_view level) final;
  GatewayResult setAdminMailRecipients(const std::vector<std::string>& recipients) final;
  GatewayResult deviceAccessRule(std::string_view name, const ObjectSink& sink) final;
  GatewayResult newDeviceAccessRule(std::string_view query_string, std::string_view characteristic,
                                    std::string_view level) final;
  GatewayResult setDeviceAccessRuleLevel(std::string_view name, std::string_view level) final;
  GatewayResult removeDeviceAccessRule(std::string_view name) final;

 protected:
  // Runs a request that passed the allowlist.
  virtual GatewayResult run(const powershell::BridgeRequest& request, const ObjectSink& sink) = 0;
  // Runs requests that passed the allowlist, each as run() would; one by one unless overridden.
  virtual std::vector<GatewayResult> runEach(const std::vector<powershell::BridgeRequest>& requests,
                                             const IndexedObjectSink& sink);

 private:
  GatewayResult checkAndRun(const powershell::BridgeRequest& request, const ObjectSink& sink = {});
};

}  // namespace easgate::agent
