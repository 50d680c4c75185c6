#include "server/inference_service.h"

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/logging.h"
#include "core/quote.h"
#include "core/status_macros.h"
#include "server/execution/completion_wait.h"
#include "server/grpc_status.h"
#include "server/infer_call.h"
#include "server/infer_slot.h"
#include "server/tensor_codec.h"

#ifndef Q8SERVE_VERSION
#define Q8SERVE_VERSION "0.0.0"
#endif

namespace q8::server {
namespace {

void SetDuration(inference::StatisticDuration* d, uint64_t count, uint64_t ns) {
  d->set_count(count);
  d->set_ns(ns);
}

void FillTensorMetadata(const engine::TensorInfo& info, inference::ModelMetadataResponse::TensorMetadata* out) {
  out->set_name(info.name);
  out->set_datatype(std::string(core::OipName(info.dtype)));
  for (int64_t d : info.dims) out->add_shape(d);
}

}  // namespace

void FillModelProperties(const ModelHandle& handle, google::protobuf::Map<std::string, std::string>* properties) {
  auto& props = *properties;
  const engine::CompiledModel& model = *handle.model;
  const engine::CompileReport& report = model.report();
  props["version"] = std::to_string(handle.version);
  props["max_batch_size"] = std::to_string(model.max_batch_size());
  props["isa"] = report.isa;
  props["onnx_nodes"] = std::to_string(report.onnx_nodes);
  props["optimized_nodes"] = std::to_string(report.optimized_nodes);
  props["passes_applied"] = absl::StrJoin(report.passes_applied, ",");
  props["memory_bytes"] = std::to_string(model.memory().total());
  if (const ModelExecutor* e = handle.served.executor.get()) {
    props["execution_streams"] = std::to_string(e->layout().streams);
    props["threads_per_stream"] = std::to_string(e->layout().threads_per_stream);
    if (e->auto_layout()) {
      // Why auto chose this layout (execution_config.h, AutoLayout).
      props["execution_layout"] =
          absl::StrCat("auto: ", e->layout().streams, " x ", e->layout().threads_per_stream, " from a ",
                       static_cast<int64_t>(e->auto_run_seconds() * 1e6), " us run on 1 thread");
    }
    props["max_queue_size"] = std::to_string(e->max_queue_size());
    props["dynamic_batching"] = e->batching().enabled ? "true" : "false";
    if (e->batching().enabled) props["max_queue_delay_us"] = std::to_string(e->batching().max_queue_delay_us);
  }
  props["serving_state"] = ServingStatus(handle.served);
  if (const LiveSampler* live = handle.served.live.get()) {
    props["live_calibration_samples"] = absl::StrCat(live->collected(), "/", live->target());
  }
  const QuantizationInfo* q = handle.served.quantization.get();
  if (q == nullptr) {
    props["precision"] = "fp32";
    if (handle.served.live != nullptr) {
      props["quantization_mode"] = "auto";
      return;
    }
    props["quantization_mode"] = "none";
    return;
  }
  const engine::QuantizationReport& r = q->report;
  props["precision"] = q->precision;
  for (const auto& [precision, n] : r.precision_layers) props[absl::StrCat("layers_", precision)] = std::to_string(n);
  for (const auto& [precision, bytes] : r.precision_weight_bytes) {
    props[absl::StrCat("served_weight_bytes_", precision)] = std::to_string(bytes);
  }
  props["quantization_mode"] = handle.served.live != nullptr || q->live_samples > 0 ? "auto" : r.mode;
  props["quantization_summary"] = q->summary;
  if (!r.isa.empty()) props["isa"] = r.isa;
  if (!r.method.empty()) props["calibration_method"] = r.method;
  props["accuracy_metric"] = r.metric;
  if (r.has_labels) {
    props["accuracy_fp32"] = absl::StrCat(r.fp32_top1);
    props["accuracy_int8"] = absl::StrCat(r.int8_top1);
  }
  props["agreement"] = absl::StrCat(r.agreement);
  props["accuracy_drop"] = absl::StrCat(r.drop);
  props["max_drop"] = absl::StrCat(r.max_drop);
  props["target_met"] = r.target_met ? "true" : "false";
  props["eval_samples"] = std::to_string(r.eval_samples);
  props["calibration_samples"] = std::to_string(r.calibration_samples);
  props["weight_bytes_fp32"] = std::to_string(r.weight_bytes_fp32);
  props["weight_bytes_int8"] = std::to_string(r.weight_bytes_int8);
  props["fallback_layers"] = absl::StrJoin(r.fallback_layers, ",");
  props["bf16_layers"] = absl::StrJoin(r.bf16_layers, ",");
  props["quantization_report"] = q->report_json;
}

grpc::Status InferenceService::ServerLive(grpc::ServerContext* context, const inference::ServerLiveRequest*,
                                          inference::ServerLiveResponse* response) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kServerLive); !denied.ok())
    return ToGrpcStatus(denied);
  response->set_live(true);
  return grpc::Status::OK;
}

