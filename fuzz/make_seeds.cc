// Writes the seed corpora under fuzz/corpus/<target>/seeds/ (committed; rerun
// after changing a builder or a wire format): small builder-made ONNX models,
// .npy files of every dtype, config.json variants, inference requests and
// upload streams in the framing upload_stream_fuzzer.cc reads.
// Usage: make_seeds <fuzz/corpus dir>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "core/npy.h"
#include "core/tensor.h"
#include "inference.pb.h"
#include "q8serve/v1/model_service.pb.h"
#include "tests/testing/onnx_builder.h"

namespace {

using q8::testing::OnnxBuilder;
namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string Relu() {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  return b.Serialize();
}

std::string Mlp() {
  OnnxBuilder b;
  b.Input("x", {-1, 1, 4, 4}).Output("prob");
  b.RandomInitializer("w1", {16, 8}).RandomInitializer("b1", {8});
  b.RandomInitializer("w2", {3, 8}).RandomInitializer("b2", {3});
  auto& flat = b.Node("Flatten", {"x"}, {"f"});
  OnnxBuilder::AttrInt(flat, "axis", 1);
  b.Node("Gemm", {"f", "w1", "b1"}, {"h"});
  b.Node("Sigmoid", {"h"}, {"s"});
  auto& g2 = b.Node("Gemm", {"s", "w2", "b2"}, {"logits"});
  OnnxBuilder::AttrInt(g2, "transB", 1);
  auto& sm = b.Node("Softmax", {"logits"}, {"prob"});
  OnnxBuilder::AttrInt(sm, "axis", 1);
  return b.Serialize();
}

std::string ConvNet() {
  OnnxBuilder b;
  b.Input("x", {-1, 3, 8, 8}).Output("y");
  b.RandomInitializer("w", {4, 3, 3, 3}).RandomInitializer("cb", {4});
  b.RandomInitializer("gamma", {4}, 0.5, 1.5).RandomInitializer("beta", {4});
  b.RandomInitializer("mean", {4}, -0.2, 0.2).RandomInitializer("var", {4}, 0.5, 2.0);
  b.Int64Initializer("shape", {2}, {0, -1});
  auto& conv = b.Node("Conv", {"x", "w", "cb"}, {"c"});
  OnnxBuilder::AttrInts(conv, "pads", {1, 1, 1, 1});
  OnnxBuilder::AttrInts(conv, "strides", {1, 1});
  b.Node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"bn"});
  b.Node("Relu", {"bn"}, {"r"});
  auto& pool = b.Node("MaxPool", {"r"}, {"p"});
  OnnxBuilder::AttrInts(pool, "kernel_shape", {2, 2});
  OnnxBuilder::AttrInts(pool, "strides", {2, 2});
  auto& avg = b.Node("AveragePool", {"p"}, {"a"});
  OnnxBuilder::AttrInts(avg, "kernel_shape", {2, 2});
  b.Node("GlobalAveragePool", {"a"}, {"g"});
  b.Node("Reshape", {"g", "shape"}, {"y"});
  return b.Serialize();
}

std::string Residual() {
  OnnxBuilder b;
  b.Input("x", {-1, 2, 4, 4}).Output("y");
  b.RandomInitializer("w", {2, 2, 1, 1});
  b.Node("Conv", {"x", "w"}, {"c"});
  b.Node("Add", {"c", "x"}, {"s"});
  auto& clip = b.Node("Clip", {"s"}, {"y"});
  OnnxBuilder::AttrFloat(clip, "min", 0);
  OnnxBuilder::AttrFloat(clip, "max", 6);
  return b.Serialize();
}

std::string MatMulConcat() {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Input("z", {-1, 3}).Output("y");
  b.RandomInitializer("w", {4, 3}).FloatInitializer("k", {3}, {0.5f, 1.0f, 2.0f});
  b.Node("MatMul", {"x", "w"}, {"m"});
  b.Node("Mul", {"m", "k"}, {"mk"});
  auto& cat = b.Node("Concat", {"mk", "z"}, {"c"});
  OnnxBuilder::AttrInt(cat, "axis", 1);
  b.Node("Dropout", {"c"}, {"d"});
  b.Node("Identity", {"d"}, {"y"});
  return b.Serialize();
}

std::string TransposeNet() {
  OnnxBuilder b;
  b.Input("x", {-1, 2, 3}).Output("y");
  auto& t = b.Node("Transpose", {"x"}, {"t"});
  OnnxBuilder::AttrInts(t, "perm", {0, 2, 1});
  b.Node("Relu", {"t"}, {"y"});
  return b.Serialize();
}

