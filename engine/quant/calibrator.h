// Calibrator: runs the fp32 model over calibration samples and records, for
// every runtime tensor, the statistics the quantizer needs: min/max, a
// histogram of |x| (second pass, for percentile/entropy/MSE) and per-channel
// means (for bias correction). Also the "capture" model used for per-layer
// SQNR: the same graph with every tensor exposed as an output.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_builder.h"
#include "engine/quant/calibration_data.h"
#include "engine/quant/range_estimators.h"

namespace q8::engine {

struct ValueStats {
  float min = 0, max = 0;
  std::vector<double> channel_mean;  // over dim 1 (channels / features); empty for rank < 2
  // max |x| per index of the last axis (a transformer's features; what
  // SmoothQuant balances against the next matmul's weights); empty for rank < 2.
  std::vector<float> last_axis_absmax;
  std::vector<float> channel_absmax;  // max |x| per channel of dim 1, like channel_mean
  std::optional<AbsHistogram> histogram;
};

struct QuantizationProgress {
  std::string stage;  // "calibration", "quantization", "evaluation", "fallback", "benchmark"
  int64_t done = 0;
  int64_t total = 0;
  std::string detail;
};
using ProgressFn = std::function<void(const QuantizationProgress&)>;

// The prepared graph with every runtime float tensor added as an output, so
// one Run returns them all. `values[i]` is the graph value behind output i
// (after the model's own outputs).
struct CaptureGraph {
  PreparedGraph prepared;
  std::vector<ValueId> values;
  size_t first_capture_output = 0;
};
CaptureGraph MakeCaptureGraph(const PreparedGraph& prepared);

// Runs `model` (built over a CaptureGraph) on rows [begin, end) of every
// input of `samples` in batches (of the model's fixed batch size, if it has
// one) and calls `sink(batch outputs)` for each batch.
absl::Status RunInBatches(const CompiledModel& model, const SampleGroup& samples, int64_t begin, int64_t end,
                          int64_t batch, const std::function<absl::Status(std::vector<core::Tensor>&)>& sink);

// Two passes over rows [0, counts[g]) of every group: min/max/means, then
// histograms (skipped when `histograms` is false), merged over the groups
// (each runs the plan for its own shapes). Only float tensors get statistics.
absl::StatusOr<std::map<ValueId, ValueStats>> CollectStats(const CaptureGraph& capture, const CompiledModel& model,
                                                           const std::vector<SampleGroup>& groups,
                                                           const std::vector<int64_t>& counts, bool histograms,
                                                           const ProgressFn& progress);

}  // namespace q8::engine
