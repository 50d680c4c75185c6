// Quantize-on-upload, the engine side: a float ONNX model plus calibration
// samples in; an int8 CompiledModel, its fp32 reference, a report and a
// persistable artifact out. Also reloads a persisted quantization without
// recalibrating.
//
// Expensive (seconds to minutes): runs calibration, candidate builds and the
// accuracy check. Deterministic: the same model, data and options give the
// same artifact bytes (apart from timings in the report).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/compiler.h"
#include "engine/quant/calibration_data.h"
#include "engine/quant/calibrator.h"
#include "engine/quant/quantization_options.h"
#include "engine/quant/quantization_report.h"

namespace q8::engine {

struct QuantizationResult {
  std::shared_ptr<const CompiledModel> model;       // what to serve (int8, or fp32 for mode none)
  std::shared_ptr<const CompiledModel> fp32_model;  // the float reference (shadow evaluation)
  QuantizationReport report;                        // persist too (report.ToJson()); it carries timings
  std::string artifact;                             // deterministic; persist beside model.onnx, feed to LoadQuantized
};

// Errors: INVALID_ARGUMENT for bad options or calibration data (wrong shape
// or dtype, NaN/Inf, label count), FAILED_PRECONDITION for static mode
// without data or for multi-input models, plus everything Compile returns.
absl::StatusOr<QuantizationResult> Quantize(absl::string_view onnx_bytes, const CompileOptions& compile,
                                            const QuantizationOptions& options, const CalibrationData* data,
                                            const ProgressFn& progress = nullptr);

// Rebuilds a quantized model from its float bytes, artifact and saved report.
absl::StatusOr<QuantizationResult> LoadQuantized(absl::string_view onnx_bytes, absl::string_view artifact,
                                                 absl::string_view report_json, const CompileOptions& compile);

}  // namespace q8::engine
