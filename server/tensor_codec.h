// Tensor codec: OIP wire tensors <-> core tensor views, with the request
// validation the engine should never see fail.
//
// Inputs: raw_input_contents are used in place (the views point into the
// request's bytes: zero-copy, so the request must outlive them); typed
// `contents` are converted into owned buffers. Every malformed request is
// INVALID_ARGUMENT with a message naming the tensor and expected vs got.
//
// Outputs: raw by default. The response's raw_output_contents strings are
// sized first and the engine writes straight into them. A request that sent
// typed contents gets typed contents back (written in place when the typed
// field has the output's element type, converted otherwise); outputs whose
// dtype has no typed field (FP16, BF16) force the whole response to raw.
// Outputs the client did not request are written to scratch tensors.
//
// The request path reuses one DecodedInputs and one OutputEncoder per pooled
// call (server/infer_slot.h): DecodeInputsInto and PrepareInto refill
// them in place, so a steady stream of same-shaped raw requests allocates
// nothing here.
//
// Pure functions over protobuf messages; thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "engine/compiled_model.h"
#include "inference.pb.h"

namespace q8::server {

struct DecodedInputs {
  std::vector<core::TensorView> tensors;  // in the model's input order
  std::vector<core::Tensor> owned;        // backing store for typed contents
  int64_t batch = 1;
  bool raw = true;  // the request used raw_input_contents
};

// `model` names the model in messages ("fashion_cnn" or "fashion_cnn:1").
absl::StatusOr<DecodedInputs> DecodeInputs(const inference::ModelInferRequest& request,
                                           const std::vector<engine::TensorInfo>& model_inputs, int64_t max_batch_size,
                                           absl::string_view model);
// The same into `out`, reusing its storage (raw contents: no allocation once
// `out` has held a request of the same rank).
absl::Status DecodeInputsInto(const inference::ModelInferRequest& request,
                              const std::vector<engine::TensorInfo>& model_inputs, int64_t max_batch_size,
                              absl::string_view model, DecodedInputs* out);

class OutputEncoder {
 public:
  // Validates the requested outputs, adds them to `response` (names,
  // datatypes, shapes, buffers) and prepares one view per model output, in
  // the model's output order, for CompiledModel::Run. `response` must outlive
  // the encoder.
  static absl::StatusOr<OutputEncoder> Prepare(const inference::ModelInferRequest& request,
                                               const std::vector<engine::TensorInfo>& model_outputs,
                                               const std::vector<core::Dims>& output_dims, bool raw,
                                               absl::string_view model, inference::ModelInferResponse* response);
  // The same into this encoder, reusing its storage; `response` should be
  // empty (a recycled one keeps its buffers, so raw outputs of the same
  // sizes allocate nothing).
  absl::Status PrepareInto(const inference::ModelInferRequest& request,
                           const std::vector<engine::TensorInfo>& model_outputs,
                           const std::vector<core::Dims>& output_dims, bool raw, absl::string_view model,
                           inference::ModelInferResponse* response);

  absl::Span<const core::MutableTensorView> views() const { return views_; }
  // After Run: copies outputs that were computed into scratch and must be
  // converted into typed contents.
  void Finish();

 private:
  struct PendingCopy {
    int scratch;  // index into scratch_
    inference::InferTensorContents* contents;
  };
  std::vector<core::MutableTensorView> views_;
  std::vector<core::Tensor> scratch_;
  std::vector<PendingCopy> pending_;
};

}  // namespace q8::server
