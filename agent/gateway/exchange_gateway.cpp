#include "agent/gateway/exchange_gateway.h"

#include <chrono>

#include "agent/inventory/device_record.h"

namespace easgate::agent {
namespace {

using powershell::BridgeRequest;
using powershell::ListEdit;

BridgeRequest listDevicesRequest(std::optional<std::string_view> mailbox) {
  BridgeRequest r{"Get-MobileDevice", {}};
  if (mailbox) r.with("Mailbox", std::string(*mailbox));
  return r.with("ResultSize", "Unlimited");
}

// OPATH takes the time as text; ISO 8601 without a zone, read against WhenChangedUTC's UTC.
BridgeRequest devicesChangedSinceRequest(std::int64_t since_unix_ms) {
  const auto ticks =
      agent::Timestamp(std::chrono::duration_cast<Ticks>(std::chrono::milliseconds(since_unix_ms)));
  std::string when = formatTimestamp(ticks);  // "2026-11-23T09:00:00.123Z"
  if (!when.empty() && when.back() == 'Z') when.pop_back();
  return BridgeRequest{"Get-MobileDevice", {}}
      .with("ResultSize", "Unlimited")
      .with("Filter", "WhenChangedUTC -gt '" + when + "'");
}

BridgeRequest deviceStatisticsRequest(std::string_view mailbox) {
  return BridgeRequest{"Get-MobileDeviceStatistics", {}}.with("Mailbox", std::string(mailbox));
}

BridgeRequest casMailboxesRequest() {
  return BridgeRequest{"Get-CASMailbox", {}}
      .with("ResultSize", "Unlimited")
      .with("Filter", "HasActiveSyncDevicePartnership -eq $true");
}

BridgeRequest casMailboxRequest(std::string_view mailbox) {
  return BridgeRequest{"Get-CASMailbox", {}}.with("Identity", std::string(mailbox));
}

BridgeRequest editListsRequest(std::string_view mailbox, const std::optional<ListEdit>& allowed,
                               const std::optional<ListEdit>& blocked) {
  BridgeRequest r{"Set-CASMailbox", {}};
  r.with("Identity", std::string(mailbox));
  if (allowed) r.with("ActiveSyncAllowedDeviceIDs", *allowed);
  if (blocked) r.with("ActiveSyncBlockedDeviceIDs", *blocked);
  return r;
}

BridgeRequest wipeRequest(std::string_view partnership, WipeScope scope) {
  BridgeRequest r{"Clear-MobileDevice", {}};
  r.with("Identity", std::string(partnership));
  if (scope == WipeScope::kAccountOnly) r.with("AccountOnly", true);
  return r;
}

BridgeRequest cancelWipeRequest(std::string_view partnership) {
  return BridgeRequest{"Clear-MobileDevice", {}}
      .with("Identity", std::string(partnership))
      .with("Cancel", true);
}

BridgeRequest removePartnershipRequest(std::string_view partnership) {
  return BridgeRequest{"Remove-MobileDevice", {}}.with("Identity", std::string(partnership));
}

}  // namespace

GatewayResult CmdletGateway::checkAndRun(const BridgeRequest& request, const ObjectSink& sink) {
  if (auto valid = powershell::validateRequest(request); !valid) {
    return GatewayError{GatewayErrc::kInvalidArgument, valid.error().message, "", 0};
  }
  return run(request, sink);
}

GatewayResult CmdletGateway::listDevices(const ObjectSink& sink,
                                         std::optional<std::string_view> mailbox) {
  return checkAndRun(listDevicesRequest(mailbox), sink);
}

GatewayResult CmdletGateway::listDevicesChangedSince(const ObjectSink& sink,
                                                     std::int64_t since_unix_ms) {
  return checkAndRun(devicesChangedSinceRequest(since_unix_ms), sink);
}

GatewayResult CmdletGateway::deviceStatistics(std::string_view mailbox, const ObjectSink& sink) {
  return checkAndRun(deviceStatisticsRequest(mailbox), sink);
}

std::vector<GatewayResult> CmdletGateway::deviceStatisticsOfEach(
    const std::vector<std::string>& mailboxes, const IndexedObjectSink& sink) {
  // Refused requests are answered here; the others are run together.
  std::vector<GatewayResult> results(mailboxes.size(), GatewayReply{});
  std::vector<BridgeRequest> requests;
  std::vector<std::size_t> asked;
  for (std::size_t i = 0; i < mailboxes.size(); ++i) {
    BridgeRequest request = deviceStatisticsRequest(mailboxes[i]);
    if (auto valid = powershell::validateRequest(request); !valid) {
      results[i] = GatewayError{GatewayErrc::kInvalidArgument, valid.error().message, "", 0};
      continue;
    }
    requests.push_back(std::move(request));
    asked.push_back(i);
  }
  auto answers = runEach(requests, sink.renumbered(asked));
  for (std::size_t j = 0; j < answers.size(); ++j) results[asked[j]] = std::move(answers[j]);
  return results;
}

std::vector<GatewayResult> CmdletGateway::runEach(const std::vector<BridgeRequest>& requests,
                                                  const IndexedObjectSink& sink) {
  std::vector<GatewayResult> results;
  results.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    results.push_back(run(requests[i], sink.of(i)));
  }
  return results;
}

