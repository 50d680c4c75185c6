// Data-movement ops inside whole models: hostile index/size inputs are
// refused with INVALID_ARGUMENT naming the node (nothing is allocated from
// them), Split feeds several consumers at run time, and a static-quantized
// model mixing Conv with Pad/Slice/Concat(constant)/Transpose keeps its convs
// int8 with f32 sections around the data ops.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine/compiler.h"
#include "engine/quantize.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

void ExpectRefused(const std::string& onnx, const std::string& node, const std::string& fragment) {
  auto model = Compile(onnx);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  EXPECT_NE(model.status().message().find(node), std::string::npos) << model.status();
  EXPECT_NE(model.status().message().find(fragment), std::string::npos) << model.status();
}

TEST(DataOpsModelTest, GatherIndexOutOfRangeIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Int64Initializer("idx", {2}, {1, 4}).Output("y");
  OnnxBuilder::AttrInt(b.Node("Gather", {"x", "idx"}, {"y"}, "gather"), "axis", 1);
  ExpectRefused(b.Serialize(), "gather", "index 4 is out of range for axis size 4");
}

TEST(DataOpsModelTest, GatherNegativeIndexCountsFromTheEnd) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Int64Initializer("idx", {3}, {-1, 0, -4}).Output("y");
  OnnxBuilder::AttrInt(b.Node("Gather", {"x", "idx"}, {"y"}, "gather"), "axis", 1);
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  const core::Tensor x = core::Tensor::FromFloats({2, 4}, {0, 1, 2, 3, 10, 11, 12, 13});
  auto out = (*model)->Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<float> want = {3, 0, 0, 13, 10, 10};
  EXPECT_EQ(std::vector<float>((*out)[0].span<float>().begin(), (*out)[0].span<float>().end()), want);
}

TEST(DataOpsModelTest, TileWhoseOutputOverflowsIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Int64Initializer("reps", {2}, {1, int64_t{1} << 62}).Output("y");
  b.Node("Tile", {"x", "reps"}, {"y"}, "tile");
  ExpectRefused(b.Serialize(), "tile", "overflow");
}

TEST(DataOpsModelTest, PadBeyondTheTensorLimitIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Int64Initializer("pads", {4}, {0, 0, 0, int64_t{1} << 40}).Output("y");
  b.Node("Pad", {"x", "pads"}, {"y"}, "pad");
  ExpectRefused(b.Serialize(), "pad", "per-tensor limit");
}

TEST(DataOpsModelTest, SliceStepZeroIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, 4})
      .Int64Initializer("starts", {1}, {0})
      .Int64Initializer("ends", {1}, {4})
      .Int64Initializer("axes", {1}, {1})
      .Int64Initializer("steps", {1}, {0})
      .Output("y");
  b.Node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"}, "slice");
  ExpectRefused(b.Serialize(), "slice", "step must not be 0");
}

TEST(DataOpsModelTest, ExpandToAnIncompatibleShapeIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, 3}).Int64Initializer("shape", {2}, {1, 4}).Output("y");
  b.Node("Expand", {"x", "shape"}, {"y"}, "expand");
  ExpectRefused(b.Serialize(), "expand", "cannot expand");
}

TEST(DataOpsModelTest, SplitOutputsFeedSeparateConsumers) {
  // y = split0 * split1 with x split in two along axis 1 (opset 13: sizes as input).
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Int64Initializer("sizes", {2}, {2, 2}).Output("y");
  OnnxBuilder::AttrInt(b.Node("Split", {"x", "sizes"}, {"a", "c"}, "split"), "axis", 1);
  b.Node("Mul", {"a", "c"}, {"y"}, "mul");
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  const core::Tensor x = core::Tensor::FromFloats({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto out = (*model)->Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<float> want = {3, 8, 35, 48};
  EXPECT_EQ(std::vector<float>((*out)[0].span<float>().begin(), (*out)[0].span<float>().end()), want);
}

TEST(DataOpsModelTest, LargeConstantOperandSurvivesANewBatchSize) {
  // Where(cond, x, y) with y a float constant big enough to be dropped from
  // the model's graph after the first plan: a later batch size still has it.
  std::vector<int64_t> mask(300);
  std::vector<float> y(300);
  for (int i = 0; i < 300; ++i) mask[i] = i % 3 == 0, y[i] = -static_cast<float>(i);
  OnnxBuilder b;
  b.Input("x", {-1, 300}).Int64Initializer("mask", {300}, mask).FloatInitializer("y", {300}, y).Output("out");
  OnnxBuilder::AttrInt(b.Node("Cast", {"mask"}, {"cond"}, "cast"), "to", 9);  // BOOL
  b.Node("Where", {"cond", "x", "y"}, {"out"}, "where");
  auto model = Compile(b.Serialize());  // warms up batch 1 only
  ASSERT_TRUE(model.ok()) << model.status();
  core::Tensor x(core::DataType::kFloat32, {3, 300});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.span<float>()[i] = static_cast<float>(i + 1000);
  auto out = (*model)->Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 300; ++c) {
      const float want = c % 3 == 0 ? x.span<float>()[r * 300 + c] : -static_cast<float>(c);
      ASSERT_EQ((*out)[0].span<float>()[r * 300 + c], want) << r << "," << c;
    }
  }
}

