// ONNX bytes -> engine::Compile (import, validation, shape inference, passes,
// plan) -> one Run on zeros at batch 1. Work per input is bounded: inputs
// and outputs above kMaxElements are not allocated, and the fuzzer runs with
// -rss_limit_mb / -malloc_limit_mb (scripts/fuzz.sh).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "engine/compiler.h"
#include "fuzz/fuzz_env.h"

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 22;  // per input/output tensor (16 MiB of floats)

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  q8::fuzz::QuietProcess();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  q8::engine::CompileOptions options;
  options.max_batch_size = 2;
  options.warmup_batch_sizes = {};  // the one run happens below
  auto compiled = q8::engine::Compile(absl::string_view(reinterpret_cast<const char*>(data), size), options);
  if (!compiled.ok()) return 0;
  const q8::engine::CompiledModel& model = **compiled;

  std::vector<q8::core::Tensor> inputs;
  std::vector<q8::core::TensorView> views;
  for (const q8::engine::TensorInfo& info : model.inputs()) {
    q8::core::Dims dims = info.dims;
    for (int64_t& d : dims) {
      if (d == q8::core::kDynamicDim) d = 1;
      if (d < 0) abort();  // the compiler promised static dims apart from the batch
    }
    const int64_t n = q8::core::NumElements(dims);
    if (n < 0 || n > kMaxElements) return 0;
    inputs.emplace_back(info.dtype, dims);
    views.push_back(inputs.back().view());
  }
  for (const q8::core::Dims& dims : model.OutputDims(1)) {
    for (int64_t d : dims) {
      if (d < 0 || d > kMaxElements) return 0;
    }
    const int64_t n = q8::core::NumElements(dims);
    if (n < 0 || n > kMaxElements) return 0;
  }
  if (!model.ValidateInputs(views).ok()) abort();  // zeros of the declared shapes must be accepted
  auto outputs = model.Run(views);
  (void)outputs;  // an error status is fine; a crash is not
  return 0;
}
