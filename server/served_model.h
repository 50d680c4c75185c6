// ServedModel: everything the server keeps about one loaded model version:
// the CompiledModel that answers requests, the fp32 reference it was derived
// from (shadow evaluation, export) and, for quantized versions, the report
// and artifact. Immutable once published; shared by the registry and
// in-flight requests through shared_ptrs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/compiled_model.h"
#include "engine/quant/quantization_report.h"
#include "server/execution/model_executor.h"
#include "server/live_sampler.h"

namespace q8::server {

inline constexpr char kPlatformInt8[] = "q8serve_onnx_int8";
inline constexpr char kPlatformFp32[] = "q8serve_onnx_fp32";

struct QuantizationInfo {
  engine::QuantizationReport report;
  std::string report_json;  // byte for byte what <version>/report.json holds
  std::string artifact;     // <version>/quantization.json (for Export)
  bool int8 = false;        // at least one layer runs in int8
  // The model-level label: the report's "int8", "bf16", "fp32" or "mixed"
  // (QuantizationReport::precision); for a report written before it
  // existed, "int8" or "fp32" by `int8`.
  std::string precision;
  std::string summary;  // "int8 static, target met" (RepositoryIndex reason)
  // Calibrated on live traffic (the report's "live_calibration" entry, which
  // the server adds): how many samples, when (RFC 3339, UTC). 0: not live.
  int64_t live_samples = 0;
  std::string live_calibrated_at;
};

struct ServedModel {
  ServedModel() = default;
  // A plain fp32 model (quantization mode "none"): serves as its own reference.
  ServedModel(std::shared_ptr<const engine::CompiledModel> fp32)  // NOLINT: implicit on purpose
      : model(fp32), fp32_model(std::move(fp32)) {}

  std::shared_ptr<const engine::CompiledModel> model;       // what ModelInfer runs
  std::shared_ptr<const engine::CompiledModel> fp32_model;  // float reference (== model for fp32)
  std::shared_ptr<const QuantizationInfo> quantization;     // null: not quantized (mode "none")
  // Runs `model`'s requests (streams, dynamic batching). Set by the loader
  // just before the version is published.
  std::shared_ptr<ModelExecutor> executor;
  // Fingerprint of the model.onnx bytes this was built from (0: unknown).
  // Export compares it with the file on disk to detect a concurrent replace.
  uint64_t onnx_fingerprint = 0;
  // Wall time the loader took to build this version (compile, quantize or
  // rebuild from the artifact), for q8serve_model_load_duration_seconds.
  double load_seconds = 0;
  // config.json "shadow_fraction"; unset: the server's --shadow_fraction.
  std::optional<double> shadow_fraction;
  // Set on an interim version of quantization mode "auto" (no calibration
  // data): its live calibration. Null otherwise.
  std::shared_ptr<LiveSampler> live;
};

// What serves and why, for the report, metadata, RepositoryIndex and
// metrics: "calibrating (137/512 samples)", "int8 (calibrated on 512 live
// samples at 2026-12-04T17:02:11Z)", "fp32 (live calibration off)", or the
// quantization summary ("int8 static, target met", "fp32 (quantization mode none)").
std::string ServingStatus(const ServedModel& served);
// One word per state for the metric label: calibrating, quantizing,
// live_failed, live_off, live_unsupported, int8_live, static, dynamic, none.
std::string ServingStatusLabel(const ServedModel& served);
// The report JSON with the "live_calibration" entry added.
std::string WithLiveCalibration(const std::string& report_json, int64_t samples, const std::string& calibrated_at);

// "q8serve_onnx_int8" when some layer runs in int8, else "q8serve_onnx_fp32".
std::string PlatformOf(const ServedModel& served);
// Builds the QuantizationInfo (int8 flag, summary) for a report.
std::shared_ptr<const QuantizationInfo> MakeQuantizationInfo(engine::QuantizationReport report, std::string report_json,
                                                             std::string artifact);
// "int8 static, target met", "int8 static, target missed (drop 0.031 > 0.01)",
// "int8 dynamic, accuracy not checked", "mixed static (int8 7, bf16 2, fp32 1),
// target met", "fp32 (static: every layer fell back)".
std::string QuantizationSummary(const engine::QuantizationReport& report);
uint64_t Fingerprint(absl::string_view bytes);

}  // namespace q8::server
