#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "agent/gateway/exchange_gateway.h"
#include "powershell/sim/organisation.h"

namespace easgate::testing {

// An ExchangeGateway for unit tests: in memory, no process, with the simulator's Exchange
// semantics (its Organisation and cmdlets), a log of what was asked, and failures on demand.
// Input is checked as the real gateway checks it (CmdletGateway).
class FakeExchangeGateway final : public agent::CmdletGateway {
 public:
  explicit FakeExchangeGateway(powershell::sim::Organisation organisation)
      : organisation_(std::move(organisation)) {}

  // The next call fails with `error` instead of reaching the organisation. Queued: each call
  // that passes the input checks takes one.
  void failNext(agent::GatewayError error) { failures_.push_back({"", std::move(error)}); }
  // The next call of `cmdlet` fails with `error`: for calls that may run in either order (a
  // full harvest lists mailboxes and partnerships at once).
  void failNextOf(std::string cmdlet, agent::GatewayError error) {
    failures_.push_back({std::move(cmdlet), std::move(error)});
  }
  // Every Set-CASMailbox that would add `device_id` to a list fails with `error`, alone or with
  // other IDs, as Exchange refuses an ID it does not take.
  void refuseDeviceId(std::string device_id, agent::GatewayError error) {
    refused_ids_.push_back({std::move(device_id), std::move(error)});
  }
  // Every request that passed the input checks, in order (failed ones included).
  const std::vector<powershell::BridgeRequest>& requests() const { return requests_; }
  powershell::sim::Organisation& organisation() { return organisation_; }
  // Changes the organisation while calls may be running on other threads (from a hook, say).
  void withOrganisation(const std::function<void(powershell::sim::Organisation&)>& change) {
    std::lock_guard lock(mutex_);
    change(organisation_);
  }
  // Called with each request before it runs (after the input checks), on the caller's thread:
  // a test can hold a call there, or count calls.
  void onCall(std::function<void(const powershell::BridgeRequest&)> hook) {
    on_call_ = std::move(hook);
  }

 protected:
  agent::GatewayResult run(const powershell::BridgeRequest& request,
                           const agent::ObjectSink& sink) override;

 private:
  powershell::sim::Organisation organisation_;
  struct Failure {
    std::string cmdlet;  // empty: whichever call comes next
    agent::GatewayError error;
  };
  std::deque<Failure> failures_;
  std::vector<std::pair<std::string, agent::GatewayError>> refused_ids_;
  std::vector<powershell::BridgeRequest> requests_;
  std::function<void(const powershell::BridgeRequest&)> on_call_;
  std::mutex mutex_;  // calls may come from several threads
};

}  // namespace easgate::testing
