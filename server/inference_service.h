// InferenceService: the OIP GRPCInferenceService plus Triton's repository and
// statistics extensions. Thin by design: each RPC calls one internal function
// returning absl::Status, converts it once (grpc_status.h) and returns. Model
// lookup is the registry's, wire<->tensor conversion the codec's, lifecycle
// the loader's.
//
// Phases: while kStarting (startup loads running) ModelInfer and repository
// changes are UNAVAILABLE; while kDraining inference keeps working (that is
// the point of draining) but loads/unloads are UNAVAILABLE; while kStopping
// everything but health/liveness is UNAVAILABLE and WaitIdle() lets the
// server stop as soon as the calls already running have finished.
//
// Thread safety: every RPC may run concurrently (grpc++ sync server pool).
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "inference.grpc.pb.h"
#include "server/model_loader.h"
#include "server/model_registry.h"

namespace q8::server {

// kStopping: after the drain, before the grpc::Server stops; new inference
// calls are refused so that in-flight ones can be counted down to zero.
enum class ServingPhase { kStarting, kServing, kDraining, kStopping };

inline constexpr char kServerName[] = "q8serve";
inline constexpr char kPlatform[] = "q8serve_onnx";

class InferenceService final : public inference::GRPCInferenceService::Service {
 public:
  InferenceService(ModelRegistry* registry, ModelLoader* loader, int64_t max_upload_bytes)
      : registry_(registry), loader_(loader), max_upload_bytes_(max_upload_bytes) {}

  void SetPhase(ServingPhase phase) { phase_.store(phase); }
  // kStarting -> kServing unless a drain began meanwhile; true if it moved.
  bool FinishStartup() {
    ServingPhase expected = ServingPhase::kStarting;
    return phase_.compare_exchange_strong(expected, ServingPhase::kServing);
  }
  ServingPhase phase() const { return phase_.load(); }
  // Waits until no ModelInfer/RepositoryModel* call is running, or `timeout`.
  // Returns true if idle.
  bool WaitIdle(absl::Duration timeout);

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
  grpc::Status ModelInfer(grpc::ServerContext* context, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override;
  grpc::Status ModelStatistics(grpc::ServerContext*, const inference::ModelStatisticsRequest* request,
                               inference::ModelStatisticsResponse* response) override;
  grpc::Status RepositoryIndex(grpc::ServerContext*, const inference::RepositoryIndexRequest* request,
                               inference::RepositoryIndexResponse* response) override;
  grpc::Status RepositoryModelLoad(grpc::ServerContext*, const inference::RepositoryModelLoadRequest* request,
                                   inference::RepositoryModelLoadResponse* response) override;
  grpc::Status RepositoryModelUnload(grpc::ServerContext*, const inference::RepositoryModelUnloadRequest* request,
                                     inference::RepositoryModelUnloadResponse* response) override;

 private:
  absl::Status Infer(grpc::ServerContext* context, const inference::ModelInferRequest& request,
                     inference::ModelInferResponse* response);
  absl::Status Metadata(const inference::ModelMetadataRequest& request, inference::ModelMetadataResponse* response);
  absl::Status Statistics(const inference::ModelStatisticsRequest& request,
                          inference::ModelStatisticsResponse* response);
  absl::Status CheckCanChangeRepository() const;

  ModelRegistry* registry_;
  ModelLoader* loader_;
  int64_t max_upload_bytes_;
  std::atomic<ServingPhase> phase_{ServingPhase::kStarting};
  std::atomic<int> in_flight_{0};  // ModelInfer + repository calls running
};

}  // namespace q8::server