void OnnxSeeds(const fs::path& dir) {
  Write(dir, "relu.onnx", Relu());
  Write(dir, "mlp.onnx", Mlp());
  Write(dir, "convnet.onnx", ConvNet());
  Write(dir, "residual.onnx", Residual());
  Write(dir, "matmul_concat.onnx", MatMulConcat());
  Write(dir, "transpose.onnx", TransposeNet());
}

void NpySeeds(const fs::path& dir) {
  using q8::core::DataType;
  const std::vector<std::pair<DataType, q8::core::Dims>> cases = {
      {DataType::kFloat32, {2, 3}}, {DataType::kInt64, {4}},         {DataType::kUInt8, {2, 2, 2}},
      {DataType::kFloat64, {}},     {DataType::kBool, {3}},          {DataType::kInt32, {1, 0}},
      {DataType::kFloat16, {2}},    {DataType::kInt8, {2, 1, 1, 1}}, {DataType::kFloat32, {5, 1, 2, 2}}};
  int i = 0;
  for (const auto& [dtype, dims] : cases) {
    q8::core::Tensor t(dtype, dims);
    auto* p = static_cast<uint8_t*>(t.data());
    for (int64_t k = 0; k < t.byte_size(); ++k) p[k] = static_cast<uint8_t>(k * 37 + 1);
    if (dtype == DataType::kBool) {
      for (int64_t k = 0; k < t.byte_size(); ++k) p[k] &= 1;
    }
    Write(dir, "tensor" + std::to_string(i++) + ".npy", q8::core::SerializeNpy(t.view()));
  }
  // A hand-written version 2.0 header (4-byte length).
  std::string v2 = std::string("\x93NUMPY\x02\x00", 8);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  header.append(64 - (12 + header.size() + 1) % 64, ' ');
  header += '\n';
  const uint32_t len = static_cast<uint32_t>(header.size());
  v2.append(reinterpret_cast<const char*>(&len), 4);
  v2 += header;
  v2.append(8, '\0');
  Write(dir, "v2.npy", v2);
}

void ConfigSeeds(const fs::path& dir) {
  const std::vector<std::string> configs = {
      "{}",
      R"({"name": "fuzz_model", "max_batch_size": 8, "warmup_batch_sizes": [1, 8]})",
      R"({"execution": {"preset": "throughput"}, "dynamic_batching": {}})",
      R"({"execution": {"streams": 2, "threads_per_stream": 1},
          "dynamic_batching": {"max_queue_delay_us": 500, "preferred_batch_sizes": [4, 8], "eager": false}})",
      R"({"shadow_fraction": 0.01, "quantization": {"mode": "dynamic", "per_channel": false}})",
      R"({"quantization": {"mode": "static", "calibration": {"method": "percentile", "percentile": 99.99,
          "max_samples": 512}, "accuracy": {"metric": "top1", "max_drop": 0.01, "eval_fraction": 0.2}}})",
      R"({"quantization": {"mode": "none"}, "future_key": [1, {"a": null}]})",
      R"({"quantization": {"calibration": {"method": "entropy"}, "accuracy": {"metric": "agreement"}}})",
  };
  for (size_t i = 0; i < configs.size(); ++i) Write(dir, "config" + std::to_string(i) + ".json", configs[i]);
}

std::string Floats(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const float v = static_cast<float>(i) - 1.5f;
    out.append(reinterpret_cast<const char*>(&v), 4);
  }
  return out;
}

