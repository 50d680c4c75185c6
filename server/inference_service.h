// InferenceService: the OIP GRPCInferenceService plus Triton's repository and
// statistics extensions. Thin by design: each RPC calls one internal function
// returning absl::Status, converts it once (grpc_status.h) and returns. Model
// lookup is the registry's, wire<->tensor conversion the codec's, lifecycle
// the loader's.
//
// Lifecycle phases and the in-flight count live in ServingState (shared with
// ModelService); see serving_state.h.
//
// Thread safety: every RPC may run concurrently. ModelInfer is asynchronous
// (gRPC's completion-queue API, driven by server/infer_queues.h) so a request
// waiting for an execution stream holds no thread, with its messages and
// per-call state recycled (server/infer_slot.h); the other RPCs are cheap
// and stay on the sync pool.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "inference.grpc.pb.h"
#include "server/infer_call.h"
#include "server/infer_slot.h"
#include "server/model_loader.h"
#include "server/model_registry.h"
#include "server/security/rpc_guard.h"
#include "server/serving_state.h"

namespace q8::server {

inline constexpr char kServerName[] = "q8serve";

// ModelMetadata properties of a served version: version, max_batch_size,
// compile report, memory, and the quantization highlights (precision: int8,
// bf16, fp32 or mixed; layers_<precision>, served_weight_bytes_<precision>,
// quantization_mode, accuracy_*, agreement, target_met, weight_bytes_*,
// fallback_layers, quantization_report = the full report JSON).
void FillModelProperties(const ModelHandle& handle, google::protobuf::Map<std::string, std::string>* properties);

class InferenceService final
    : public inference::GRPCInferenceService::WithAsyncMethod_ModelInfer<inference::GRPCInferenceService::Service> {
 public:
  // `guard`: checked first by every RPC (server/security/rpc_guard.h).
  InferenceService(ModelRegistry* registry, ModelLoader* loader, ServingState* state, int64_t max_upload_bytes,
                   int64_t max_request_bytes, const security::RpcGuard* guard)
      : registry_(registry),
        loader_(loader),
        state_(state),
        max_upload_bytes_(max_upload_bytes),
        max_request_bytes_(max_request_bytes),
        guard_(guard) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* response) override;
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* response) override;
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override;
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* response) override;
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override;
  // ModelInfer arrived over gRPC in `slot` (server/infer_queues.h): checks
  // the caller's token and starts the call; returns at once. `finish` sends
  // the response, from whichever thread ran the model (server/infer_call.h).
  // `may_run_inline`: see ModelExecutor::Submit.
  void Serve(InferSlot* slot, InferCall::Finish finish, bool may_run_inline);
  // ModelInfer's recycled slots (server/infer_slot.h).
  InferPool* infer_pool() { return &infer_pool_; }
  // The same for in-process callers (benchmarks, the request path's
  // allocation test): blocks until done. Reusing `response` across calls
  // keeps its buffers (it is swapped with a pooled one).
  absl::Status InferBlocking(const inference::ModelInferRequest& request, inference::ModelInferResponse* response);
  grpc::Status ModelStatistics(grpc::ServerContext*, const inference::ModelStatisticsRequest* request,
                               inference::ModelStatisticsResponse* response) override;
  grpc::Status RepositoryIndex(grpc::ServerContext*, const inference::RepositoryIndexRequest* request,
                               inference::RepositoryIndexResponse* response) override;
  grpc::Status RepositoryModelLoad(grpc::ServerContext*, const inference::RepositoryModelLoadRequest* request,
                                   inference::RepositoryModelLoadResponse* response) override;
  grpc::Status RepositoryModelUnload(grpc::ServerContext*, const inference::RepositoryModelUnloadRequest* request,
                                     inference::RepositoryModelUnloadResponse* response) override;

 private:
  absl::Status Metadata(const inference::ModelMetadataRequest& request, inference::ModelMetadataResponse* response);
  absl::Status Statistics(const inference::ModelStatisticsRequest& request,
                          inference::ModelStatisticsResponse* response);

  ModelRegistry* registry_;
  ModelLoader* loader_;
  ServingState* state_;
  int64_t max_upload_bytes_;
  int64_t max_request_bytes_;  // ModelInfer; see InferCall
  const security::RpcGuard* guard_;
  // ModelInfer's requests, responses and per-call state, recycled; outlives
  // the grpc::Server (which is shut down before the services are destroyed).
  InferPool infer_pool_;
};

}  // namespace q8::server
