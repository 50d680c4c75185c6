// One asynchronous ModelInfer: prepare on the receiving thread, execute on
// the model's executor, complete wherever the execution ran.
#include "server/infer_call.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/logging.h"
#include "core/quote.h"
#include "core/status_macros.h"

namespace q8::server {
namespace {

using SteadyClock = std::chrono::steady_clock;

uint64_t NanosSince(SteadyClock::time_point start) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start).count());
}

uint64_t Nanos(double seconds) { return static_cast<uint64_t>(seconds * 1e9); }

uint64_t NowMillisSinceEpoch() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

InferCall::InferCall(ModelRegistry* registry, ServingState* state, int64_t max_request_bytes,
                     const inference::ModelInferRequest* request, inference::ModelInferResponse* response,
                     std::chrono::system_clock::time_point deadline, Finish finish)
    : registry_(registry),
      state_(state),
      max_request_bytes_(max_request_bytes),
      request_(request),
      response_(response),
      deadline_(deadline),
      finish_(std::move(finish)),
      start_(SteadyClock::now()),
      in_flight_(state) {}

void InferCall::Start() {
  absl::Status status = Prepare();
  if (!status.ok()) {
    arrival_.reset();  // eager batching must not wait for a request that failed to decode
    Complete(std::move(status), ExecutionTiming{});
    return;
  }
  const ExecutionRequest execution{inputs_.tensors, outputs_->views(), inputs_.batch, deadline_};
  handle_.served.executor->Submit(
      execution, [this](const absl::Status& s, const ExecutionTiming& timing) { Complete(s, timing); }, &*arrival_);
}

absl::Status InferCall::Prepare() {
  // gRPC's receive limit is the upload limit (one per server); inference has
  // its own, checked before the model lookup and any tensor decoding.
  const size_t bytes = request_->ByteSizeLong();
  if (bytes > static_cast<size_t>(max_request_bytes_)) {
    return absl::ResourceExhaustedError(absl::StrCat("ModelInfer request of ", bytes,
                                                     " bytes exceeds --max_request_bytes=", max_request_bytes_,
                                                     "; send smaller batches"));
  }
  if (state_->phase() == ServingPhase::kStarting) {
    return absl::UnavailableError("server is starting: models are still loading");
  }
  if (state_->phase() == ServingPhase::kStopping) return absl::UnavailableError("server is shutting down");
  Q8_ASSIGN_OR_RETURN(handle_, registry_->Get(request_->model_name(), request_->model_version()));
  if (handle_.metrics != nullptr) inflight_metric_.emplace(handle_.metrics.get());
  const std::string label = absl::StrCat(handle_.name, ":", handle_.version);
  if (deadline_ < std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("deadline expired before the model ran");
  }
  if (handle_.served.executor == nullptr) return absl::InternalError(absl::StrCat(label, " has no executor"));
  // From here until queued, dynamic batching knows this request is coming.
  arrival_.emplace(handle_.served.executor.get());
  const engine::CompiledModel& model = *handle_.model;
  Q8_ASSIGN_OR_RETURN(inputs_, DecodeInputs(*request_, model.inputs(), model.max_batch_size(), label));
  // Outputs follow the request's shapes (any dynamic axis); a new shape may build its plan here.
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> output_dims, model.OutputDimsFor(inputs_.tensors));
  Q8_ASSIGN_OR_RETURN(OutputEncoder outputs,
                      OutputEncoder::Prepare(*request_, model.outputs(), output_dims, inputs_.raw, label, response_));
  outputs_.emplace(std::move(outputs));
  // Live calibration: one relaxed atomic load unless a sample is wanted.
  if (handle_.served.live != nullptr && inputs_.tensors.size() == 1) {
    handle_.served.live->MaybeSample(inputs_.tensors[0], inputs_.batch);
  }
  handle_.stats->compute_input_ns.fetch_add(NanosSince(start_));
  return absl::OkStatus();
}

void InferCall::Complete(absl::Status status, const ExecutionTiming& timing) {
  ModelStats* stats = handle_.stats.get();  // null: the lookup failed
  metrics::ModelMetrics* metrics = handle_.metrics.get();
  if (status.ok()) {
    const auto output_start = SteadyClock::now();
    stats->compute_infer_ns.fetch_add(Nanos(timing.compute_seconds));
    if (timing.first_in_execution) stats->execution_count.fetch_add(1);
    if (metrics != nullptr) {
      metrics->SetQueueDepth(handle_.served.executor->queue_depth());
      metrics->MaybeShadow(inputs_.tensors, outputs_->views());
    }
    outputs_->Finish();
    response_->set_model_name(handle_.name);
    response_->set_model_version(std::to_string(handle_.version));
    response_->set_id(request_->id());
    stats->compute_output_ns.fetch_add(NanosSince(output_start));
    stats->inference_count.fetch_add(static_cast<uint64_t>(inputs_.batch));
  }
  const uint64_t total = NanosSince(start_);
  if (metrics != nullptr) {
    // Queue, compute and batch are known only for requests that ran.
    metrics::RequestTiming t{total * 1e-9, 0, 0, 0, 0};
    if (status.ok()) {
      t = {total * 1e-9, timing.queue_seconds, timing.compute_seconds, inputs_.batch,
           timing.first_in_execution ? timing.executed_batch : 0};
    }
    metrics->RecordRequest(status.code(), t);
  }
  if (stats != nullptr) {
    if (status.ok()) {
      stats->success_count.fetch_add(1);
      stats->success_ns.fetch_add(total);
      stats->queue_ns.fetch_add(Nanos(timing.queue_seconds));
      stats->last_inference_ms.store(NowMillisSinceEpoch());
    } else {
      stats->fail_count.fetch_add(1);
      stats->fail_ns.fetch_add(total);
    }
  }
  if (!status.ok()) {
    Q8_LOG(Debug, "ModelInfer '", core::Quote(request_->model_name()), "' failed: ", status.ToString());
    response_->Clear();
  }
  inflight_metric_.reset();
  finish_(status);  // may delete this
}

}  // namespace q8::server
