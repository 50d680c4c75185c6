// JSON (de)serialisation of the report via nlohmann::json.
#include "engine/quant/quantization_report.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace q8::engine {

using nlohmann::json;

// The X-macro field lists are tables: kept as written.
// clang-format off
#define Q8_REPORT_LAYER_FIELDS(X) \
  X(node) X(op) X(precision) X(reason) X(input_dtype) X(input_scale) X(input_scheme) X(input_zero_point) \
  X(output_scale) X(weight_scale_min) X(weight_scale_max) X(sqnr_db) X(sensitivity_db)
#define Q8_REPORT_FIELDS(X) \
  X(mode) X(method) X(metric) X(max_drop) X(target_met) X(calibration_samples) X(eval_samples) \
  X(has_labels) X(fp32_top1) X(int8_top1) X(agreement) X(drop) X(output_sqnr_db) X(fallback_layers) \
  X(blocking_layers) X(weight_bytes_fp32) X(weight_bytes_int8) X(quantization_seconds) \
  X(latency_fp32_b1_ms) X(latency_int8_b1_ms) X(latency_fp32_b16_ms) X(latency_int8_b16_ms) X(isa) \
  X(confidence) X(drop_low) X(drop_high) X(drop_p_value) X(drop_worse) X(drop_better) \
  X(more_samples_needed) X(smoothing_skipped) X(smoothing_search) X(equalization) X(equalized) \
  X(equalization_sweeps) X(fallback) X(fallback_resolved) X(bf16_layers) X(precision) X(precision_layers) \
  X(precision_weight_bytes) X(activations)
#define Q8_REPORT_SMOOTHING_FIELDS(X) \
  X(tensor) X(folded_into) X(matmuls) X(alpha) X(absmax_before) X(absmax_after) X(median_before) X(median_after)
#define Q8_REPORT_PAIR_FIELDS(X) \
  X(first) X(second) X(depthwise) X(scale_min) X(scale_max) X(first_weight_spread_before) \
  X(first_weight_spread_after) X(second_weight_spread_before) X(second_weight_spread_after) \
  X(activation_spread_before) X(activation_spread_after)
// clang-format on

void QuantizationReport::SummarizePrecision(int64_t weights, int64_t weights_int8, int64_t weights_bf16) {
  precision_weight_bytes = {
      {"int8", weights_int8}, {"bf16", weights_bf16}, {"fp32", weights - weights_int8 - weights_bf16}};
  std::string only;
  int kinds = 0;
  for (const auto& [p, n] : precision_layers) {
    if (n > 0) ++kinds, only = p;
  }
  precision = kinds == 0 ? "fp32" : kinds == 1 ? only : "mixed";
}

std::string QuantizationReport::ToJson(int indent) const {
  json j;
#define Q8_PUT(f) j[#f] = f;
  Q8_REPORT_FIELDS(Q8_PUT)
  json layer_list = json::array();
  for (const LayerReport& layer : layers) {
    json l;
#define Q8_PUT_LAYER(f) l[#f] = layer.f;
    Q8_REPORT_LAYER_FIELDS(Q8_PUT_LAYER)
    layer_list.push_back(std::move(l));
  }
  j["layers"] = std::move(layer_list);
  json smoothing_list = json::array();
  for (const SmoothingReport& entry : smoothing) {
    json l;
#define Q8_PUT_SMOOTHING(f) l[#f] = entry.f;
    Q8_REPORT_SMOOTHING_FIELDS(Q8_PUT_SMOOTHING)
    smoothing_list.push_back(std::move(l));
  }
  j["smoothing"] = std::move(smoothing_list);
  json pair_list = json::array();
  for (const EqualizedPairReport& pair : equalized_pairs) {
    json p;
#define Q8_PUT_PAIR(f) p[#f] = pair.f;
    Q8_REPORT_PAIR_FIELDS(Q8_PUT_PAIR)
    pair_list.push_back(std::move(p));
  }
  j["equalized_pairs"] = std::move(pair_list);
  return j.dump(indent);
}

absl::StatusOr<QuantizationReport> QuantizationReport::FromJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("quantization report is not a JSON object");
  QuantizationReport r;
  try {
#define Q8_GET(f) \
  if (j.contains(#f)) j.at(#f).get_to(r.f);
    Q8_REPORT_FIELDS(Q8_GET)
    for (const json& l : j.value("layers", json::array())) {
      LayerReport layer;
#define Q8_GET_LAYER(f) \
  if (l.contains(#f)) l.at(#f).get_to(layer.f);
      Q8_REPORT_LAYER_FIELDS(Q8_GET_LAYER)
      r.layers.push_back(std::move(layer));
    }
    for (const json& l : j.value("smoothing", json::array())) {
      SmoothingReport entry;
#define Q8_GET_SMOOTHING(f) \
  if (l.contains(#f)) l.at(#f).get_to(entry.f);
      Q8_REPORT_SMOOTHING_FIELDS(Q8_GET_SMOOTHING)
      r.smoothing.push_back(std::move(entry));
    }
    for (const json& p : j.value("equalized_pairs", json::array())) {
      EqualizedPairReport pair;
#define Q8_GET_PAIR(f) \
  if (p.contains(#f)) p.at(#f).get_to(pair.f);
      Q8_REPORT_PAIR_FIELDS(Q8_GET_PAIR)
      r.equalized_pairs.push_back(std::move(pair));
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("quantization report has a malformed field: ", e.what()));
  }
  return r;
}

}  // namespace q8::engine
