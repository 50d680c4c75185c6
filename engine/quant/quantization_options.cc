// Option validation and the enum <-> name tables.
#include "engine/quant/quantization_options.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace q8::engine {
namespace {

template <typename E, size_t N>
absl::StatusOr<E> Parse(const std::array<std::pair<E, const char*>, N>& table, const std::string& s, const char* what) {
  std::vector<std::string> names;
  for (const auto& [value, name] : table) {
    if (s == name) return value;
    names.push_back(name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ", what, " '", s, "'; expected one of: ", absl::StrJoin(names, ", ")));
}

template <typename E, size_t N>
std::string Name(const std::array<std::pair<E, const char*>, N>& table, E e) {
  for (const auto& [value, name] : table) {
    if (value == e) return name;
  }
  return "?";
}

constexpr std::array<std::pair<QuantMode, const char*>, 3> kModes = {
    {{QuantMode::kStatic, "static"}, {QuantMode::kDynamic, "dynamic"}, {QuantMode::kNone, "none"}}};
constexpr std::array<std::pair<CalibrationMethod, const char*>, 4> kMethods = {
    {{CalibrationMethod::kMinMax, "minmax"},
     {CalibrationMethod::kPercentile, "percentile"},
     {CalibrationMethod::kEntropy, "entropy"},
     {CalibrationMethod::kMse, "mse"}}};
constexpr std::array<std::pair<AccuracyMetric, const char*>, 2> kMetrics = {
    {{AccuracyMetric::kTop1, "top1"}, {AccuracyMetric::kAgreement, "agreement"}}};
constexpr std::array<std::pair<FallbackPrecision, const char*>, 3> kFallbacks = {
    {{FallbackPrecision::kAuto, "auto"}, {FallbackPrecision::kBf16, "bf16"}, {FallbackPrecision::kFp32, "fp32"}}};

constexpr std::array<std::pair<ActivationScheme, const char*>, 3> kActivationSchemes = {
    {{ActivationScheme::kSymmetric, "symmetric"},
     {ActivationScheme::kAsymmetric, "asymmetric"},
     {ActivationScheme::kAuto, "auto"}}};

constexpr std::array<std::pair<Equalization, const char*>, 3> kEqualizations = {
    {{Equalization::kAuto, "auto"}, {Equalization::kOn, "on"}, {Equalization::kOff, "off"}}};

}  // namespace

std::string ToString(Equalization e) { return Name(kEqualizations, e); }
std::string ToString(QuantMode m) { return Name(kModes, m); }
std::string ToString(CalibrationMethod m) { return Name(kMethods, m); }
std::string ToString(AccuracyMetric m) { return Name(kMetrics, m); }
std::string ToString(FallbackPrecision f) { return Name(kFallbacks, f); }
std::string ToString(ActivationScheme a) { return Name(kActivationSchemes, a); }
absl::StatusOr<QuantMode> ParseQuantMode(const std::string& s) { return Parse(kModes, s, "quantization mode"); }
absl::StatusOr<CalibrationMethod> ParseCalibrationMethod(const std::string& s) {
  return Parse(kMethods, s, "calibration method");
}
absl::StatusOr<AccuracyMetric> ParseAccuracyMetric(const std::string& s) {
  return Parse(kMetrics, s, "accuracy metric");
}
absl::StatusOr<FallbackPrecision> ParseFallbackPrecision(const std::string& s) {
  return Parse(kFallbacks, s, "fallback precision");
}

absl::StatusOr<ActivationScheme> ParseActivationScheme(const std::string& s) {
  return Parse(kActivationSchemes, s, "activation scheme");
}

absl::Status ValidateOptions(const QuantizationOptions& o) {
  if (!(o.max_drop >= 0.0 && o.max_drop <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("accuracy.max_drop must be in [0, 1] (an absolute fraction, "
                     "e.g. 0.005 for half a point), got ",
                     o.max_drop));
  }
  if (!(o.confidence >= 0.5 && o.confidence <= 0.9999)) {
    return absl::InvalidArgumentError(
        absl::StrCat("accuracy.confidence must be in [0.5, 0.9999] (e.g. 0.95), got ", o.confidence));
  }
  if (!(o.eval_fraction >= 0.0 && o.eval_fraction <= 0.9)) {
    return absl::InvalidArgumentError(
        absl::StrCat("accuracy.eval_fraction must be in [0, 0.9], got ", o.eval_fraction));
  }
  if (!(o.percentile > 50.0 && o.percentile <= 100.0)) {
    return absl::InvalidArgumentError(absl::StrCat("calibration.percentile must be in (50, 100], got ", o.percentile));
  }
  if (o.smoothquant.enabled && !o.smoothquant.search && !(o.smoothquant.alpha >= 0.0 && o.smoothquant.alpha <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("smoothquant.alpha must be in [0, 1] or \"auto\", got ", o.smoothquant.alpha));
  }
  if (ToString(o.equalization) == "?") {
    return absl::InvalidArgumentError(
        absl::StrCat("equalization must be auto, on or off, got value ", static_cast<int>(o.equalization)));
  }
  if (o.bf16_min_macs && *o.bf16_min_macs < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bf16_min_macs must be >= 0, got ", *o.bf16_min_macs));
  }
  if (ToString(o.activations) == "?") {
    return absl::InvalidArgumentError(
        absl::StrCat("activations must be symmetric, asymmetric or auto, got value ", static_cast<int>(o.activations)));
  }
  if (o.max_samples < 1) {
    return absl::InvalidArgumentError(absl::StrCat("calibration.max_samples must be >= 1, got ", o.max_samples));
  }
  return absl::OkStatus();
}

}  // namespace q8::engine
