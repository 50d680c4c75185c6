// ONNX bytes -> engine::Compile (import, validation, shape inference, passes,
// plan) -> one Run on zeros at batch 1. Work per input is bounded: inputs
// and outputs above kMaxElements are not allocated, and the fuzzer runs with
// -rss_limit_mb / -malloc_limit_mb (scripts/fuzz.sh).
//
// Unless Q8_FUZZ_STRICT=1, inputs in the classes of the open crashes of
// issue 11 (fixed on the `validate` branch) are skipped before Compile so the
// run keeps exploring the rest; FUZZING.md lists them. The check parses the
// model a second time with the ONNX protobuf, which the engine never exposes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "engine/compiler.h"
#include "fuzz/fuzz_env.h"
#include "onnx/onnx_pb.h"

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 22;  // per input/output tensor (16 MiB of floats)

// Minimum inputs each supported op reads unconditionally.
const std::map<std::string, int> kMinInputs = {{"Add", 2},
                                               {"AveragePool", 1},
                                               {"BatchNormalization", 5},
                                               {"Clip", 1},
                                               {"Concat", 1},
                                               {"Conv", 2},
                                               {"Dropout", 1},
                                               {"Flatten", 1},
                                               {"Gemm", 2},
                                               {"GlobalAveragePool", 1},
                                               {"Identity", 1},
                                               {"MatMul", 2},
                                               {"MaxPool", 1},
                                               {"Mul", 2},
                                               {"Relu", 1},
                                               {"Reshape", 2},
                                               {"Sigmoid", 1},
                                               {"Softmax", 1},
                                               {"Transpose", 1}};

// Declared element count of a dims list, or -1 when it is negative, huge or overflows.
int64_t BoundedCount(const google::protobuf::RepeatedField<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > kMaxElements) return -1;
  }
  return n;
}

// True for the input classes with known open crashes (see the file comment).
bool KnownCrashClass(const uint8_t* data, size_t size) {
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size))) return false;  // the importer refuses it too
  const onnx::GraphProto& g = model.graph();
  for (const onnx::NodeProto& node : g.node()) {
    auto it = kMinInputs.find(node.op_type());
    if (it != kMinInputs.end() && node.input_size() < it->second) return true;  // arity
    for (int i = 0; i < std::min(node.input_size(), it == kMinInputs.end() ? 0 : it->second); ++i) {
      if (node.input(i).empty()) return true;  // a required slot left empty
    }
  }
  for (const onnx::TensorProto& t : g.initializer()) {
    if (BoundedCount(t.dims()) < 0) return true;  // allocation before checks / overflow
    if (t.data_type() != onnx::TensorProto::FLOAT && t.data_type() != onnx::TensorProto::INT64) {
      return true;  // initializer dtype not checked against what the op reads
    }
    for (int64_t v : t.int64_data()) {
      if (v > (int64_t{1} << 20) || v < -(int64_t{1} << 20)) return true;  // overflowing Reshape targets
    }
    if (t.data_type() == onnx::TensorProto::INT64 && !t.raw_data().empty()) {
      const std::string& raw = t.raw_data();
      for (size_t i = 0; i + 8 <= raw.size(); i += 8) {
        int64_t v;
        std::memcpy(&v, raw.data() + i, 8);
        if (v > (int64_t{1} << 20) || v < -(int64_t{1} << 20)) return true;
      }
    }
  }
  for (const onnx::NodeProto& node : g.node()) {
    for (const onnx::AttributeProto& a : node.attribute()) {
      if (a.type() == onnx::AttributeProto::TENSOR && BoundedCount(a.t().dims()) < 0) return true;
      for (int64_t v : a.ints()) {
        if (v > (int64_t{1} << 20) || v < -(int64_t{1} << 20)) return true;  // overflowing pads/strides/shapes
      }
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  q8::fuzz::QuietProcess();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!q8::fuzz::Strict() && KnownCrashClass(data, size)) return 0;
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
