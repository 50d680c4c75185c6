// The speed half of the precision ladder's bf16 rung (issue #13 item 4): a
// layer that fails the int8 accuracy check runs in bf16 under `fallback:
// auto` only where bf16 is also faster than fp32 for that layer. A lone bf16
// layer between f32 neighbours pays an f32 -> bf16 reorder of its input
// (engine/plan/precision.h) and oneDNN's bf16 kernels block channels by 16
// or 32, so a tiny layer runs slower in bf16 than in fp32.
//
// The rule, from `kernels_int8_bench bf16_sizes` on an avx512_core_bf16
// host (BENCHMARKS.md, "bf16 rung of the precision ladder"): every conv and
// matmul measured at kBf16MinMacs multiply-adds per sample (batch 1) or more
// ran at least as fast in bf16, including its input reorder, as in fp32
// (0.99x at 64 Ki MAC, 1.25x to 2.5x above); every one that ran slower in
// bf16 (0.70x to 0.95x: 1x16x16 .. 1x64x64 matmuls, a 1->8 channel conv at
// 56 kMAC) was below it. Smaller layers that bf16 does speed up (1x128x128,
// 1.24x) lose little in absolute time by staying fp32. The batch-1 size
// decides because batch 1 is the latency the report quotes and larger
// batches only favour bf16 further.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/plan/planner.h"

namespace q8::engine {

// Multiply-adds per sample from which bf16 (with its input reorder) beats
// fp32; measured (see above).
inline constexpr int64_t kBf16MinMacs = 64 * 1024;

// Multiply-adds of each of `layers` (Conv / MatMul nodes of `lowered` with
// constant weights) for one sample: output elements at batch 1 times the
// weights each output element reads. A layer whose shape cannot be inferred
// is left out (the caller treats it as large: bf16, as before the rule).
std::map<int, int64_t> LayerMacs(const LoweredGraph& lowered, const std::vector<int>& layers);

// Whether bf16 is faster than fp32 for a layer of `macs` multiply-adds under
// the threshold `min_macs`, and why, for the report: "faster than fp32 at
// this size (2.36 MMAC per sample >= 1.05 MMAC)" or "slower than fp32 at
// this size (18.4 kMAC per sample < 1.05 MMAC)".
struct Bf16Speed {
  bool faster = true;
  std::string why;
};
Bf16Speed PredictBf16Speed(int64_t macs, int64_t min_macs);

}  // namespace q8::engine
