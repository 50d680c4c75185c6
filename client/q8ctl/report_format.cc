#include "client/q8ctl/report_format.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace q8::client {
namespace {

using Json = nlohmann::json;

double Num(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}
std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
bool Bool(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
std::vector<std::string> Strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const Json& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string MiB(double bytes) { return absl::StrFormat("%.2f MiB", bytes / (1 << 20)); }
std::string Percent(double fraction) { return absl::StrFormat("%.2f%%", 100 * fraction); }

void AppendTable(const std::vector<std::vector<std::string>>& rows, std::string* out) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line = "  ";
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&line, row[c]);
      if (c + 1 < row.size()) line.append(width[c] - row[c].size() + 2, ' ');
    }
    absl::StrAppend(out, line, "\n");
  }
}

std::string Latency(double fp32, double int8) {
  if (fp32 <= 0 || int8 <= 0) return "n/a";
  return absl::StrFormat("fp32 %.3f ms, int8 %.3f ms (%.2fx)", fp32, int8, fp32 / int8);
}

// What cross-layer equalization changed (engine/quant/quantization_report.h
// EqualizedPairReport): per pair, the channel scales and the per-channel
// range spreads (max/min) of both weights and of the activation between them.
void AppendEqualization(const Json& r, std::string* out) {
  const std::string setting = Str(r, "equalization");
  if (setting.empty()) return;  // a report from before equalization existed
  auto pairs = r.find("equalized_pairs");
  const bool applied = Bool(r, "equalized") && pairs != r.end() && pairs->is_array() && !pairs->empty();
  if (!applied) {
    const char* why = setting == "off" ? ""
                      : setting == "auto"
                          ? " (not applied: auto equalizes per-tensor weights with a depthwise conv pair)"
                          : " (no conv pair to equalize)";
    absl::StrAppend(out, "equalization: ", setting, why, "\n");
    return;
  }
  absl::StrAppend(out, "equalization: ", setting, " (", pairs->size(), " conv pairs, ",
                  static_cast<int64_t>(Num(r, "equalization_sweeps")), " sweeps)\n");
  auto spread = [](const Json& p, const char* before, const char* after) {
    return absl::StrFormat("%.1f -> %.1f", Num(p, before), Num(p, after));
  };
  std::vector<std::vector<std::string>> rows = {{"PAIR", "SCALE s", "W1 SPREAD", "W2 SPREAD", "ACTIVATION SPREAD"}};
  for (const Json& p : *pairs) {
    rows.push_back({absl::StrCat(Str(p, "first"), " -> ", Str(p, "second")),
                    absl::StrFormat("%.3g..%.3g", Num(p, "scale_min"), Num(p, "scale_max")),
                    spread(p, "first_weight_spread_before", "first_weight_spread_after"),
                    spread(p, "second_weight_spread_before", "second_weight_spread_after"),
                    spread(p, "activation_spread_before", "activation_spread_after")});
  }
  AppendTable(rows, out);
}

// A layer's int8 input: "s8 sym", "u8 sym", "u8 asym zp 12"; "-" when it reads float.
std::string InputScheme(const Json& l) {
  const std::string scheme = Str(l, "input_scheme");
  if (scheme.empty()) return "-";
  const std::string type = Str(l, "input_dtype") == "UINT8" ? "u8" : "s8";
  if (scheme != "asymmetric") return absl::StrCat(type, " sym");
  return absl::StrCat(type, " asym zp ", static_cast<int64_t>(Num(l, "input_zero_point")));
}

}  // namespace

