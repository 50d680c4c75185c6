#include "server/served_model.h"

#include <functional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace q8::server {
namespace {

bool AnyInt8(const engine::QuantizationReport& report) {
  for (const engine::LayerReport& layer : report.layers) {
    if (layer.precision.rfind("int8", 0) == 0) return true;
  }
  return false;
}

// The served model in one word: the precision stage's label over weighted
// layers ("int8", "bf16", "fp32" or "mixed"); reports written before the
// label existed say int8 when any layer runs it.
std::string PrecisionOf(const engine::QuantizationReport& report) {
  if (!report.precision.empty()) return report.precision;
  return AnyInt8(report) ? "int8" : "fp32";
}

// "int8 7, bf16 2, fp32 1": weighted layers per precision, for a mixed model.
std::string LayerCounts(const engine::QuantizationReport& report) {
  std::string out;
  for (const char* precision : {"int8", "bf16", "fp32"}) {
    const auto it = report.precision_layers.find(precision);
    if (it == report.precision_layers.end() || it->second == 0) continue;
    absl::StrAppend(&out, out.empty() ? "" : ", ", precision, " ", it->second);
  }
  return out;
}

}  // namespace

std::string PlatformOf(const ServedModel& served) {
  return served.quantization != nullptr && served.quantization->int8 ? kPlatformInt8 : kPlatformFp32;
}

std::string QuantizationSummary(const engine::QuantizationReport& report) {
  if (report.mode == "none") return "fp32 (quantization mode none)";
  const std::string precision = PrecisionOf(report);
  const std::string counts = precision == "mixed" ? LayerCounts(report) : "";
  if (!AnyInt8(report)) {
    return absl::StrCat(precision, " (", report.mode, ": ",
                        report.layers.empty() ? "no quantizable layer" : "every layer fell back",
                        counts.empty() ? "" : "; ", counts, ")");
  }
  std::string out = absl::StrCat(precision, " ", report.mode);
  if (!counts.empty()) absl::StrAppend(&out, " (", counts, ")");
  if (report.eval_samples == 0) return absl::StrCat(out, ", accuracy not checked");
  if (report.target_met) return absl::StrCat(out, ", target met");
  return absl::StrCat(out, ", target missed (", report.metric, " drop ", report.drop, " > ", report.max_drop, ")");
}

std::shared_ptr<const QuantizationInfo> MakeQuantizationInfo(engine::QuantizationReport report, std::string report_json,
                                                             std::string artifact) {
  auto info = std::make_shared<QuantizationInfo>();
  info->int8 = AnyInt8(report);
  info->precision = PrecisionOf(report);
  info->summary = QuantizationSummary(report);
  // The server's own entry; the engine's parser ignores it.
  const nlohmann::json j = nlohmann::json::parse(report_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("live_calibration") && j["live_calibration"].is_object()) {
    const nlohmann::json& live = j["live_calibration"];
    if (live.contains("samples") && live["samples"].is_number_integer()) {
      info->live_samples = live["samples"].get<int64_t>();
    }
    if (live.contains("calibrated_at") && live["calibrated_at"].is_string()) {
      info->live_calibrated_at = live["calibrated_at"].get<std::string>();
    }
  }
  info->report = std::move(report);
  info->report_json = std::move(report_json);
  info->artifact = std::move(artifact);
  return info;
}

std::string ServingStatus(const ServedModel& served) {
  if (served.live != nullptr) return served.live->Describe();
  const QuantizationInfo* q = served.quantization.get();
  if (q == nullptr) return "fp32 (quantization mode none)";
  if (q->live_samples > 0) {
    std::string out = absl::StrCat(q->precision, " (calibrated on ", q->live_samples, " live samples at ",
                                   q->live_calibrated_at, ")");
    if (q->int8 && !q->report.target_met) absl::StrAppend(&out, ", ", q->summary);
    return out;
  }
  return q->summary;
}

std::string ServingStatusLabel(const ServedModel& served) {
  if (served.live != nullptr) return served.live->StateLabel();
  const QuantizationInfo* q = served.quantization.get();
  if (q == nullptr) return "none";
  if (q->live_samples > 0) return "int8_live";
  return q->report.mode;
}

std::string WithLiveCalibration(const std::string& report_json, int64_t samples, const std::string& calibrated_at) {
  nlohmann::json j = nlohmann::json::parse(report_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return report_json;
  j["live_calibration"] = {{"samples", samples}, {"calibrated_at", calibrated_at}};
  return j.dump(2);
}

uint64_t Fingerprint(absl::string_view bytes) {
  // In-process comparison only (never persisted), so std::hash is enough;
  // mixing in the size makes equal-prefix truncations differ too.
  const uint64_t h = std::hash<std::string_view>()(std::string_view(bytes.data(), bytes.size()));
  return h ^ (static_cast<uint64_t>(bytes.size()) * 0x9E3779B97F4A7C15ull);
}

}  // namespace q8::server
