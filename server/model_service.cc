#include "server/model_service.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/logging.h"
#include "core/quote.h"
#include "core/status_macros.h"
#include "server/grpc_status.h"
#include "server/upload_assembler.h"

namespace q8::server {
namespace {

namespace pb = q8serve::v1;

absl::Status CheckNotStopping(const ServingState& state) {
  if (state.phase() == ServingPhase::kStopping) return absl::UnavailableError("server is shutting down");
  return absl::OkStatus();
}

}  // namespace

grpc::Status ModelService::Upload(grpc::ServerContext* context,
                                  grpc::ServerReaderWriter<pb::UploadEvent, pb::UploadRequest>* stream) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kUpload); !denied.ok())
    return ToGrpcStatus(denied);
  ServingState::Call scope(state_);
  std::string name;
  absl::Status status = DoUpload(context, stream, &name);
  if (!status.ok()) Q8_LOG(Warning, "Upload '", core::Quote(name), "': ", status.ToString());
  return ToGrpcStatus(status);
}

absl::Status ModelService::DoUpload(grpc::ServerContext* context,
                                    grpc::ServerReaderWriter<pb::UploadEvent, pb::UploadRequest>* stream,
                                    std::string* model_name) {
  Q8_RETURN_IF_ERROR(state_->CheckCanChangeRepository());
  pb::UploadRequest message;
  if (!stream->Read(&message)) {
    if (context->IsCancelled()) return absl::CancelledError("upload cancelled by the client before the header");
    return absl::InvalidArgumentError("upload stream ended before the header");
  }
  if (message.kind_case() != pb::UploadRequest::kHeader) {
    return absl::InvalidArgumentError(
        "the first UploadRequest must carry the header (model name, version, config), not a file chunk");
  }
  *model_name = message.header().model_name();
  Q8_ASSIGN_OR_RETURN(UploadAssembler upload, UploadAssembler::Start(message.header(), max_upload_bytes_));
  const std::string& name = upload.name();
  const int64_t version = upload.version();
  // Held until the upload is built and published (see BeginLoad).
  Q8_ASSIGN_OR_RETURN(ModelLoader::LoadTicket ticket, loader_->BeginLoad(name));

  // Receive. The running total is checked on every chunk, so an oversized
  // upload stops as soon as it crosses the limit.
  while (stream->Read(&message)) {
    if (message.kind_case() != pb::UploadRequest::kChunk) {
      return absl::InvalidArgumentError(
          absl::StrCat("upload of model '", name, "': only the first message may be a header"));
    }
    Q8_RETURN_IF_ERROR(upload.Add(message.mutable_chunk()));
    pb::UploadEvent event;
    event.mutable_received()->set_bytes(upload.received());
    event.mutable_received()->set_total_bytes(upload.total_bytes());
    stream->Write(event);
  }
  if (context->IsCancelled()) {
    return absl::CancelledError(absl::StrCat("upload of model '", name, "' cancelled by the client; nothing loaded"));
  }
  Q8_ASSIGN_OR_RETURN(LoadRequest request, upload.Finish());

  // The engine calls back on this thread, so writing here is safe.
  auto progress = [stream](int64_t v, const engine::QuantizationProgress& p) {
    pb::UploadEvent event;
    pb::Progress* out = event.mutable_progress();
    out->set_version(v);
    out->set_stage(p.stage);
    out->set_done(p.done);
    out->set_total(p.total);
    out->set_detail(p.detail);
    stream->Write(event);
  };
  std::map<int64_t, ServedModel> published;
  Q8_RETURN_IF_ERROR(loader_->Load(ticket, request, progress, &published));

  const ServedModel& served = published.at(version);
  pb::UploadEvent event;
  pb::UploadResult* result = event.mutable_result();
  result->set_model_name(name);
  result->set_version(version);
  result->set_platform(PlatformOf(served));
  result->set_summary(ServingStatus(served));
  if (served.live != nullptr && served.live->phase() == LiveSampler::Phase::kCollecting) {
    result->set_summary(absl::StrCat(served.live->interim(), " now, ", served.live->Describe()));
  }
  if (served.quantization != nullptr) result->set_report_json(served.quantization->report_json);
  stream->Write(event);
  return absl::OkStatus();
}