grpc::Status InferenceService::ServerReady(grpc::ServerContext* context, const inference::ServerReadyRequest*,
                                           inference::ServerReadyResponse* response) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kServerReady); !denied.ok())
    return ToGrpcStatus(denied);
  response->set_ready(state_->phase() == ServingPhase::kServing);
  return grpc::Status::OK;
}

grpc::Status InferenceService::ModelReady(grpc::ServerContext* context, const inference::ModelReadyRequest* request,
                                          inference::ModelReadyResponse* response) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kModelReady); !denied.ok())
    return ToGrpcStatus(denied);
  // Like Triton: an unknown model is simply not ready (no error).
  response->set_ready(registry_->Get(request->name(), request->version()).ok());
  return grpc::Status::OK;
}

grpc::Status InferenceService::ServerMetadata(grpc::ServerContext* context, const inference::ServerMetadataRequest*,
                                              inference::ServerMetadataResponse* response) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kServerMetadata); !denied.ok())
    return ToGrpcStatus(denied);
  response->set_name(kServerName);
  response->set_version(Q8SERVE_VERSION);
  response->add_extensions("model_repository");
  response->add_extensions("statistics");
  return grpc::Status::OK;
}

grpc::Status InferenceService::ModelMetadata(grpc::ServerContext* context,
                                             const inference::ModelMetadataRequest* request,
                                             inference::ModelMetadataResponse* response) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kModelMetadata); !denied.ok())
    return ToGrpcStatus(denied);
  return ToGrpcStatus(Metadata(*request, response));
}

absl::Status InferenceService::Metadata(const inference::ModelMetadataRequest& request,
                                        inference::ModelMetadataResponse* response) {
  Q8_ASSIGN_OR_RETURN(ModelHandle handle, registry_->Get(request.name(), request.version()));
  const engine::CompiledModel& model = *handle.model;
  response->set_name(handle.name);
  for (int64_t v : registry_->ReadyVersions(handle.name)) response->add_versions(std::to_string(v));
  response->set_platform(PlatformOf(handle.served));
  for (const auto& info : model.inputs()) FillTensorMetadata(info, response->add_inputs());
  for (const auto& info : model.outputs()) FillTensorMetadata(info, response->add_outputs());
  FillModelProperties(handle, response->mutable_properties());
  return absl::OkStatus();
}

void InferenceService::Serve(InferSlot* slot, InferCall::Finish finish, bool may_run_inline) {
  if (absl::Status denied = guard_->Authorize(*slot->context, security::rpc::kModelInfer); !denied.ok()) {
    finish(denied);
    return;
  }
  slot->Start(registry_, state_, max_request_bytes_, slot->context->deadline(), std::move(finish), may_run_inline);
}

absl::Status InferenceService::InferBlocking(const inference::ModelInferRequest& request,
                                             inference::ModelInferResponse* response) {
  static absl::Mutex mu(absl::kConstInit);  // outlives every waiter (see CompletionWait)
  // The RPC's own path minus the transport: a pooled slot, the request
  // copied in (as gRPC parses it), the response swapped out.
  InferSlot* slot = infer_pool_.Allocate();
  slot->request()->CopyFrom(request);
  absl::Status result;
  CompletionWait wait(&mu);
  slot->Start(registry_, state_, max_request_bytes_, std::chrono::system_clock::time_point::max(),
              [r = &result, w = &wait](const absl::Status& status) {
                *r = status;
                w->Signal();
              });
  wait.Wait();
  response->Swap(slot->response());
  slot->Release();
  return result;
}

grpc::Status InferenceService::ModelStatistics(grpc::ServerContext* context,
                                               const inference::ModelStatisticsRequest* request,
                                               inference::ModelStatisticsResponse* response) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kModelStatistics); !denied.ok())
    return ToGrpcStatus(denied);
  return ToGrpcStatus(Statistics(*request, response));
}

