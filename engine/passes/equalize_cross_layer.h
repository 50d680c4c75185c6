// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization
// Through Weight Equalization and Bias Correction"): for two convs in a row,
// W1 -> link -> W2, where output channel i of W1 feeds exactly input channel
// i of W2, divide W1's row i and bias i by s_i and multiply W2's input
// channel i by s_i. With a positively homogeneous link (nothing, ReLU,
// MaxPool: f(x / s) = f(x) / s for s > 0) the float function is unchanged.
// s_i = sqrt(r1_i / r2_i), r = per-channel max |w|, makes both ranges
// sqrt(r1_i * r2_i): the channels of W1, and the columns of W2 that one
// per-output-channel scale of W2 must cover, become balanced, and channel i
// of the tensor between them is divided by s_i.
//
// Links not handled, and why: Clip/ReLU6 (clip(x / s, 0, 6) != clip(x, 0, 6) / s;
// moving the bound to 6 / s per channel is no ONNX Clip), Sigmoid and other
// non-homogeneous activations, a conv output read by more than one node or
// fused with a residual Add (the other readers would see rescaled values),
// weights shared by two nodes. Such pairs are left as they are.
//
// Runs on constant float weights of the optimized graph (after BN folding
// and activation fusion), before calibration. Deterministic: the same graph
// gives the same weights, so a persisted quantization can replay it.
#pragma once

#include <utility>
#include <vector>

#include "engine/graph/graph.h"

namespace q8::engine {

// Two conv nodes (indices into graph.nodes()) that can be equalized, and the
// tensor the second one reads (its channel i is divided by s_i).
struct EqualizablePair {
  int first = -1, second = -1;
  ValueId between = kNoValue;
  bool depthwise = false;  // either conv has one input channel per group and several groups
};
std::vector<EqualizablePair> FindEqualizablePairs(const Graph& g);

struct EqualizedPair {
  EqualizablePair pair;
  std::vector<float> scale;  // cumulative s_i over all sweeps, one per channel of `between`
  // max/min of the positive per-channel weight ranges: W1's output channels,
  // W2's input channels; before and after.
  double first_spread_before = 1, first_spread_after = 1;
  double second_spread_before = 1, second_spread_after = 1;
};

struct EqualizationResult {
  std::vector<EqualizedPair> pairs;
  int sweeps = 0;          // passes over all pairs
  bool converged = false;  // the last sweep moved no scale by more than the tolerance
};

// Equalizes every pair of FindEqualizablePairs in place, sweeping over all of
// them (a conv in a chain is W2 of one pair and W1 of the next) until no
// scale moves by more than 1e-4 relative, at most 64 sweeps.
EqualizationResult EqualizeCrossLayer(Graph& g);

}  // namespace q8::engine
