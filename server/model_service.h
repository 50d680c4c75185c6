// ModelService (q8serve.v1, proto/q8serve/v1/model_service.proto): streaming
// upload with live quantization progress, the quantization report, and export
// of the served model as QDQ ONNX. Like InferenceService it is a thin edge:
// uploads end in ModelLoader::Load (the same function RepositoryModelLoad
// uses), reports come from the registry, exports from the engine.
//
// Thread safety: every RPC may run concurrently (grpc++ sync server pool).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "q8serve/v1/model_service.grpc.pb.h"
#include "server/model_loader.h"
#include "server/model_registry.h"
#include "server/model_repository.h"
#include "server/security/rpc_guard.h"
#include "server/serving_state.h"

namespace q8::server {

// Export chunk size (the proto promises at most 1 MiB).
inline constexpr size_t kExportChunkBytes = size_t{1} << 20;

// QDQ export of float ONNX bytes + artifact: engine::ExportQdqOnnx, or a fake.
using ExportFn = std::function<absl::StatusOr<std::string>(absl::string_view float_onnx, absl::string_view artifact)>;

class ModelService final : public q8serve::v1::ModelService::Service {
 public:
  ModelService(ModelRegistry* registry, ModelLoader* loader, const ModelRepository* repository, ServingState* state,
               int64_t max_upload_bytes, ExportFn export_fn, const security::RpcGuard* guard)
      : registry_(registry),
        loader_(loader),
        repository_(repository),
        state_(state),
        max_upload_bytes_(max_upload_bytes),
        export_(std::move(export_fn)),
        guard_(guard) {}

  grpc::Status Upload(grpc::ServerContext* context,
                      grpc::ServerReaderWriter<q8serve::v1::UploadEvent, q8serve::v1::UploadRequest>* stream) override;
  grpc::Status GetReport(grpc::ServerContext* context, const q8serve::v1::GetReportRequest* request,
                         q8serve::v1::GetReportResponse* response) override;
  grpc::Status Export(grpc::ServerContext* context, const q8serve::v1::ExportRequest* request,
                      grpc::ServerWriter<q8serve::v1::ExportChunk>* writer) override;

 private:
  absl::Status DoUpload(grpc::ServerContext* context,
                        grpc::ServerReaderWriter<q8serve::v1::UploadEvent, q8serve::v1::UploadRequest>* stream,
                        std::string* model_name);
  absl::StatusOr<ModelHandle> Lookup(const std::string& name, int64_t version) const;
  absl::StatusOr<std::string> ExportBytes(const ModelHandle& handle) const;

  ModelRegistry* registry_;
  ModelLoader* loader_;
  const ModelRepository* repository_;
  ServingState* state_;
  int64_t max_upload_bytes_;
  ExportFn export_;
  const security::RpcGuard* guard_;  // checked first by every RPC
};

}  // namespace q8::server
