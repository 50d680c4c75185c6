#include "server/served_model.h"

#include <functional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

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

std::shared_ptr<const QuantizationInfo> MakeQuantizationInfo(engine::QuantizationReport report,
                                                              std::string report_json, std::string artifact) {
  auto info = std::make_shared<QuantizationInfo>();
  info->int8 = AnyInt8(report);
  info->summary = QuantizationSummary(report);
  info->report = std::move(report);
  info->report_json = std::move(report_json);
  info->artifact = std::move(artifact);
  return info;
}

uint64_t Fingerprint(absl::string_view bytes) {
  // In-process comparison only (never persisted), so std::hash is enough;
  // mixing in the size makes equal-prefix truncations differ too.
  const uint64_t h = std::hash<std::string_view>()(std::string_view(bytes.data(), bytes.size()));
  return h ^ (static_cast<uint64_t>(bytes.size()) * 0x9E3779B97F4A7C15ull);
}

}  // namespace q8::server
