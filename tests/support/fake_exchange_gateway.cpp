#include "tests/support/fake_exchange_gateway.h"

#include <algorithm>

#include "powershell/sim/cmdlets.h"

namespace easgate::testing {
namespace {
constexpr std::size_t kBatchSize = 100;  // batches as a bridge would send them
}

agent::GatewayResult FakeExchangeGateway::run(const powershell::BridgeRequest& request,
                                              const agent::ObjectSink& sink) {
  if (on_call_) on_call_(request);
  std::lock_guard lock(mutex_);
  requests_.push_back(request);
  for (auto failure = failures_.begin(); failure != failures_.end(); ++failure) {
    if (!failure->cmdlet.empty() && failure->cmdlet != request.cmdlet) continue;
    agent::GatewayError error = std::move(failure->error);
    failures_.erase(failure);
    return error;
  }
  for (const auto& [id, error] : refused_ids_) {
    if (request.cmdlet != "Set-CASMailbox") continue;
    for (const char* list : {"ActiveSyncAllowedDeviceIDs", "ActiveSyncBlockedDeviceIDs"}) {
      const auto* value = request.parameter(list);
      const auto* edit = value ? std::get_if<powershell::ListEdit>(value) : nullptr;
      if (edit && std::find(edit->add.begin(), edit->add.end(), id) != edit->add.end()) {
        return error;
      }
    }
  }
  std::vector<powershell::PsValue> batch;
  auto flush = [&] {
    if (!batch.empty() && sink) sink(std::move(batch));
    batch.clear();
  };
  auto outcome = powershell::sim::runCmdlet(
      organisation_, request, powershell::sim::nowDotNetTicks(), [&](powershell::PsValue v) {
        batch.push_back(std::move(v));
        if (batch.size() == kBatchSize) flush();
      });
  flush();
  if (outcome.error) return *outcome.error;
  return agent::GatewayReply{outcome.objects, std::move(outcome.warnings)};
}

}  // namespace easgate::testing
