// Which token each RPC q8serve implements needs: the one table the handlers'
// guard (server/security/rpc_guard.h) consults, keyed by gRPC's full method
// name. A method missing from the table is refused, so a new RPC cannot be
// served unguarded by accident (tests/unit/server/security/rpc_access_test.cc
// also checks the table against the generated service descriptors).
//
// grpc.health.v1 and reflection are grpc++'s own services and always open:
// probes need health, and reflection only describes the public protos
// (--enable_reflection=false turns it off).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace q8::server::security {

enum class RpcAccess {
  kOpen,       // liveness/readiness: no token ever
  kInference,  // needs the inference token when --infer_token_file is set
  kAdmin,      // needs the admin token when --admin_token_file is set
};

// Full method names ("/package.Service/Method") of the RPCs with a handler in
// q8serve; handlers pass these to RpcGuard::Authorize.
namespace rpc {
inline constexpr char kServerLive[] = "/inference.GRPCInferenceService/ServerLive";
inline constexpr char kServerReady[] = "/inference.GRPCInferenceService/ServerReady";
inline constexpr char kModelReady[] = "/inference.GRPCInferenceService/ModelReady";
inline constexpr char kServerMetadata[] = "/inference.GRPCInferenceService/ServerMetadata";
inline constexpr char kModelMetadata[] = "/inference.GRPCInferenceService/ModelMetadata";
inline constexpr char kModelInfer[] = "/inference.GRPCInferenceService/ModelInfer";
inline constexpr char kModelStatistics[] = "/inference.GRPCInferenceService/ModelStatistics";
inline constexpr char kRepositoryIndex[] = "/inference.GRPCInferenceService/RepositoryIndex";
inline constexpr char kRepositoryModelLoad[] = "/inference.GRPCInferenceService/RepositoryModelLoad";
inline constexpr char kRepositoryModelUnload[] = "/inference.GRPCInferenceService/RepositoryModelUnload";
inline constexpr char kUpload[] = "/q8serve.v1.ModelService/Upload";
inline constexpr char kGetReport[] = "/q8serve.v1.ModelService/GetReport";
inline constexpr char kExport[] = "/q8serve.v1.ModelService/Export";
}  // namespace rpc

// nullopt: not an RPC of ours (the guard refuses it).
std::optional<RpcAccess> AccessOf(absl::string_view full_method);
// Every method in the table (tests enumerate it).
std::vector<std::string> GuardedMethods();
const char* AccessName(RpcAccess access);

}  // namespace q8::server::security