absl::StatusOr<std::string> FormatReport(const std::string& report_json) {
  const Json r = Json::parse(report_json, nullptr, /*allow_exceptions=*/false);
  if (r.is_discarded() || !r.is_object()) {
    return absl::InvalidArgumentError("the quantization report is not a JSON object");
  }
  std::string out;
  const std::string mode = Str(r, "mode");
  const bool checked = Num(r, "eval_samples") > 0;
  absl::StrAppend(&out, "quantization: ", mode.empty() ? "?" : mode);
  if (!Str(r, "method").empty())
    absl::StrAppend(&out, " (", Str(r, "method"), " calibration, ", static_cast<int64_t>(Num(r, "calibration_samples")),
                    " samples)");
  absl::StrAppend(&out, ", target ",
                  !checked ? "not checked (no evaluation data)" : (Bool(r, "target_met") ? "met" : "MISSED"), "\n");

  // Layers.
  auto layers = r.find("layers");
  if (layers != r.end() && layers->is_array() && !layers->empty()) {
    std::vector<std::vector<std::string>> rows = {{"LAYER", "OP", "PRECISION", "INPUT", "SQNR dB", "WHY"}};
    for (const Json& l : *layers) {
      const std::string precision = Str(l, "precision");
      const bool has_sqnr = checked && precision != "fp32";
      // The reason repeats the precision as its prefix ("bf16: ..."): shown once.
      std::string why = Str(l, "reason");
      if (absl::StartsWith(why, precision + ": ")) why = why.substr(precision.size() + 2);
      rows.push_back({Str(l, "node"), Str(l, "op"), precision, InputScheme(l),
                      has_sqnr ? absl::StrFormat("%.1f", Num(l, "sqnr_db")) : "-", why.empty() ? "-" : why});
    }
    absl::StrAppend(&out, "layers:\n");
    AppendTable(rows, &out);
    if (const std::string setting = Str(r, "activations"); !setting.empty()) {
      int64_t asymmetric = 0;
      for (const Json& l : *layers) asymmetric += Str(l, "input_scheme") == "asymmetric" ? 1 : 0;
      absl::StrAppend(&out, "activations: ", setting, " (", asymmetric, " layers read asymmetric u8)\n");
    }
  }

  // SmoothQuant: per smoothed activation, alpha and its range over channels.
  auto smoothing = r.find("smoothing");
  if (smoothing != r.end() && smoothing->is_array() && !smoothing->empty()) {
    std::vector<std::vector<std::string>> rows = {
        {"SMOOTHED TENSOR", "FOLDED INTO", "MATMULS", "ALPHA", "MAX|x| BEFORE -> AFTER", "MEDIAN BEFORE -> AFTER"}};
    for (const Json& s : *smoothing) {
      rows.push_back({Str(s, "tensor"), Str(s, "folded_into"), absl::StrJoin(Strings(s, "matmuls"), ","),
                      absl::StrFormat("%.2f", Num(s, "alpha")),
                      absl::StrFormat("%.3g -> %.3g", Num(s, "absmax_before"), Num(s, "absmax_after")),
                      absl::StrFormat("%.3g -> %.3g", Num(s, "median_before"), Num(s, "median_after"))});
    }
    absl::StrAppend(&out, "smoothquant:\n");
    AppendTable(rows, &out);
  }
  for (const std::string& skipped : Strings(r, "smoothing_skipped")) {
    absl::StrAppend(&out, "  not smoothed: ", skipped, "\n");
  }
  AppendEqualization(r, &out);

  // Accuracy.
  if (checked) {
    const std::string metric = Str(r, "metric");
    absl::StrAppend(&out, "accuracy (", metric, " on ", static_cast<int64_t>(Num(r, "eval_samples")),
                    " held-out samples):\n");
    if (Bool(r, "has_labels")) {
      absl::StrAppend(&out, "  top-1     fp32 ", Percent(Num(r, "fp32_top1")), "  int8 ", Percent(Num(r, "int8_top1")),
                      "\n");
    }
    absl::StrAppend(&out, "  agreement ", Percent(Num(r, "agreement")), " (int8 top-1 == fp32 top-1)\n");
    absl::StrAppend(&out, "  drop      ", absl::StrFormat("%.4f", Num(r, "drop")), " (max ",
                    absl::StrFormat("%.4f", Num(r, "max_drop")), "): target ", Bool(r, "target_met") ? "met" : "MISSED",
                    "\n");
    if (r.contains("drop_low")) {
      // The significance check: fallback only when the drop is above max_drop at this confidence.
      absl::StrAppend(&out, "            ", absl::StrFormat("%.0f", 100 * Num(r, "confidence")), "% bounds [",
                      absl::StrFormat("%.4f", Num(r, "drop_low")), ", ", absl::StrFormat("%.4f", Num(r, "drop_high")),
                      "], ", static_cast<int64_t>(Num(r, "drop_worse")), " worse / ",
                      static_cast<int64_t>(Num(r, "drop_better")), " better rows, McNemar p ",
                      absl::StrFormat("%.3g", Num(r, "drop_p_value")),
                      Bool(r, "more_samples_needed") ? "; inconclusive: more samples would be needed" : "", "\n");
    }
  }
  if (!Str(r, "fallback").empty()) {
    absl::StrAppend(&out, "fallback: ", Str(r, "fallback"), " (first rung on this CPU: ", Str(r, "fallback_resolved"),
                    ")\n");
  }
  const std::vector<std::string> bf16 = Strings(r, "bf16_layers");
  if (!bf16.empty()) absl::StrAppend(&out, "fallback to bf16: ", absl::StrJoin(bf16, ", "), "\n");
  const std::vector<std::string> fallback = Strings(r, "fallback_layers");
  absl::StrAppend(&out, "fallback to fp32: ", fallback.empty() ? "none" : absl::StrJoin(fallback, ", "), "\n");
  const std::vector<std::string> blocking = Strings(r, "blocking_layers");
  if (!blocking.empty()) absl::StrAppend(&out, "still too sensitive: ", absl::StrJoin(blocking, ", "), "\n");

  // The model-level precision (a report from before it existed has none).
  constexpr const char* kPrecisions[] = {"int8", "bf16", "fp32"};
  if (const std::string precision = Str(r, "precision"); !precision.empty()) {
    std::vector<std::string> counts;
    auto per_precision = r.find("precision_layers");
    for (const char* p : kPrecisions) {
      if (per_precision != r.end() && per_precision->is_object()) {
        counts.push_back(absl::StrCat(static_cast<int64_t>(Num(*per_precision, p)), " ", p));
      }
    }
    absl::StrAppend(&out, "precision: ", precision, counts.empty() ? "" : " (", absl::StrJoin(counts, ", "),
                    counts.empty() ? "" : " weighted layers)", "\n");
  }

  // Size and speed.
  const double w32 = Num(r, "weight_bytes_fp32"), w8 = Num(r, "weight_bytes_int8");
  absl::StrAppend(&out, "weights: fp32 ", MiB(w32), " -> served ", MiB(w8));
  if (w8 > 0) absl::StrAppend(&out, absl::StrFormat(" (%.2fx smaller)", w32 / w8));
  if (auto bytes = r.find("precision_weight_bytes"); bytes != r.end() && bytes->is_object()) {
    std::vector<std::string> parts;
    for (const char* p : kPrecisions) parts.push_back(absl::StrCat(p, " ", MiB(Num(*bytes, p))));
    absl::StrAppend(&out, ": ", absl::StrJoin(parts, ", "));
  }
  absl::StrAppend(&out, "\n");
  absl::StrAppend(&out, "latency batch 1:  ", Latency(Num(r, "latency_fp32_b1_ms"), Num(r, "latency_int8_b1_ms")),
                  "\n");
  absl::StrAppend(&out, "latency batch 16: ", Latency(Num(r, "latency_fp32_b16_ms"), Num(r, "latency_int8_b16_ms")),
                  "\n");
  absl::StrAppend(&out, "isa: ", Str(r, "isa").empty() ? "?" : Str(r, "isa"), "\n");
  absl::StrAppend(&out, absl::StrFormat("quantized in %.2f s\n", Num(r, "quantization_seconds")));
  return out;
}

}  // namespace q8::client
