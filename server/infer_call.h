// InferCall: one ModelInfer from arrival to response, run asynchronously.
//
// Start() looks the model up, decodes the inputs and lays out the outputs
// on the receiving (gRPC) thread, then hands the request to the model's
// executor and returns: no gRPC thread waits for a stream. The completion
// runs on whichever thread ran the model; it records statistics and metrics,
// finishes the response and calls `finish`, which may delete the call.
// Everything the execution reads (handle, decoded views, output buffers)
// lives in the call's InferScratch until then; the gRPC path recycles one
// scratch per pooled call (server/infer_slot.h), so its vectors and
// strings are reused instead of allocated per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "inference.pb.h"
#include "server/execution/model_executor.h"
#include "server/metrics/model_metrics.h"
#include "server/model_registry.h"
#include "server/serving_state.h"
#include "server/tensor_codec.h"

namespace q8::server {

// Per-call working storage, reusable across calls: Release() drops what the
// last call referenced (the model, typed-input copies) and keeps the
// capacity of everything else.
struct InferScratch {
  ModelHandle handle;
  DecodedInputs inputs;
  OutputEncoder outputs;
  std::vector<core::Dims> output_dims;
  std::string label;  // "model:version", for messages

  void Release() {
    handle.Release();
    inputs.owned.clear();
  }
};

class InferCall {
 public:
  using Finish = std::function<void(const absl::Status& status)>;

  // `request`, `response` and `scratch` must outlive the call (gRPC owns
  // the messages until finish); `response` starts empty. `deadline`: the
  // client's, or max. A request larger than `max_request_bytes` is refused
  // (RESOURCE_EXHAUSTED) before anything else.
  InferCall(ModelRegistry* registry, ServingState* state, int64_t max_request_bytes,
            const inference::ModelInferRequest* request, inference::ModelInferResponse* response,
            std::chrono::system_clock::time_point deadline, InferScratch* scratch, Finish finish);
  InferCall(const InferCall&) = delete;
  InferCall& operator=(const InferCall&) = delete;

  // `may_run_inline`: see ModelExecutor::Submit.
  void Start(bool may_run_inline = true);

 private:
  absl::Status Prepare();
  void Complete(absl::Status status, const ExecutionTiming& timing);

  ModelRegistry* const registry_;
  ServingState* const state_;
  const int64_t max_request_bytes_;
  const inference::ModelInferRequest* const request_;
  inference::ModelInferResponse* const response_;
  const std::chrono::system_clock::time_point deadline_;
  InferScratch* const scratch_;
  const Finish finish_;
  const std::chrono::steady_clock::time_point start_;
  ServingState::Call in_flight_;  // until the call is destroyed (after the response is sent)

  uint64_t input_ns_ = 0;  // Prepare's time, recorded with the rest at completion
  std::optional<metrics::ModelMetrics::Inflight> inflight_metric_;
  std::optional<ModelExecutor::Arrival> arrival_;
};

}  // namespace q8::server