absl::Status InferenceService::Statistics(const inference::ModelStatisticsRequest& request,
                                          inference::ModelStatisticsResponse* response) {
  if (!request.name().empty() || !request.version().empty()) {
    // Produces the NOT_FOUND message for unknown models/versions.
    Q8_RETURN_IF_ERROR(registry_->Get(request.name(), request.version()).status());
  }
  for (const ModelHandle& h : registry_->ReadyHandles(request.name())) {
    if (!request.version().empty() && std::to_string(h.version) != request.version()) continue;
    const ModelStats::Totals s = h.stats->totals();
    auto* out = response->add_model_stats();
    out->set_name(h.name);
    out->set_version(std::to_string(h.version));
    out->set_last_inference(s.last_inference_ms);
    out->set_inference_count(s.inference_count);
    out->set_execution_count(s.execution_count);
    auto* infer = out->mutable_inference_stats();
    SetDuration(infer->mutable_success(), s.success_count, s.success_ns);
    SetDuration(infer->mutable_fail(), s.fail_count, s.fail_ns);
    SetDuration(infer->mutable_queue(), s.success_count, s.queue_ns);
    SetDuration(infer->mutable_compute_input(), s.success_count, s.compute_input_ns);
    SetDuration(infer->mutable_compute_infer(), s.success_count, s.compute_infer_ns);
    SetDuration(infer->mutable_compute_output(), s.success_count, s.compute_output_ns);
    auto* memory = out->add_memory_usage();
    memory->set_type("CPU");
    memory->set_id(0);
    memory->set_byte_size(static_cast<uint64_t>(h.model->memory().total()));
    out->set_plan_builds(static_cast<uint64_t>(h.model->plan_builds()));
    out->set_cached_plans(static_cast<uint64_t>(h.model->cached_plans()));
  }
  return absl::OkStatus();
}

grpc::Status InferenceService::RepositoryIndex(grpc::ServerContext* context,
                                               const inference::RepositoryIndexRequest* request,
                                               inference::RepositoryIndexResponse* response) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kRepositoryIndex); !denied.ok())
    return ToGrpcStatus(denied);
  for (const IndexEntry& e : registry_->Index()) {
    if (request->ready() && e.state != ModelState::kReady) continue;
    auto* m = response->add_models();
    m->set_name(e.name);
    m->set_version(e.version > 0 ? std::to_string(e.version) : "");
    m->set_state(std::string(ToString(e.state)));
    m->set_reason(e.reason);
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::RepositoryModelLoad(grpc::ServerContext* context,
                                                   const inference::RepositoryModelLoadRequest* request,
                                                   inference::RepositoryModelLoadResponse*) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kRepositoryModelLoad); !denied.ok())
    return ToGrpcStatus(denied);
  ServingState::Call scope(state_);
  absl::Status status = [&]() -> absl::Status {
    Q8_RETURN_IF_ERROR(state_->CheckCanChangeRepository());
    // Before the files are copied out of the request (see BeginLoad).
    Q8_ASSIGN_OR_RETURN(ModelLoader::LoadTicket ticket, loader_->BeginLoad(request->model_name()));
    Q8_ASSIGN_OR_RETURN(LoadRequest load, ParseLoadRequest(*request, max_upload_bytes_));
    return loader_->Load(ticket, load);
  }();
  if (!status.ok()) {
    Q8_LOG(Warning, "RepositoryModelLoad '", core::Quote(request->model_name()), "': ", status.ToString());
  }
  return ToGrpcStatus(status);
}

grpc::Status InferenceService::RepositoryModelUnload(grpc::ServerContext* context,
                                                     const inference::RepositoryModelUnloadRequest* request,
                                                     inference::RepositoryModelUnloadResponse*) {
  if (absl::Status denied = guard_->Authorize(*context, security::rpc::kRepositoryModelUnload); !denied.ok())
    return ToGrpcStatus(denied);
  ServingState::Call scope(state_);
  absl::Status status = state_->CheckCanChangeRepository();
  if (status.ok()) status = loader_->Unload(request->model_name());
  if (!status.ok()) {
    Q8_LOG(Warning, "RepositoryModelUnload '", core::Quote(request->model_name()), "': ", status.ToString());
  }
  return ToGrpcStatus(status);
}

}  // namespace q8::server
