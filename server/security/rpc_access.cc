#include "server/security/rpc_access.h"

#include <utility>

namespace q8::server::security {
namespace {

// Why each RPC is where it is (server/README.md "Security" repeats this):
// admin = changes the repository or reveals its contents (the index lists
// every model on disk, Export returns the weights); inference = using or
// describing served models (GetReport returns what ModelMetadata's
// quantization_report property already carries); open = process liveness.
constexpr std::pair<const char*, RpcAccess> kTable[] = {
    {rpc::kServerLive, RpcAccess::kOpen},
    {rpc::kServerReady, RpcAccess::kOpen},
    {rpc::kModelReady, RpcAccess::kInference},
    {rpc::kServerMetadata, RpcAccess::kInference},
    {rpc::kModelMetadata, RpcAccess::kInference},
    {rpc::kModelInfer, RpcAccess::kInference},
    {rpc::kModelStatistics, RpcAccess::kInference},
    {rpc::kGetReport, RpcAccess::kInference},
    {rpc::kRepositoryIndex, RpcAccess::kAdmin},
    {rpc::kRepositoryModelLoad, RpcAccess::kAdmin},
    {rpc::kRepositoryModelUnload, RpcAccess::kAdmin},
    {rpc::kUpload, RpcAccess::kAdmin},
    {rpc::kExport, RpcAccess::kAdmin},
};

}  // namespace

std::optional<RpcAccess> AccessOf(absl::string_view full_method) {
  for (const auto& [name, access] : kTable) {
    if (full_method == name) return access;
  }
  return std::nullopt;
}

std::vector<std::string> GuardedMethods() {
  std::vector<std::string> out;
  for (const auto& entry : kTable) out.emplace_back(entry.first);
  return out;
}

const char* AccessName(RpcAccess access) {
  switch (access) {
    case RpcAccess::kOpen:
      return "open";
    case RpcAccess::kInference:
      return "inference";
    case RpcAccess::kAdmin:
      return "admin";
  }
  return "?";
}

}  // namespace q8::server::security
