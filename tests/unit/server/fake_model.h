// FakeModel: a CompiledModel without the engine, for server unit tests.
// Input "x" FP32 [-1,2]; outputs "sum" FP32 [-1,1] (x0+x1) and "sign" INT8
// [-1,1] (sign of x0). Compile via FakeCompile: bytes "bad" fail.
#pragma once

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/compiled_model.h"
#include "engine/compiler.h"
#include "engine/quantize.h"

namespace q8::server::testing {

class FakeModel : public engine::CompiledModel {
 public:
  explicit FakeModel(int64_t max_batch = 8, std::atomic<int>* alive = nullptr) : max_batch_(max_batch), alive_(alive) {
    inputs_ = {{"x", core::DataType::kFloat32, {-1, 2}}};
    outputs_ = {{"sum", core::DataType::kFloat32, {-1, 1}}, {"sign", core::DataType::kInt8, {-1, 1}}};
    if (alive_ != nullptr) ++*alive_;
  }
  ~FakeModel() override {
    if (alive_ != nullptr) --*alive_;
  }
  const std::vector<engine::TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<engine::TensorInfo>& outputs() const override { return outputs_; }
  int64_t max_batch_size() const override { return max_batch_; }
  const engine::CompileReport& report() const override { return report_; }
  absl::Status ValidateInputs(absl::Span<const core::TensorView> inputs) const override {
    if (inputs.size() != 1) return absl::InvalidArgumentError("want 1 input");
    return absl::OkStatus();
  }
  std::vector<core::Dims> OutputDims(int64_t batch) const override { return {{batch, 1}, {batch, 1}}; }
  absl::Status Run(absl::Span<const core::TensorView> inputs,
                   absl::Span<const core::MutableTensorView> outputs) const override {
    const float* x = static_cast<const float*>(inputs[0].data);
    float* sum = static_cast<float*>(outputs[0].data);
    int8_t* sign = static_cast<int8_t*>(outputs[1].data);
    for (int64_t b = 0; b < inputs[0].dims[0]; ++b) {
      sum[b] = x[2 * b] + x[2 * b + 1];
      sign[b] = x[2 * b] > 0 ? 1 : (x[2 * b] < 0 ? -1 : 0);
    }
    return absl::OkStatus();
  }
  // 100 weight bytes: 60 of them int8, 10 bf16 (the rest f32).
  engine::MemoryStats memory() const override { return {100, 0, 0, 60, 10}; }
  int64_t plan_builds() const override { return 3; }
  int64_t cached_plans() const override { return 2; }
  absl::StatusOr<std::vector<engine::PrimitiveInfo>> Primitives(int64_t) const override {
    return std::vector<engine::PrimitiveInfo>{};
  }

 private:
  int64_t max_batch_;
  std::atomic<int>* alive_;
  std::vector<engine::TensorInfo> inputs_, outputs_;
  engine::CompileReport report_;
};

inline absl::StatusOr<std::shared_ptr<const engine::CompiledModel>> FakeCompile(absl::string_view bytes,
                                                                                const engine::CompileOptions& options) {
  if (bytes == "bad") return absl::InvalidArgumentError("unsupported op 'Erf' (node 'n0')");
  return std::shared_ptr<const engine::CompiledModel>(std::make_shared<FakeModel>(options.max_batch_size));
}

// Engine quantization without the engine. Quantize: "bad" bytes fail like
// Compile; static without data is FAILED_PRECONDITION (as the engine); data
// whose first value is negative is INVALID_ARGUMENT ("calibration inputs
// contain NaN or Inf"); otherwise a FakeModel, a report with one int8 layer
// ("fc") and the artifact "artifact:<mode>:<samples>". Progress: one event per
// stage. LoadQuantized: DATA_LOSS unless the artifact starts with "artifact:".
struct FakeQuantizer {
  std::atomic<int> quantize_calls{0};
  std::atomic<int> load_calls{0};

  absl::StatusOr<engine::QuantizationResult> Quantize(absl::string_view bytes, const engine::CompileOptions& compile,
                                                      const engine::QuantizationOptions& options,
                                                      const engine::CalibrationData* data,
                                                      const engine::ProgressFn& progress) {
    ++quantize_calls;
    auto model = FakeCompile(bytes, compile);
    if (!model.ok()) return model.status();
    if (options.mode == engine::QuantMode::kStatic && data == nullptr) {
      return absl::FailedPreconditionError("static quantization needs calibration data");
    }
    if (data != nullptr && data->inputs.num_elements() > 0 && data->inputs.dtype() == core::DataType::kFloat32 &&
        data->inputs.span<float>()[0] < 0) {
      return absl::InvalidArgumentError("calibration inputs contain NaN or Inf");
    }
    const int64_t samples = data != nullptr ? engine::CalibrationSamples(*data) : 0;
    if (progress) {
      for (const char* stage : {"calibration", "quantization", "evaluation", "benchmark"}) progress({stage, 1, 1, ""});
    }
    engine::QuantizationResult r;
    r.model = *model;
    r.fp32_model = *FakeCompile(bytes, compile);
    r.report.mode = engine::ToString(options.mode);
    r.report.metric = "agreement";
    r.report.eval_samples = samples / 5;
    r.report.calibration_samples = samples - samples / 5;
    r.report.quantization_seconds = 0.25;  // a timing: differs between runs in the real engine
    r.report.layers.push_back({"fc", "Gemm", "int8", "INT8", 0.1f, 0.2f, 0.01f, 0.02f, 40, 1});
    r.artifact = absl::StrCat("artifact:", r.report.mode, ":", samples);
    return r;
  }
  absl::StatusOr<engine::QuantizationResult> LoadQuantized(absl::string_view bytes, absl::string_view artifact,
                                                           absl::string_view report_json,
                                                           const engine::CompileOptions& compile) {
    ++load_calls;
    if (!absl::StartsWith(artifact, "artifact:")) return absl::DataLossError("not a q8serve quantization file");
    auto model = FakeCompile(bytes, compile);
    if (!model.ok()) return model.status();
    auto report = engine::QuantizationReport::FromJson(std::string(report_json));
    if (!report.ok()) return report.status();
    engine::QuantizationResult r;
    r.model = *model;
    r.fp32_model = *FakeCompile(bytes, compile);
    r.report = *std::move(report);
    r.artifact = std::string(artifact);
    return r;
  }
};

}  // namespace q8::server::testing
