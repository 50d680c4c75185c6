// Quantizer: calibration statistics + options -> QuantSpec. Decides which
// layers run int8, every tensor's scale and signedness, quantizes weights per
// output channel and applies bias correction.
#pragma once

#include <map>
#include <optional>
#include <set>

#include "absl/status/statusor.h"
#include "engine/plan/planner.h"
#include "engine/quant/calibrator.h"
#include "engine/quant/quant_spec.h"
#include "engine/quant/quantization_options.h"

namespace q8::engine {

// Symmetric s8 quantization of float weights: scale per output channel
// (`axis` of `w`: 0 for conv OIHW, 1 for matmul [K,N]) or one for the whole
// tensor; q = round_half_even(w / scale), clamped to [-127, 127].
struct QuantizedTensor {
  std::shared_ptr<core::Tensor> values;  // s8
  std::vector<float> scales;             // one per channel of `axis` (repeated when per-tensor)
};
QuantizedTensor QuantizeWeights(const core::Tensor& w, int axis, bool per_channel);
// Same, with given scales (when reloading a persisted model).
std::shared_ptr<core::Tensor> QuantizeWithScales(const core::Tensor& w, int axis, const std::vector<float>& scales);

// Bias correction: the expected output error of a layer whose weights were
// quantized is (Wq*s - W) . E[x]; subtracting it from the bias removes the
// mean shift. `input_mean` is the per-channel mean of the layer's input
// (conv: per input channel, ignoring padding; matmul: per K).
std::shared_ptr<core::Tensor> CorrectBias(const core::Tensor& w, const QuantizedTensor& q, int axis,
                                          const core::Tensor* bias, const std::vector<double>& input_mean,
                                          int64_t groups);

// The activation clipping threshold for one tensor under `options`.
float Threshold(const ValueStats& stats, const QuantizationOptions& options, bool unsigned_range);

// Asymmetric activations (QuantizationOptions::activations). A tensor that
// changes sign in calibration, over a clipped range [lo, hi] (lo < 0 < hi;
// each side of the symmetric threshold t clipped to what was observed), is
// stored as s8 with step t/127 (symmetric) or u8 with step (hi - lo)/255 and
// zero point round(-lo / step) (asymmetric). Asymmetric gains 20 log10 of the
// step ratio in SQNR: +5.8 dB for a GELU output (min -0.17), ~1 dB for a
// LayerNorm output with a positive beta, 0 for a centred tensor. Only tensors
// whose readers are all int8-capable MatMul/Gemm layers (the kernel folds the
// zero point into the bias: free at run time), that share their scale with
// no transparent op (Relu, MaxPool, Concat, reshapes) and that no Conv
// writes qualify; `auto` takes those that gain at least kMinAsymmetricGainDb.
inline constexpr double kMinAsymmetricGainDb = 1.0;
struct ActivationChoice {
  float scale = 1.0f;
  int32_t zero_point = 0;
  double gain_db = 0;  // asymmetric over symmetric, from the steps
};
// The asymmetric grid for a tensor with observed [min, max] and symmetric
// threshold `t`, or nullopt when it does not change sign.
std::optional<ActivationChoice> AsymmetricGrid(float min, float max, float t);

// Builds the spec. `fp32_layers` are nodes forced to stay fp32 (fallback).
absl::StatusOr<QuantSpec> BuildQuantSpec(const LoweredGraph& fp32, const std::map<ValueId, ValueStats>& stats,
                                         const QuantizationOptions& options, const std::set<int>& fp32_layers);

// Nodes that can run int8: Conv, and Gemm/MatMul with constant weights.
std::vector<int> QuantizableLayers(const LoweredGraph& fp32);

// Whether `mode: dynamic` runs a Conv in dynamic int8 rather than fp32,
// from its weights [OC, IC/groups, KH, KW] and group count: not for
// depthwise convs (one input channel per group, several groups). Dynamic
// int8 re-reads the f32 input twice per run (range scan, quantization)
// before the int8 kernel saves anything; measurements in BENCHMARKS.md
// ("Dynamic int8 Conv").
bool DynamicConvPays(const core::Dims& conv_weights, int64_t groups);

}  // namespace q8::engine
