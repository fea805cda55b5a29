#include "agent/gateway/bridge_exchange_gateway.h"

namespace easgate::agent {

GatewayResult BridgeExchangeGateway::run(const powershell::BridgeRequest& request,
                                         const ObjectSink& sink) {
  auto result = bridge_.run(request, sink);
  if (!result) return result.error();
  return GatewayReply{result->count, std::move(result->warnings)};
}

}  // namespace easgate::agent