absl::StatusOr<ModelHandle> ModelService::Lookup(const std::string& name, int64_t version) const {
  Q8_RETURN_IF_ERROR(CheckNotStopping(*state_));
  if (version < 0) return absl::InvalidArgumentError(absl::StrCat("version must be >= 0, got ", version));
  return registry_->Get(name, version == 0 ? std::string() : std::to_string(version));
}

grpc::Status ModelService::GetReport(grpc::ServerContext* context, const pb::GetReportRequest* request,
                                     pb::GetReportResponse* response) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kGetReport); !denied.ok())
    return ToGrpcStatus(denied);
  ServingState::Call scope(state_);
  absl::Status status = [&]() -> absl::Status {
    Q8_ASSIGN_OR_RETURN(ModelHandle handle, Lookup(request->model_name(), request->version()));
    response->set_serving_state(ServingStatus(handle.served));
    if (handle.served.quantization == nullptr && handle.served.live != nullptr) {
      // Interim fp32 under mode auto: no report yet, but a state to show.
      response->set_model_name(handle.name);
      response->set_version(handle.version);
      return absl::OkStatus();
    }
    if (handle.served.quantization == nullptr) {
      return absl::NotFoundError(absl::StrCat("model '", handle.name, "' version ", handle.version,
                                              " is served in fp32 without quantization (mode none); "
                                              "it has no quantization report"));
    }
    response->set_model_name(handle.name);
    response->set_version(handle.version);
    response->set_report_json(handle.served.quantization->report_json);
    return absl::OkStatus();
  }();
  return ToGrpcStatus(status);
}

absl::StatusOr<std::string> ModelService::ExportBytes(const ModelHandle& handle) const {
  Q8_ASSIGN_OR_RETURN(std::string onnx, repository_->ReadModel(handle.name, handle.version));
  if (handle.served.onnx_fingerprint != 0 && Fingerprint(onnx) != handle.served.onnx_fingerprint) {
    return absl::AbortedError(absl::StrCat("model '", handle.name, "' version ", handle.version,
                                           " is being replaced; retry the export after the upload completes"));
  }
  const std::string* artifact = handle.served.quantization != nullptr ? &handle.served.quantization->artifact : nullptr;
  auto exported = export_(onnx, artifact != nullptr ? absl::string_view(*artifact) : absl::string_view());
  if (!exported.ok()) {
    return absl::Status(exported.status().code(), absl::StrCat("export of model '", handle.name, "' version ",
                                                               handle.version, ": ", exported.status().message()));
  }
  return exported;
}

grpc::Status ModelService::Export(grpc::ServerContext* context, const pb::ExportRequest* request,
                                  grpc::ServerWriter<pb::ExportChunk>* writer) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kExport); !denied.ok())
    return ToGrpcStatus(denied);
  ServingState::Call scope(state_);
  absl::Status status = [&]() -> absl::Status {
    Q8_ASSIGN_OR_RETURN(ModelHandle handle, Lookup(request->model_name(), request->version()));
    Q8_ASSIGN_OR_RETURN(std::string bytes, ExportBytes(handle));
    const int64_t total = static_cast<int64_t>(bytes.size());
    for (size_t offset = 0; offset < bytes.size(); offset += kExportChunkBytes) {
      pb::ExportChunk chunk;
      chunk.set_data(bytes.substr(offset, std::min(kExportChunkBytes, bytes.size() - offset)));
      chunk.set_total_bytes(total);
      chunk.set_version(handle.version);
      if (!writer->Write(chunk)) {
        return absl::CancelledError("export stream closed by the client");
      }
    }
    Q8_LOG(Info, "model '", handle.name, "' version ", handle.version, ": exported as QDQ ONNX (", total, " bytes)");
    return absl::OkStatus();
  }();
  if (!status.ok() && !context->IsCancelled()) {
    Q8_LOG(Warning, "Export '", core::Quote(request->model_name()), "': ", status.ToString());
  }
  return ToGrpcStatus(status);
}

}  // namespace q8::server
