// Per-channel weight ranges and per-channel rescaling of constant weights:
// the arithmetic that weight-rescaling transforms share (cross-layer
// equalization here; any transform that moves a per-channel factor from one
// layer's output channels into the next layer's input channels). Plain
// float32 tensors; no graph knowledge.
//
// Conv weights are [OC, IC/groups, k...]: output channel o is row o; input
// channel c = g * (IC/groups) + j (group g) is column j of the rows of group g.
// A matmul weight [K, N] is the groups == 1 case of a [N, K] layout seen
// transposed, so it uses the axis helpers instead.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/tensor.h"

namespace q8::engine {

// max |w| over everything but `axis`, one value per index of `axis`;
// non-finite entries (an activation's -inf attention mask) are skipped.
std::vector<float> AbsMaxAlongAxis(const core::Tensor& w, int axis);
// w[..., i, ...] *= scale[i] along `axis` (scale.size() == dims[axis]).
void ScaleAlongAxis(core::Tensor& w, int axis, absl::Span<const float> scale);

// Conv weights: max |w| per input channel (IC entries), and w *= scale[c]
// for every weight that reads input channel c.
std::vector<float> ConvInputChannelAbsMax(const core::Tensor& w, int64_t groups);
void ScaleConvInputChannels(core::Tensor& w, int64_t groups, absl::Span<const float> scale);

// max/min over the strictly positive entries of `ranges` (1 when fewer than
// two are positive): how unevenly a per-tensor int8 grid serves the channels.
double RangeSpread(absl::Span<const float> ranges);

}  // namespace q8::engine
