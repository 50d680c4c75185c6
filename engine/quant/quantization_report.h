// QuantizationReport: what quantize-on-upload cost in accuracy and bought in
// speed and memory, per model and per layer. Returned to the uploader,
// persisted with the model, exported as metrics. JSON round-trips exactly.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace q8::engine {

struct LayerReport {
  std::string node;
  std::string op;
  std::string precision;    // "int8", "int8-dynamic", "bf16" or "fp32"
  std::string input_dtype;  // "UINT8"/"INT8"/"BF16"/"FP32"
  float input_scale = 0;
  float output_scale = 0;  // 0 when the layer writes f32
  float weight_scale_min = 0, weight_scale_max = 0;
  double sqnr_db = 0;  // of this layer's output vs fp32 on evaluation samples
  // Noise this layer adds relative to its output signal, in dB (e.g. -40);
  // higher = more sensitive. Fallback returns layers to fp32 in this order.
  double sensitivity_db = 0;
  // Why this precision, e.g. "bf16: int8 failed the accuracy check (drop
  // 2.10 pt, 95 % bounds 1.20..3.40 pt, 300 samples)". Last, so positional
  // initializers of the fields above stay valid.
  std::string reason;
  // How the int8 input is stored: "symmetric" (zero point 0) or "asymmetric"
  // (u8 with input_zero_point); empty when the layer does not read int8.
  // After `reason` for the same reason.
  std::string input_scheme;
  int32_t input_zero_point = 0;
};

// One activation SmoothQuant rescaled: the matmuls reading it, the node the
// scale folded into, alpha, and the activation's range over its channels
// (max and median of the per-channel max |x|) before and after.
struct SmoothingReport {
  std::string tensor;
  std::string folded_into;
  std::vector<std::string> matmuls;
  double alpha = 0;
  float absmax_before = 0, absmax_after = 0;
  float median_before = 0, median_after = 0;
};

// What cross-layer equalization changed for one pair of convs
// (engine/passes/equalize_cross_layer.h). Spreads are max/min over channels
// of per-channel ranges (max |w| or max |x|), ignoring dead channels.
struct EqualizedPairReport {
  std::string first, second;  // node names: W1 -> (ReLU/MaxPool) -> W2
  bool depthwise = false;
  float scale_min = 1, scale_max = 1;                                      // channel i between them was divided by s_i
  double first_weight_spread_before = 1, first_weight_spread_after = 1;    // W1 per output channel
  double second_weight_spread_before = 1, second_weight_spread_after = 1;  // W2 per input channel
  // The tensor W2 reads, per channel, on the calibration samples (static mode).
  double activation_spread_before = 1, activation_spread_after = 1;
};

struct QuantizationReport {
  std::string mode;    // static | dynamic | none
  std::string method;  // calibration method (static)
  std::string metric;  // top1 | agreement
  double max_drop = 0;
  bool target_met = true;
  int64_t calibration_samples = 0;
  int64_t eval_samples = 0;
  bool has_labels = false;
  double fp32_top1 = 0, int8_top1 = 0;  // valid when has_labels
  double agreement = 1;                 // top-1 agreement int8 vs fp32
  double drop = 0;                      // by `metric`, observed on the eval_samples
  // The significance check of `drop` (engine/quant/accuracy_check.h DropTest):
  // one-sided bounds at `confidence`, the exact McNemar p-value of "no drop",
  // the paired counts, and whether the bounds straddle max_drop (the
  // evaluation rows cannot tell: more samples would be needed to decide).
  double confidence = 0.95;
  double drop_low = 0, drop_high = 0;
  double drop_p_value = 1;
  int64_t drop_worse = 0, drop_better = 0;
  bool more_samples_needed = false;
  double output_sqnr_db = 0;
  // quantization.fallback as configured (auto | bf16 | fp32) and the rung it
  // resolved to on this CPU ("bf16" or "fp32").
  std::string fallback = "auto";
  std::string fallback_resolved;
  std::vector<std::string> bf16_layers;      // int8 failed the check: run in bf16
  std::vector<std::string> fallback_layers;  // returned to fp32
  std::vector<std::string> blocking_layers;  // still too sensitive when the target is missed
  int64_t weight_bytes_fp32 = 0;
  // Resident weights of the served model, whatever its int8/bf16/fp32 mix
  // (the name predates the mix: precision_weight_bytes splits it).
  int64_t weight_bytes_int8 = 0;
  // The served model in one word over its weighted layers (Conv, Gemm and
  // MatMul with constant weights; attention's activation x activation
  // matmuls have none and are not counted): "int8" (static or dynamic),
  // "bf16" or "fp32" when every such layer runs in it, else "mixed". Empty
  // in reports written before it existed (SummarizePrecision fills it).
  std::string precision;
  // Per precision ("int8", "bf16", "fp32"): how many weighted layers run in
  // it, and the served model's weight bytes stored in it (measured from its
  // weight cache by stored type: s8 weights with their compensation, bf16
  // weights; "fp32" holds the rest, f32 weights, biases and other constants),
  // summing to weight_bytes_int8.
  std::map<std::string, int64_t> precision_layers;
  std::map<std::string, int64_t> precision_weight_bytes;
  double quantization_seconds = 0;
  double latency_fp32_b1_ms = 0, latency_int8_b1_ms = 0;
  double latency_fp32_b16_ms = 0, latency_int8_b16_ms = 0;
  std::string isa;
  std::vector<LayerReport> layers;
  // SmoothQuant (empty when off): per smoothed activation; matmuls left
  // alone with the reason ("MatMul 'x': produced by Gelu ..."); with alpha
  // "auto", the output SQNR on calibration rows per alpha tried.
  std::vector<SmoothingReport> smoothing;
  std::vector<std::string> smoothing_skipped;
  std::vector<std::pair<double, double>> smoothing_search;  // (alpha, dB)
  std::string equalization = "off";                         // the setting: auto | on | off
  std::string activations = "symmetric";                    // the setting: symmetric | asymmetric | auto
  bool equalized = false;                                   // whether it was applied
  int64_t equalization_sweeps = 0;
  std::vector<EqualizedPairReport> equalized_pairs;

  // Fills precision and precision_layers from `layers` (when precision is
  // empty) and precision_weight_bytes from the served model's measured
  // weights split by type.
  void SummarizePrecision(int64_t weights, int64_t weights_int8, int64_t weights_bf16);

  std::string ToJson(int indent = -1) const;
  static absl::StatusOr<QuantizationReport> FromJson(const std::string& json);
};

}  // namespace q8::engine
