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

}  // namespace

std::string PlatformOf(const ServedModel& served) {
  return served.quantization != nullptr && served.quantization->int8 ? kPlatformInt8 : kPlatformFp32;
}

std::string QuantizationSummary(const engine::QuantizationReport& report) {
  if (report.mode == "none") return "fp32 (quantization mode none)";
  if (!AnyInt8(report)) {
    return absl::StrCat("fp32 (", report.mode, ": ",
                        report.layers.empty() ? "no quantizable layer" : "every layer fell back", ")");
  }
  std::string out = absl::StrCat("int8 ", report.mode);
  if (report.eval_samples == 0) return absl::StrCat(out, ", accuracy not checked");
  if (report.target_met) return absl::StrCat(out, ", target met");
  return absl::StrCat(out, ", target missed (", report.metric, " drop ", report.drop, " > ", report.max_drop, ")");
}

std::shared_ptr<const QuantizationInfo> MakeQuantizationInfo(engine::QuantizationReport report, std::string report_json,
                                                             std::string artifact) {
  auto info = std::make_shared<QuantizationInfo>();
  info->int8 = AnyInt8(report);
  info->precision = !report.precision.empty() ? report.precision : info->int8 ? "int8" : "fp32";
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
    std::string out = absl::StrCat(q->int8 ? "int8" : "fp32", " (calibrated on ", q->live_samples, " live samples at ",
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
