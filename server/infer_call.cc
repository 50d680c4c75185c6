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
                     std::chrono::system_clock::time_point deadline, InferScratch* scratch, Finish finish)
    : registry_(registry),
      state_(state),
      max_request_bytes_(max_request_bytes),
      request_(request),
      response_(response),
      deadline_(deadline),
      scratch_(scratch),
      finish_(std::move(finish)),
      start_(SteadyClock::now()),
      in_flight_(state) {}

void InferCall::Start(bool may_run_inline) {
  absl::Status status = Prepare();
  if (!status.ok()) {
    arrival_.reset();  // eager batching must not wait for a request that failed to decode
    Complete(std::move(status), ExecutionTiming{});
    return;
  }
  const ExecutionRequest execution{scratch_->inputs.tensors, scratch_->outputs.views(), scratch_->inputs.batch,
                                   deadline_};
  scratch_->handle.served.executor->Submit(
      execution, [this](const absl::Status& s, const ExecutionTiming& timing) { Complete(s, timing); }, &*arrival_,
      may_run_inline);
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
  ModelHandle& handle = scratch_->handle;
  Q8_RETURN_IF_ERROR(registry_->Get(request_->model_name(), request_->model_version(), &handle));
  if (handle.metrics != nullptr) inflight_metric_.emplace(handle.metrics.get());
  std::string& label = scratch_->label;  // reused storage: no allocation per request
  label.assign(handle.name);
  absl::StrAppend(&label, ":", handle.version);
  if (deadline_ < std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("deadline expired before the model ran");
  }
  if (handle.served.executor == nullptr) return absl::InternalError(absl::StrCat(label, " has no executor"));
  // From here until queued, dynamic batching knows this request is coming.
  arrival_.emplace(handle.served.executor.get());
  const engine::CompiledModel& model = *handle.model;
  DecodedInputs& inputs = scratch_->inputs;
  Q8_RETURN_IF_ERROR(DecodeInputsInto(*request_, model.inputs(), model.max_batch_size(), label, &inputs));
  // Outputs follow the request's shapes (any dynamic axis); a new shape may build its plan here.
  Q8_RETURN_IF_ERROR(model.OutputDimsInto(inputs.tensors, &scratch_->output_dims));
  Q8_RETURN_IF_ERROR(
      scratch_->outputs.PrepareInto(*request_, model.outputs(), scratch_->output_dims, inputs.raw, label, response_));
  // Live calibration: one relaxed atomic load unless a sample is wanted.
  if (handle.served.live != nullptr && inputs.tensors.size() == 1) {
    handle.served.live->MaybeSample(inputs.tensors[0], inputs.batch);
  }
  input_ns_ = NanosSince(start_);
  return absl::OkStatus();
}

void InferCall::Complete(absl::Status status, const ExecutionTiming& timing) {
  const ModelHandle& handle = scratch_->handle;
  const DecodedInputs& inputs = scratch_->inputs;
  ModelStats* stats = handle.stats.get();  // null: the lookup failed
  metrics::ModelMetrics* metrics = handle.metrics.get();
  ModelStats::Request record{.ok = status.ok(), .input_ns = input_ns_};
  if (status.ok()) {
    const auto output_start = SteadyClock::now();
    if (metrics != nullptr) metrics->MaybeShadow(inputs.tensors, scratch_->outputs.views());
    scratch_->outputs.Finish();
    response_->set_model_name(handle.name);
    const absl::AlphaNum version(handle.version);  // formatted on the stack
    response_->set_model_version(version.data(), version.size());
    response_->set_id(request_->id());
    record.queue_ns = Nanos(timing.queue_seconds);
    record.infer_ns = Nanos(timing.compute_seconds);
    record.output_ns = NanosSince(output_start);
    record.batch = static_cast<uint64_t>(inputs.batch);
    record.counts_execution = timing.first_in_execution;
    record.now_ms = NowMillisSinceEpoch();
  }
  record.total_ns = NanosSince(start_);
  if (metrics != nullptr) {
    // Queue, compute and batch are known only for requests that ran.
    metrics::RequestTiming t{record.total_ns * 1e-9, 0, 0, 0, 0};
    if (status.ok()) {
      t = {record.total_ns * 1e-9, timing.queue_seconds, timing.compute_seconds, inputs.batch,
           timing.first_in_execution ? timing.executed_batch : 0};
    }
    metrics->RecordRequest(status.code(), t);
  }
  if (stats != nullptr) stats->Record(record);  // one cache line, once per request
  if (!status.ok()) {
    Q8_LOG(Debug, "ModelInfer '", core::Quote(request_->model_name()), "' failed: ", status.ToString());
    response_->Clear();
  }
  inflight_metric_.reset();
  finish_(status);  // may delete this
}

}  // namespace q8::server