GatewayResult CmdletGateway::casMailboxes(const ObjectSink& sink) {
  return checkAndRun(casMailboxesRequest(), sink);
}

GatewayResult CmdletGateway::casMailbox(std::string_view mailbox, const ObjectSink& sink) {
  return checkAndRun(casMailboxRequest(mailbox), sink);
}

GatewayResult CmdletGateway::editLists(std::string_view mailbox,
                                       const std::optional<ListEdit>& allowed,
                                       const std::optional<ListEdit>& blocked) {
  return checkAndRun(editListsRequest(mailbox, allowed, blocked));
}

GatewayResult CmdletGateway::wipe(std::string_view partnership, WipeScope scope) {
  return checkAndRun(wipeRequest(partnership, scope));
}

GatewayResult CmdletGateway::cancelWipe(std::string_view partnership) {
  return checkAndRun(cancelWipeRequest(partnership));
}

GatewayResult CmdletGateway::removePartnership(std::string_view partnership) {
  return checkAndRun(removePartnershipRequest(partnership));
}

GatewayResult CmdletGateway::organisationSettings(const ObjectSink& sink) {
  return checkAndRun(BridgeRequest{"Get-ActiveSyncOrganizationSettings", {}}, sink);
}

GatewayResult CmdletGateway::deviceAccessRules(const ObjectSink& sink) {
  return checkAndRun(BridgeRequest{"Get-ActiveSyncDeviceAccessRule", {}}, sink);
}

GatewayResult CmdletGateway::setDefaultAccessLevel(std::string_view level) {
  return checkAndRun(BridgeRequest{"Set-ActiveSyncOrganizationSettings", {}}.with(
      "DefaultAccessLevel", std::string(level)));
}

GatewayResult CmdletGateway::setAdminMailRecipients(const std::vector<std::string>& recipients) {
  return checkAndRun(BridgeRequest{"Set-ActiveSyncOrganizationSettings", {}}.with(
      "AdminMailRecipients", recipients));
}

GatewayResult CmdletGateway::deviceAccessRule(std::string_view name, const ObjectSink& sink) {
  return checkAndRun(
      BridgeRequest{"Get-ActiveSyncDeviceAccessRule", {}}.with("Identity", std::string(name)),
      sink);
}

GatewayResult CmdletGateway::newDeviceAccessRule(std::string_view query_string,
                                                 std::string_view characteristic,
                                                 std::string_view level) {
  return checkAndRun(BridgeRequest{"New-ActiveSyncDeviceAccessRule", {}}
                         .with("QueryString", std::string(query_string))
                         .with("Characteristic", std::string(characteristic))
                         .with("AccessLevel", std::string(level)));
}

GatewayResult CmdletGateway::setDeviceAccessRuleLevel(std::string_view name,
                                                      std::string_view level) {
  return checkAndRun(BridgeRequest{"Set-ActiveSyncDeviceAccessRule", {}}
                         .with("Identity", std::string(name))
                         .with("AccessLevel", std::string(level)));
}

GatewayResult CmdletGateway::removeDeviceAccessRule(std::string_view name) {
  return checkAndRun(
      BridgeRequest{"Remove-ActiveSyncDeviceAccessRule", {}}.with("Identity", std::string(name)));
}

}  // namespace easgate::agent
