// Channel rescaling of one activation tensor, folded into constants: channel
// j of value X is divided by s_j where it is produced (LayerNormalization's
// gamma/beta, a MatMul/Gemm's output columns and bias, a Conv's output
// channel and bias) and multiplied back into every consumer's weights for
// input channel j (MatMul/Gemm rows, Conv input channels). The graph's fp32
// function is unchanged (exactly, in real arithmetic) and nothing is added
// per request. SmoothQuant (smoothquant.h) and cross-layer equalization both
// choose s and fold it through here.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/graph/graph.h"

namespace q8::engine {

// Where a rescale of `value` folds: the producer node and the consumers.
struct RescaleSite {
  ValueId value = kNoValue;
  int producer = -1;
  std::vector<int> consumers;
  int64_t channels = 0;
};

// The site of `value`, or FAILED_PRECONDITION saying why it cannot fold
// (e.g. "produced by Gelu, which does not commute with a channel scale",
// "also read by Add 'x'"). Requires constant, private weights everywhere, a
// producer whose fused activations commute with positive scales (Relu), and
// consumers reading `value` as their data input only.
absl::StatusOr<RescaleSite> FindRescaleSite(const Graph& g, ValueId value);

// max |w| per input channel over all consumers' weights (SmoothQuant's
// denominator; equalization's range of the next layer).
std::vector<float> ConsumerWeightAbsMax(const Graph& g, const RescaleSite& site);

// Folds s (site.channels entries, each finite and > 0) into the constants
// around the site; INVALID_ARGUMENT on a bad `s`. Constants are replaced by
// new tensors, never written in place (a graph may share them with others).
absl::Status ApplyRescale(Graph& g, const RescaleSite& site, absl::Span<const float> s);

// A rescale as chosen and persisted (artifact.h): value by id, its scales.
struct ChannelRescale {
  ValueId value = kNoValue;
  std::vector<float> scales;
};

// Finds each site again and folds its scales, in order (how a reloaded or
// exported model reproduces the quantizer's constants). DATA_LOSS when a
// recorded rescale no longer fits the graph.
absl::Status ApplyRescales(Graph& g, const std::vector<ChannelRescale>& rescales);

}  // namespace q8::engine
