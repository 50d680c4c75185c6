// What a user can ask of quantize-on-upload, with the documented defaults,
// and the calibration data that comes with it. Plain data; parsing JSON into
// it is the server's job, validating it is ours.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace q8::engine {

enum class QuantMode { kStatic, kDynamic, kNone };
enum class CalibrationMethod { kMinMax, kPercentile, kEntropy, kMse };
enum class AccuracyMetric { kTop1, kAgreement };
// Where a layer goes when int8 fails the accuracy check (the precision
// ladder int8 -> bf16 -> fp32). kAuto: bf16 first where the CPU computes
// bf16 natively, then fp32 if bf16 still fails the check; fp32 directly on
// other CPUs. kBf16: bf16 and no further (a layer still failing stays bf16
// and the report names it as blocking). kFp32: straight to fp32.
enum class FallbackPrecision { kAuto, kBf16, kFp32 };

struct QuantizationOptions {
  QuantMode mode = QuantMode::kStatic;
  CalibrationMethod method = CalibrationMethod::kPercentile;
  double percentile = 99.99;  // for kPercentile, in (50, 100]
  int64_t max_samples = 512;  // calibration samples used (after the eval split)
  bool per_channel = true;    // per-output-channel weight scales
  // Top-1 against labels when labels are sent, else top-1 agreement with fp32.
  std::optional<AccuracyMetric> metric;
  double max_drop = 0.01;  // absolute, in [0, 1]
  // Fall back to fp32 only when the drop exceeds max_drop with this
  // confidence (paired exact test on the evaluation rows), in [0.5, 0.9999].
  double confidence = 0.95;
  double eval_fraction = 0.2;  // share of the samples held out for the check, in [0, 0.9]
  FallbackPrecision fallback = FallbackPrecision::kAuto;
};

absl::Status ValidateOptions(const QuantizationOptions& options);

// Names used in config JSON and reports ("static", "percentile", "top1", ...).
std::string ToString(QuantMode m);
std::string ToString(CalibrationMethod m);
std::string ToString(AccuracyMetric m);
std::string ToString(FallbackPrecision f);
absl::StatusOr<QuantMode> ParseQuantMode(const std::string& s);
absl::StatusOr<CalibrationMethod> ParseCalibrationMethod(const std::string& s);
absl::StatusOr<AccuracyMetric> ParseAccuracyMetric(const std::string& s);
absl::StatusOr<FallbackPrecision> ParseFallbackPrecision(const std::string& s);

// Samples for calibration and the accuracy check: `inputs` [N, ...] matching
// the model's (single) input; optional `labels` int64 [N] class ids.
struct CalibrationData {
  core::Tensor inputs;
  std::optional<core::Tensor> labels;
};

}  // namespace q8::engine