// Conv -> Relu -> Pad(reflect) -> Slice -> Tile -> Gather -> Conv -> Transpose -> Flatten -> Gemm.
std::string MixedModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 3, 8, 8}).RandomInitializer("w1", {4, 3, 3, 3}).RandomInitializer("b1", {4});
  b.Int64Initializer("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  b.Int64Initializer("starts", {2}, {1, 1}).Int64Initializer("ends", {2}, {9, 9}).Int64Initializer("axes", {2}, {2, 3});
  b.Int64Initializer("reps", {4}, {1, 2, 1, 1}).Int64Initializer("channels", {6}, {7, 0, 5, 2, 3, 4});
  b.RandomInitializer("w2", {4, 6, 3, 3}).RandomInitializer("b2", {4});
  b.RandomInitializer("wg", {10, 256}, -0.1f, 0.1f).RandomInitializer("bg", {10});
  b.Output("y");
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1"), "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c1"}, {"r1"}, "relu1");
  OnnxBuilder::AttrString(b.Node("Pad", {"r1", "pads"}, {"p1"}, "pad"), "mode", "reflect");
  b.Node("Slice", {"p1", "starts", "ends", "axes"}, {"s1"}, "slice");
  b.Node("Tile", {"s1", "reps"}, {"t1"}, "tile");
  OnnxBuilder::AttrInt(b.Node("Gather", {"t1", "channels"}, {"g1"}, "gather"), "axis", 1);
  OnnxBuilder::AttrInts(b.Node("Conv", {"g1", "w2", "b2"}, {"c2"}, "conv2"), "pads", {1, 1, 1, 1});
  OnnxBuilder::AttrInts(b.Node("Transpose", {"c2"}, {"t"}, "transpose"), "perm", {0, 2, 3, 1});
  OnnxBuilder::AttrInt(b.Node("Flatten", {"t"}, {"f"}, "flatten"), "axis", 1);
  OnnxBuilder::AttrInt(b.Node("Gemm", {"f", "wg", "bg"}, {"y"}, "gemm"), "transB", 1);
  return b.Serialize();
}

TEST(DataOpsModelTest, StaticQuantizationKeepsConvsInt8AroundDataOps) {
  const std::string onnx = MixedModel();
  CalibrationData data;
  data.inputs = core::Tensor(core::DataType::kFloat32, {128, 3, 8, 8});
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (float& v : data.inputs.span<float>()) v = uniform(rng);
  QuantizationOptions options;
  options.max_drop = 1.0;  // random weights: judge the numbers below, not top-1 agreement
  auto result = Quantize(onnx, {}, options, &data);
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<std::string, std::string> precision;
  for (const auto& l : result->report.layers) precision[l.node] = l.precision;
  EXPECT_EQ(precision["conv1"], "int8");
  EXPECT_EQ(precision["conv2"], "int8");

  // The int8 model stays close to the float one on held-out inputs.
  core::Tensor x(core::DataType::kFloat32, {8, 3, 8, 8});
  for (float& v : x.span<float>()) v = uniform(rng);
  auto q = result->model->Run({x.view()});
  auto f = result->fp32_model->Run({x.view()});
  ASSERT_TRUE(q.ok() && f.ok());
  float max_diff = 0, max_abs = 0;
  for (int64_t i = 0; i < (*f)[0].num_elements(); ++i) {
    max_diff = std::max(max_diff, std::abs((*q)[0].span<float>()[i] - (*f)[0].span<float>()[i]));
    max_abs = std::max(max_abs, std::abs((*f)[0].span<float>()[i]));
  }
  EXPECT_GT(max_abs, 0.0f);
  EXPECT_LT(max_diff, 0.1f * max_abs) << "int8 differs from fp32 by " << max_diff << " (range " << max_abs << ")";
  auto primitives = result->model->Primitives(8);
  ASSERT_TRUE(primitives.ok()) << primitives.status();
  for (const auto& p : *primitives) {
    EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " (" << p.op << ") runs " << p.impl;
  }
}

}  // namespace
}  // namespace q8::engine
