#include "agent/gateway/bridge_exchange_gateway.h"

namespace easgate::agent {

GatewayResult BridgeExchangeGateway::run(const powershell::BridgeRequest& request,
                                         const ObjectSink& sink) {
  auto result = bridge_.run(request, sink);
  if (!result) return result.error();
  return GatewayReply{result->count, std::move(result->warnings)};
}

std::vector<GatewayResult> BridgeExchangeGateway::runEach(
    const std::vector<powershell::BridgeRequest>& requests, const IndexedObjectSink& sink) {
  std::vector<GatewayResult> results;
  results.reserve(requests.size());
  for (auto& outcome : bridge_.runEach(requests, sink)) {
    if (!outcome) {
      results.push_back(outcome.error());
    } else {
      results.push_back(GatewayReply{outcome->count, std::move(outcome->warnings)});
    }
  }
  return results;
}

}  // namespace easgate::agent
