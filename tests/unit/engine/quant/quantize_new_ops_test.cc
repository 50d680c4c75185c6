// Static quantization of a small model that mixes int8-capable layers (Conv,
// MatMul) with ops that only run in f32 (LeakyRelu, swish, ReduceMean, Tanh,
// HardSigmoid) and with fused patterns (swish, MatMul + Add): it must
// quantize, keep the Conv and MatMul layers int8 with f32 between, and stay
// close to the float model on held-out inputs.
#include <gtest/gtest.h>

#include <random>

#include "engine/quantize.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

std::string MixedModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 3, 12, 12}).Output("y");
  b.RandomInitializer("w1", {8, 3, 3, 3}, -0.5, 0.5).RandomInitializer("b1", {8}, -0.1, 0.1);
  b.RandomInitializer("w2", {8, 8, 3, 3}, -0.3, 0.3).RandomInitializer("b2", {8}, -0.1, 0.1);
  b.RandomInitializer("fc", {8, 10}, -0.5, 0.5).RandomInitializer("fcb", {10}, -0.1, 0.1);
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w1", "b1"}, {"c1"}), "pads", {1, 1, 1, 1});
  OnnxBuilder::AttrFloat(b.Node("LeakyRelu", {"c1"}, {"l1"}), "alpha", 0.1f);
  OnnxBuilder::AttrInts(b.Node("Conv", {"l1", "w2", "b2"}, {"c2"}), "pads", {1, 1, 1, 1});
  b.Node("Sigmoid", {"c2"}, {"s2"});
  b.Node("Mul", {"c2", "s2"}, {"sw"});
  b.Node("HardSigmoid", {"sw"}, {"hs"});
  auto& mean = b.Node("ReduceMean", {"hs"}, {"m"});
  OnnxBuilder::AttrInts(mean, "axes", {2, 3});
  OnnxBuilder::AttrInt(mean, "keepdims", 0);
  b.Node("MatMul", {"m", "fc"}, {"mm"});
  b.Node("Add", {"mm", "fcb"}, {"logits"});
  b.Node("Tanh", {"logits"}, {"y"});
  return b.Serialize();
}

TEST(QuantizeNewOpsTest, MixedConvAndNewOpsModelQuantizesStatically) {
  const int64_t n = 160;
  CalibrationData data{core::Tensor(core::DataType::kFloat32, {n, 3, 12, 12}), std::nullopt};
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0, 1);
  for (float& v : data.inputs.span<float>()) v = dist(rng);
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  o.max_drop = 1.0;  // random weights: agreement is not the point here
  auto r = Quantize(MixedModel(), {}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->report.mode, "static");
  int int8_conv = 0, int8_matmul = 0;
  for (const LayerReport& l : r->report.layers) {
    if (l.precision == "int8" && l.op == "Conv") ++int8_conv;
    if (l.precision == "int8" && l.op == "MatMul") ++int8_matmul;
  }
  EXPECT_EQ(int8_conv, 2) << r->report.ToJson(2);
  EXPECT_EQ(int8_matmul, 1) << r->report.ToJson(2);
  // The f32 ops run between int8 sections: quantized output tracks fp32.
  EXPECT_GT(r->report.output_sqnr_db, 20.0) << r->report.ToJson(2);

  core::Tensor x(core::DataType::kFloat32, {4, 3, 12, 12});
  for (float& v : x.span<float>()) v = dist(rng);
  auto q = r->model->Run({x.view()});
  auto f = r->fp32_model->Run({x.view()});
  ASSERT_TRUE(q.ok() && f.ok());
  float max_diff = 0;
  for (int64_t i = 0; i < (*f)[0].num_elements(); ++i) {
    max_diff = std::max(max_diff, std::abs((*q)[0].span<float>()[i] - (*f)[0].span<float>()[i]));
  }
  EXPECT_LT(max_diff, 0.1f);  // tanh outputs in [-1, 1]
}

// A Shape subgraph (torch's x.view(x.shape[0], -1)) makes the model planned
// per input shape; static quantization reads the graph specialized at its
// representative shape and still quantizes the Conv and the MatMul.
TEST(QuantizeNewOpsTest, ModelWithAShapeSubgraphQuantizesStatically) {
  OnnxBuilder b;
  b.Input("x", {-1, 3, 6, 6}).Output("y");
  b.RandomInitializer("w", {4, 3, 3, 3}, -0.5, 0.5).RandomInitializer("fc", {144, 10}, -0.2, 0.2);
  b.Int64Initializer("i0", {}, {0}).Int64Initializer("axes0", {1}, {0}).Int64Initializer("minus1", {1}, {-1});
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w"}, {"c"}), "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c"}, {"r"});
  b.Node("Shape", {"r"}, {"s"});
  b.Node("Gather", {"s", "i0"}, {"n"});
  b.Node("Unsqueeze", {"n", "axes0"}, {"n1"});
  OnnxBuilder::AttrInt(b.Node("Concat", {"n1", "minus1"}, {"target"}), "axis", 0);
  b.Node("Reshape", {"r", "target"}, {"flat"});
  b.Node("MatMul", {"flat", "fc"}, {"y"});
  const int64_t n = 96;
  CalibrationData data{core::Tensor(core::DataType::kFloat32, {n, 3, 6, 6}), std::nullopt};
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0, 1);
  for (float& v : data.inputs.span<float>()) v = dist(rng);
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  o.max_drop = 1.0;  // random weights: agreement is not the point here
  auto r = Quantize(b.Serialize(), {}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  int int8_layers = 0;
  for (const LayerReport& l : r->report.layers) int8_layers += l.precision == "int8";
  EXPECT_EQ(int8_layers, 2) << r->report.ToJson(2);
  EXPECT_GT(r->report.output_sqnr_db, 20.0) << r->report.ToJson(2);
  core::Tensor x(core::DataType::kFloat32, {3, 3, 6, 6});
  for (float& v : x.span<float>()) v = dist(rng);
  auto q = r->model->Run({x.view()});
  auto f = r->fp32_model->Run({x.view()});
  ASSERT_TRUE(q.ok() && f.ok());
  ASSERT_EQ((*q)[0].dims(), (core::Dims{3, 10}));
  float max_abs = 0, max_diff = 0;
  for (int64_t i = 0; i < (*f)[0].num_elements(); ++i) {
    max_abs = std::max(max_abs, std::abs((*f)[0].span<float>()[i]));
    max_diff = std::max(max_diff, std::abs((*q)[0].span<float>()[i] - (*f)[0].span<float>()[i]));
  }
  EXPECT_LT(max_diff, 0.05f * max_abs);
}

}  // namespace
}  // namespace q8::engine
