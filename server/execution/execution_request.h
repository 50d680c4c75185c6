// One request as the execution layer sees it: validated input views, output
// buffers to fill, its batch size and deadline; and what it learns back
// about how it ran (queue and compute time, the merged batch size).
#pragma once

#include <chrono>
#include <cstdint>

#include "absl/types/span.h"
#include "core/tensor.h"

namespace q8::server {

struct ExecutionRequest {
  // Validated inputs (model input order) and output buffers sized for `batch`.
  absl::Span<const core::TensorView> inputs;
  absl::Span<const core::MutableTensorView> outputs;
  int64_t batch = 1;  // elements along dim 0 (1 for fixed-shape models)
  std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();
};

struct ExecutionTiming {
  double queue_seconds = 0;    // queued until its execution started
  double compute_seconds = 0;  // the execution it was part of (incl. batch copies)
  int64_t executed_batch = 0;  // elements in that execution (> batch when merged)
  bool first_in_execution = false;  // exactly one request per execution: counts it
};

}  // namespace q8::server
