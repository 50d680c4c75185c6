// What a user can ask of quantize-on-upload, with the documented defaults
// (the calibration data is engine/quant/calibration_data.h). Plain data; parsing JSON into
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
// Cross-layer equalization before calibration (engine/passes/equalize_cross_layer.h).
// kAuto equalizes per-tensor weights with a depthwise conv pair only
// (engine/quant/equalization.h says why, RESULTS.md has the measurements).
enum class Equalization { kAuto, kOn, kOff };

// SmoothQuant (smoothquant.h): migrate activation outliers into the next
// matmul's weights before calibration. `alpha` in [0, 1] is the share of the
// range moved (0.5 balances both); `search` picks it per model instead.
struct SmoothQuantOptions {
  bool enabled = false;
  double alpha = 0.5;
  bool search = false;  // alpha "auto": best output SQNR on calibration rows over a small grid
};
// Where a layer goes when int8 fails the accuracy check (the precision
// ladder int8 -> bf16 -> fp32). kAuto: bf16 first where the CPU computes
// bf16 natively and bf16 is faster than fp32 at the layer's size
// (engine/quant/bf16_speed.h), then fp32 if bf16 still fails the check;
// fp32 directly for smaller layers and on other CPUs. kBf16: bf16 and no further (a layer still failing stays bf16
// and the report names it as blocking). kFp32: straight to fp32.
enum class FallbackPrecision { kAuto, kBf16, kFp32 };
// How static activations that change sign are stored (quantizer.h,
// ChooseActivationScheme): kSymmetric s8 (zero point 0); kAsymmetric u8 with
// a zero point wherever the tensor qualifies (read only by int8 MatMul/Gemm,
// its own scale); kAuto asymmetric only where the calibrated range is skewed
// enough to gain at least kMinAsymmetricGainDb of SQNR.
enum class ActivationScheme { kSymmetric, kAsymmetric, kAuto };

struct QuantizationOptions {
  QuantMode mode = QuantMode::kStatic;
  CalibrationMethod method = CalibrationMethod::kPercentile;
  double percentile = 99.99;  // for kPercentile, in (50, 100]
  int64_t max_samples = 512;  // calibration samples used (after the eval split)
  bool per_channel = true;    // per-output-channel weight scales
  Equalization equalization = Equalization::kAuto;
  // Top-1 against labels when labels are sent, else top-1 agreement with fp32.
  std::optional<AccuracyMetric> metric;
  double max_drop = 0.01;  // absolute, in [0, 1]
  // Fall back to fp32 only when the drop exceeds max_drop with this
  // confidence (paired exact test on the evaluation rows), in [0.5, 0.9999].
  double confidence = 0.95;
  double eval_fraction = 0.2;      // share of the samples held out for the check, in [0, 0.9]
  SmoothQuantOptions smoothquant;  // static mode only
  FallbackPrecision fallback = FallbackPrecision::kAuto;
  // kAuto's size rule: layers of fewer multiply-adds per sample go to fp32
  // rather than bf16. Unset: the measured kBf16MinMacs (bf16_speed.h). Not a
  // config field; tests set it to put a layer on either side of the rule.
  std::optional<int64_t> bf16_min_macs;
  ActivationScheme activations = ActivationScheme::kSymmetric;  // static mode only
};

absl::Status ValidateOptions(const QuantizationOptions& options);

// Names used in config JSON and reports ("static", "percentile", "top1", ...).
std::string ToString(QuantMode m);
std::string ToString(CalibrationMethod m);
std::string ToString(AccuracyMetric m);
std::string ToString(Equalization e);  // "auto", "on", "off"
std::string ToString(FallbackPrecision f);
std::string ToString(ActivationScheme a);  // "symmetric", "asymmetric", "auto"
absl::StatusOr<QuantMode> ParseQuantMode(const std::string& s);
absl::StatusOr<CalibrationMethod> ParseCalibrationMethod(const std::string& s);
absl::StatusOr<AccuracyMetric> ParseAccuracyMetric(const std::string& s);
absl::StatusOr<FallbackPrecision> ParseFallbackPrecision(const std::string& s);
absl::StatusOr<ActivationScheme> ParseActivationScheme(const std::string& s);

}  // namespace q8::engine
