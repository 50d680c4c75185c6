// BatchAssembler: turns several requests into one batched execution and back.
// Inputs are copied one request after another along dim 0 into staging
// buffers; after the run, each request's slice of every output is copied
// into that request's own output buffer. One per execution stream; the
// staging buffers are sized for max_batch_size on first use and reused, so a
// steady stream of merged executions allocates nothing. Only requests whose
// inputs agree on every axis but the first merge (CanMerge); for a model with
// dynamic non-batch axes the staging follows each group's sample shape.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "engine/compiled_model.h"
#include "server/execution/execution_request.h"

namespace q8::server {

class BatchAssembler {
 public:
  explicit BatchAssembler(const engine::CompiledModel& model);

  // True when `b` may run in one batch with `a`: same dims on every axis but the first.
  static bool CanMerge(const ExecutionRequest& a, const ExecutionRequest& b);

  // Copies the requests' inputs (which CanMerge pairwise) into the staging
  // buffers as one batch of sum(batch) elements (<= max_batch_size) and sizes
  // the output views. Fails only when the merged batch cannot be planned.
  absl::Status Gather(absl::Span<const ExecutionRequest* const> requests);
  absl::Span<const core::TensorView> inputs() const { return input_views_; }
  absl::Span<const core::MutableTensorView> outputs() const { return output_views_; }
  // Copies each request's rows of every output into its own buffers.
  void Scatter(absl::Span<const ExecutionRequest* const> requests) const;

 private:
  void Allocate(const ExecutionRequest& first);

  const engine::CompiledModel& model_;
  bool fixed_samples_ = true;                                 // no input has a dynamic axis beyond the first
  std::vector<core::Tensor> input_staging_, output_staging_;  // max_batch_size rows each
  std::vector<int64_t> input_row_bytes_, output_row_bytes_;
  std::vector<core::TensorView> input_views_;
  std::vector<core::MutableTensorView> output_views_;
};

}  // namespace q8::server