void InferSeeds(const fs::path& dir) {
  {  // the real Relu model, raw
    inference::ModelInferRequest r;
    r.set_model_name("relu");
    auto* in = r.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(2);
    in->add_shape(4);
    r.add_raw_input_contents(Floats(8));
    r.add_outputs()->set_name("y");
    Write(dir, "relu_raw.bin", r.SerializeAsString());
    // and typed
    r.clear_raw_input_contents();
    for (int i = 0; i < 8; ++i) in->mutable_contents()->add_fp32_contents(static_cast<float>(i) - 3);
    Write(dir, "relu_typed.bin", r.SerializeAsString());
  }
  {  // the synthetic four-input signature, raw
    inference::ModelInferRequest r;
    r.set_model_name("synthetic");
    r.set_id("req-1");
    auto add = [&r](const std::string& name, const std::string& dtype, std::vector<int64_t> shape) {
      auto* in = r.add_inputs();
      in->set_name(name);
      in->set_datatype(dtype);
      for (int64_t d : shape) in->add_shape(d);
      return in;
    };
    add("x", "FP32", {2, 3, 4});
    add("ids", "INT64", {2, 2});
    add("mask", "BOOL", {2});
    add("half", "FP16", {2, 2});
    r.add_raw_input_contents(Floats(24));
    r.add_raw_input_contents(std::string(32, '\1'));
    r.add_raw_input_contents(std::string("\1\0", 2));
    r.add_raw_input_contents(std::string(8, '\x3c'));
    r.add_outputs()->set_name("y");
    r.add_outputs()->set_name("h");
    (*r.mutable_parameters())["binary_data_output"].set_bool_param(true);
    Write(dir, "synthetic_raw.bin", r.SerializeAsString());

    // typed contents (FP16 has no typed field: only three inputs)
    inference::ModelInferRequest t;
    t.set_model_name("synthetic");
    for (int i = 0; i < 3; ++i) *t.add_inputs() = r.inputs(i);
    for (int i = 0; i < 24; ++i) t.mutable_inputs(0)->mutable_contents()->add_fp32_contents(i * 0.25f);
    for (int i = 0; i < 4; ++i) t.mutable_inputs(1)->mutable_contents()->add_int64_contents(i - 2);
    t.mutable_inputs(2)->mutable_contents()->add_bool_contents(true);
    t.mutable_inputs(2)->mutable_contents()->add_bool_contents(false);
    t.add_outputs()->set_name("k");
    t.add_outputs()->set_name("u");
    Write(dir, "synthetic_typed.bin", t.SerializeAsString());
  }
}

// [u16 little-endian length][bytes] frames after the mode byte.
std::string Frames(uint8_t mode, const std::vector<std::string>& messages) {
  std::string out(1, static_cast<char>(mode));
  for (const std::string& m : messages) {
    const size_t n = std::min<size_t>(m.size(), 0xffff);
    out += static_cast<char>(n & 0xff);
    out += static_cast<char>(n >> 8);
    out.append(m, 0, n);
  }
  return out;
}

void UploadSeeds(const fs::path& dir) {
  const std::string model = Relu();
  q8::core::Tensor calib(q8::core::DataType::kFloat32, {2, 4});
  const std::string npy = q8::core::SerializeNpy(calib.view());
  q8::core::Tensor labels(q8::core::DataType::kInt64, {2});
  const std::string labels_npy = q8::core::SerializeNpy(labels.view());

  q8serve::v1::UploadHeader header;
  header.set_model_name("fuzz_model");
  header.set_version(2);
  header.set_config_json(R"({"max_batch_size": 4})");
  header.set_total_bytes(static_cast<int64_t>(model.size() + npy.size() + labels_npy.size()));
  auto chunk = [](const std::string& path, const std::string& data) {
    q8serve::v1::FileChunk c;
    c.set_path(path);
    c.set_data(data);
    return c.SerializeAsString();
  };
  const size_t half = model.size() / 2;
  // mode 0b1010: streamed, limit 1 MiB
  Write(dir, "stream_full.bin",
        Frames(0x8, {header.SerializeAsString(), chunk("model.onnx", model.substr(0, half)),
                     chunk("model.onnx", model.substr(half)), chunk("calibration/inputs.npy", npy),
                     chunk("calibration/labels.npy", labels_npy)}));
  header.clear_config_json();
  header.set_total_bytes(0);
  Write(dir, "stream_model_only.bin", Frames(0xa, {header.SerializeAsString(), chunk("model.onnx", model)}));

  inference::RepositoryModelLoadRequest load;
  load.set_model_name("fuzz_model");
  (*load.mutable_parameters())["config"].set_string_param("{}");
  (*load.mutable_parameters())["file:1/model.onnx"].set_bytes_param(model);
  (*load.mutable_parameters())["file:3/model.onnx"].set_bytes_param(model);
  (*load.mutable_parameters())["file:calibration/inputs.npy"].set_bytes_param(npy);
  (*load.mutable_parameters())["file:3/calibration/inputs.npy"].set_bytes_param(npy);
  (*load.mutable_parameters())["file:3/calibration/labels.npy"].set_bytes_param(labels_npy);
  Write(dir, "load_request.bin", Frames(0x9, {load.SerializeAsString()}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <fuzz/corpus dir>\n";
    return 2;
  }
  const fs::path root = argv[1];
  OnnxSeeds(root / "onnx_compile_fuzzer" / "seeds");
  NpySeeds(root / "npy_fuzzer" / "seeds");
  ConfigSeeds(root / "model_config_fuzzer" / "seeds");
  InferSeeds(root / "infer_request_fuzzer" / "seeds");
  UploadSeeds(root / "upload_stream_fuzzer" / "seeds");
  return 0;
}
