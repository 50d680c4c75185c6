// 1-D and 3-D Conv and pooling (numerics are checked by the conformance
// cases): they run on optimized oneDNN kernels, not reference ones, and a
// model mixing them with a 2-D conv still quantizes its 2-D conv to int8.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine/compiler.h"
#include "engine/quantize.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

void ExpectNoReferenceKernel(const CompiledModel& model, int64_t batch) {
  auto primitives = model.Primitives(batch);
  ASSERT_TRUE(primitives.ok()) << primitives.status();
  for (const auto& p : *primitives) {
    EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " (" << p.op << ") runs " << p.impl;
  }
}

TEST(SpatialNdTest, Conv1dAndPool1dRunOptimizedKernels) {
  OnnxBuilder b;
  b.Input("x", {-1, 8, 32}).RandomInitializer("w", {16, 8, 3}).RandomInitializer("bias", {16}).Output("y");
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w", "bias"}, {"c"}, "conv"), "pads", {1, 1});
  b.Node("Relu", {"c"}, {"r"}, "relu");
  auto& pool = b.Node("MaxPool", {"r"}, {"p"}, "pool");
  OnnxBuilder::AttrInts(pool, "kernel_shape", {2});
  OnnxBuilder::AttrInts(pool, "strides", {2});
  OnnxBuilder::AttrInts(b.Node("AveragePool", {"p"}, {"y"}, "avg"), "kernel_shape", {2});
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->OutputDims(4)[0], (core::Dims{4, 16, 15}));
  ExpectNoReferenceKernel(**model, 4);
}

TEST(SpatialNdTest, Conv3dAndPool3dRunOptimizedKernels) {
  OnnxBuilder b;
  b.Input("x", {-1, 4, 8, 8, 8}).RandomInitializer("w", {8, 2, 3, 3, 3}).Output("y");
  auto& conv = b.Node("Conv", {"x", "w"}, {"c"}, "conv");
  OnnxBuilder::AttrInts(conv, "pads", {1, 1, 1, 1, 1, 1});
  OnnxBuilder::AttrInt(conv, "group", 2);
  OnnxBuilder::AttrInts(b.Node("MaxPool", {"c"}, {"p"}, "pool"), "kernel_shape", {2, 2, 2});
  b.Node("GlobalAveragePool", {"p"}, {"y"}, "gap");
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->OutputDims(2)[0], (core::Dims{2, 8, 1, 1, 1}));
  ExpectNoReferenceKernel(**model, 2);
}

TEST(SpatialNdTest, QuantizationKeeps2dConvInt8And1dConvF32) {
  OnnxBuilder b;
  b.Input("x", {-1, 4, 8, 8}).RandomInitializer("w2", {8, 4, 3, 3}).RandomInitializer("w1", {4, 8, 3});
  b.Int64Initializer("shape", {3}, {0, 8, 64}).Output("y");
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w2"}, {"c2"}, "conv2d"), "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c2"}, {"r"}, "relu");
  b.Node("Reshape", {"r", "shape"}, {"s"}, "reshape");
  b.Node("Conv", {"s", "w1"}, {"c1"}, "conv1d");
  b.Node("Flatten", {"c1"}, {"y"}, "flatten");
  CalibrationData data;
  data.inputs = core::Tensor(core::DataType::kFloat32, {64, 4, 8, 8});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (float& v : data.inputs.span<float>()) v = uniform(rng);
  QuantizationOptions options;
  options.max_drop = 1.0;
  auto result = Quantize(b.Serialize(), {}, options, &data);
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<std::string, std::string> precision;
  for (const auto& l : result->report.layers) precision[l.node] = l.precision;
  EXPECT_EQ(precision["conv2d"], "int8");
  EXPECT_NE(precision["conv1d"], "int8");
  ExpectNoReferenceKernel(*result->model, 4);
}

TEST(SpatialNdTest, ConvTransposeRunsOptimizedKernelsAndStaysF32UnderQuantization) {
  // Conv (int8) -> ConvTranspose 2x upsampling with output_padding (f32).
  OnnxBuilder b;
  b.Input("x", {-1, 4, 8, 8}).RandomInitializer("w", {8, 4, 3, 3}).RandomInitializer("wt", {8, 2, 3, 3});
  b.RandomInitializer("bt", {4}).Output("y");
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w"}, {"c"}, "conv"), "pads", {1, 1, 1, 1});
  auto& up = b.Node("ConvTranspose", {"c", "wt", "bt"}, {"y"}, "up");
  OnnxBuilder::AttrInts(up, "strides", {2, 2});
  OnnxBuilder::AttrInts(up, "pads", {1, 1, 1, 1});
  OnnxBuilder::AttrInts(up, "output_padding", {1, 1});
  OnnxBuilder::AttrInt(up, "group", 2);
  const std::string onnx = b.Serialize();
  auto model = Compile(onnx);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->OutputDims(2)[0], (core::Dims{2, 4, 16, 16}));
  ExpectNoReferenceKernel(**model, 2);

  CalibrationData data;
  data.inputs = core::Tensor(core::DataType::kFloat32, {64, 4, 8, 8});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (float& v : data.inputs.span<float>()) v = uniform(rng);
  QuantizationOptions options;
  options.max_drop = 1.0;
  auto result = Quantize(onnx, {}, options, &data);
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<std::string, std::string> precision;
  for (const auto& l : result->report.layers) precision[l.node] = l.precision;
  EXPECT_EQ(precision["conv"], "int8");
  ExpectNoReferenceKernel(*result->model, 4);
}

// Runtime ConvTranspose weights (issue #12) give what the same values as an
// initializer give (whose path the conformance cases check against ONNX).
TEST(SpatialNdTest, ConvTransposeWithRuntimeWeightsMatchesConstantWeights) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w(2 * 2 * 3 * 3), x(2 * 2 * 4 * 4);
  for (float& v : w) v = u(rng);
  for (float& v : x) v = u(rng);
  OnnxBuilder runtime, constant;
  // x's first axis fixed: with every first axis dynamic the engine batches requests on it.
  runtime.Input("x", {2, 2, 4, 4}).Input("w", {2, 2, 3, 3}).Output("y");
  runtime.Node("ConvTranspose", {"x", "w"}, {"y"}, "deconv");
  constant.Input("x", {2, 2, 4, 4}).FloatInitializer("w", {2, 2, 3, 3}, w).Output("y");
  constant.Node("ConvTranspose", {"x", "w"}, {"y"}, "deconv");
  auto a = Compile(runtime.Serialize());
  auto b = Compile(constant.Serialize());
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  const core::Tensor tx = core::Tensor::FromFloats({2, 2, 4, 4}, x), tw = core::Tensor::FromFloats({2, 2, 3, 3}, w);
  auto got = (*a)->Run({tx.view(), tw.view()});
  auto want = (*b)->Run({tx.view()});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(want.ok()) << want.status();
  const auto g = (*got)[0].span<float>(), e = (*want)[0].span<float>();
  ASSERT_EQ(g.size(), e.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], e[i], 1e-5f) << i;
}

TEST(SpatialNdTest, Rank6ConvIsRefusedNamingTheNode) {
  OnnxBuilder b;
  b.Input("x", {-1, 2, 4, 4, 4, 4}).RandomInitializer("w", {2, 2, 1, 1, 1, 1}).Output("y");
  b.Node("Conv", {"x", "w"}, {"y"}, "conv4d");
  auto model = Compile(b.Serialize());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("conv4d"), std::string::npos) << model.status();
  EXPECT_NE(model.status().message().find("rank 6"), std::string::npos) << model.status();
}

}  // namespace
}  // namespace q8::engine
