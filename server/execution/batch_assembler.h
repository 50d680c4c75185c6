// BatchAssembler: turns several requests into one batched execution and back.
// Inputs are copied one request after another along dim 0 into staging
// buffers; after the run, each request's slice of every output is copied
// into that request's own output buffer. One per execution stream; the
// staging buffers are sized for max_batch_size on first use and reused, so a
// steady stream of merged executions allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/tensor.h"
#include "engine/compiled_model.h"
#include "server/execution/execution_request.h"

namespace q8::server {

class BatchAssembler {
 public:
  explicit BatchAssembler(const engine::CompiledModel& model) : model_(model) {}

  // Copies the requests' inputs into the staging buffers as one batch of
  // sum(batch) elements (<= max_batch_size) and sizes the output views.
  void Gather(absl::Span<const ExecutionRequest* const> requests);
  absl::Span<const core::TensorView> inputs() const { return input_views_; }
  absl::Span<const core::MutableTensorView> outputs() const { return output_views_; }
  // Copies each request's rows of every output into its own buffers.
  void Scatter(absl::Span<const ExecutionRequest* const> requests) const;

 private:
  void Allocate();

  const engine::CompiledModel& model_;
  std::vector<core::Tensor> input_staging_, output_staging_;  // max_batch_size rows each
  std::vector<int64_t> input_row_bytes_, output_row_bytes_;
  std::vector<core::TensorView> input_views_;
  std::vector<core::MutableTensorView> output_views_;
};

}  // namespace q8::server
