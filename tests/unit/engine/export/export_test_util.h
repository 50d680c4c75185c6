// Helpers for the QDQ export tests: artifacts made without running int8
// kernels, the numpy reference interpreter as a subprocess, and a small
// residual/concat model that exercises every emitter path.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "engine/compiled_model.h"
#include "engine/quant/quantization_options.h"

namespace q8::engine::testing {

// Rows [begin, begin + count) of a batch-major tensor, as an owning copy.
core::Tensor CopyRows(const core::Tensor& t, int64_t begin, int64_t count);

// Calibrates the fp32 model on `samples` and serialises the quantizer's spec
// (no accuracy check, no fallback): only fp32 kernels run, so it works even
// where int8 kernels are unavailable. `samples` may be null for dynamic mode.
absl::StatusOr<std::string> CalibratedArtifact(const std::string& onnx, const core::Tensor* samples,
                                               const QuantizationOptions& options);

// The int8 model an artifact describes (needs the int8 kernels).
absl::StatusOr<std::shared_ptr<const CompiledModel>> BuildQuantized(const std::string& onnx,
                                                                    const std::string& artifact);

// Runs tools/onnx_numpy_ref.py on `model_bytes` with `inputs` after
// onnx.checker's full check (types and shapes); returns its first output. Files go to a fresh directory under the gtest
// temp dir.
absl::StatusOr<core::Tensor> RunNumpyReference(const std::string& model_bytes, const core::Tensor& inputs);

// Conv+Relu -> Conv with the residual Add and Relu fused (the residual is
// read again later, so the engine adds into a copy) -> a side-branch Conv
// accumulating another Conv's signed output in place -> AveragePool and
// MaxPool ->
// Concat -> 1x1 Conv with Clip and Sigmoid fused -> Transpose -> Flatten ->
// Gemm -> Softmax. Input "x" [batch, 3, 8, 8], output "probs" [batch, 10].
std::string ResidualConcatModel();

// Uniform [-1, 1] float samples of dims [n, 3, 8, 8].
core::Tensor RandomImages(int64_t n, uint32_t seed);

}  // namespace q8::engine::testing
