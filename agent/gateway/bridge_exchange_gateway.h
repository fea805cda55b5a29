#pragma once

#include "agent/gateway/exchange_gateway.h"
#include "powershell/host/bridge.h"

namespace easgate::agent {

// The gateway over a bridge: in the agent, a BridgePool of bridge.ps1 processes (or of
// easgate-exchange-sim, the embedded default). The bridge must outlive the gateway.
class BridgeExchangeGateway final : public CmdletGateway {
 public:
  explicit BridgeExchangeGateway(powershell::Bridge& bridge) : bridge_(bridge) {}

 protected:
  GatewayResult run(const powershell::BridgeRequest& request, const ObjectSink& sink) override;
  // Together, on one bridge (Bridge::runEach).
  std::vector<GatewayResult> runEach(const std::vector<powershell::BridgeRequest>& requests,
                                     const IndexedObjectSink& sink) override;

 private:
  powershell::Bridge& bridge_;
};

}  // namespace easgate::agent
