// ModelInferRequest bytes -> DecodeInputs -> OutputEncoder (server/
// tensor_codec), the path every inference request takes before and after the
// executor. Two models: request model_name "relu" gets a real compiled model
// (x FP32 [-1,4] -> Relu -> y, validated and run); any other name gets a
// synthetic signature with several dtypes, static and dynamic dims, whose
// outputs are filled with a byte pattern instead of running anything.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/compiler.h"
#include "fuzz/fuzz_env.h"
#include "inference.pb.h"
#include "server/tensor_codec.h"
#include "tests/testing/onnx_builder.h"

namespace {

using q8::core::DataType;
using q8::engine::TensorInfo;

std::shared_ptr<const q8::engine::CompiledModel> relu_model;

const std::vector<TensorInfo> kInputs = {
    {"x", DataType::kFloat32, {-1, 3, 4}},
    {"ids", DataType::kInt64, {-1, 2}},
    {"mask", DataType::kBool, {-1}},
    {"half", DataType::kFloat16, {-1, 2}},
};
const std::vector<TensorInfo> kOutputs = {
    {"y", DataType::kFloat32, {-1, 5}},
    {"k", DataType::kInt32, {-1}},
    {"h", DataType::kFloat16, {-1, 2}},
    {"u", DataType::kUInt8, {-1, 3}},
};
constexpr int64_t kMaxBatch = 8;

std::vector<q8::core::Dims> OutputDims(const std::vector<TensorInfo>& outputs, int64_t batch) {
  std::vector<q8::core::Dims> dims;
  for (const TensorInfo& o : outputs) {
    q8::core::Dims d = o.dims;
    for (int64_t& v : d) {
      if (v == q8::core::kDynamicDim) v = batch;
    }
    dims.push_back(std::move(d));
  }
  return dims;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  q8::fuzz::QuietProcess();
  q8::testing::OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  q8::engine::CompileOptions options;
  options.max_batch_size = kMaxBatch;
  auto model = q8::engine::Compile(b.Serialize(), options);
  if (!model.ok()) abort();
  relu_model = *model;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  const bool real = request.model_name() == "relu";
  const std::vector<TensorInfo>& inputs = real ? relu_model->inputs() : kInputs;
  const std::vector<TensorInfo>& outputs = real ? relu_model->outputs() : kOutputs;
  const int64_t max_batch = real ? relu_model->max_batch_size() : kMaxBatch;

  auto decoded = q8::server::DecodeInputs(request, inputs, max_batch, "fuzz");
  if (!decoded.ok()) return 0;
  if (decoded->tensors.size() != inputs.size()) abort();
  if (decoded->batch < 1 || decoded->batch > max_batch) abort();
  if (real && !relu_model->ValidateInputs(decoded->tensors).ok()) return 0;
  for (const q8::core::TensorView& t : decoded->tensors) {
    // Touch every decoded byte: a view past its buffer shows up under ASan.
    volatile uint8_t sink = 0;
    const auto* p = static_cast<const uint8_t*>(t.data);
    for (int64_t i = 0; i < t.byte_size(); ++i) sink = sink ^ p[i];
  }

  const std::vector<q8::core::Dims> dims =
      real ? relu_model->OutputDims(decoded->batch) : OutputDims(outputs, decoded->batch);
  inference::ModelInferResponse response;
  auto encoder = q8::server::OutputEncoder::Prepare(request, outputs, dims, decoded->raw, "fuzz", &response);
  if (!encoder.ok()) return 0;
  if (encoder->views().size() != outputs.size()) abort();
  if (real) {
    if (!relu_model->Run(decoded->tensors, encoder->views()).ok()) abort();
  } else {
    for (const q8::core::MutableTensorView& v : encoder->views()) std::memset(v.data, 0x3c, v.byte_size());
  }
  encoder->Finish();
  std::string wire;
  response.SerializeToString(&wire);
  return 0;
}
