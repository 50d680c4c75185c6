// Planner: arena reuse by liveness, free aliases, outputs written in place.
#include <gtest/gtest.h>

#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

TEST(PlannerTest, ChainReusesArenaBuffers) {
  OnnxBuilder b;
  b.Input("x", {-1, 1024}).Output("y");
  b.Node("Relu", {"x"}, {"a"});
  b.Node("Sigmoid", {"a"}, {"b"});
  b.Node("Relu", {"b"}, {"c"});
  b.Node("Sigmoid", {"c"}, {"d"});
  b.Node("Relu", {"d"}, {"y"});
  auto model = Compile(b.Serialize(), {.warmup_batch_sizes = {1}});
  ASSERT_TRUE(model.ok()) << model.status();
  // Four intermediates of 4 KiB live two at a time; the last step writes the caller's buffer.
  EXPECT_EQ((*model)->memory().activations, 2 * 4096);
  auto prims = (*model)->Primitives(1);
  ASSERT_TRUE(prims.ok());
  EXPECT_EQ(prims->size(), 5u);  // no copy into the output
}

TEST(PlannerTest, ReshapeAndFlattenAreFree) {
  OnnxBuilder b;
  b.Input("x", {-1, 2, 8}).Output("y");
  b.Int64Initializer("shape", {2}, {0, 16});
  b.Node("Relu", {"x"}, {"r"});
  b.Node("Reshape", {"r", "shape"}, {"flat"});
  b.Node("Flatten", {"flat"}, {"f2"});
  b.Node("Sigmoid", {"f2"}, {"y"});
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  auto prims = (*model)->Primitives(4);
  ASSERT_TRUE(prims.ok());
  ASSERT_EQ(prims->size(), 2u);
  EXPECT_EQ((*model)->outputs()[0].dims, (core::Dims{-1, 16}));
  core::Tensor x = core::Tensor::FromFloats({1, 2, 8}, {-1, 2, -3, 4, -5, 6, -7, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  auto out = (*model)->Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NEAR((*out)[0].span<float>()[0], 0.5f, 1e-6);                          // sigmoid(relu(-1))
  EXPECT_NEAR((*out)[0].span<float>()[15], 1 / (1 + std::exp(-8.0f)), 1e-6);
}

TEST(PlannerTest, OutputThatIsAnInputIsCopied) {
  OnnxBuilder b;
  b.Input("x", {-1, 3}).Output("y").Output("z");
  b.Node("Identity", {"x"}, {"y"});
  b.Node("Relu", {"x"}, {"z"});
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  core::Tensor x = core::Tensor::FromFloats({2, 3}, {-1, 2, -3, 4, -5, 6});
  auto out = (*model)->Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].span<float>()[2], -3);
  EXPECT_EQ((*out)[1].span<float>()[2], 0);
  EXPECT_EQ((*out)[1].span<float>()[5], 6);
}

TEST(PlannerTest, ConvSectionStaysNhwcWithReordersOnlyAtBoundaries) {
  OnnxBuilder b;
  b.Input("x", {-1, 3, 8, 8}).Output("y");
  b.RandomInitializer("w1", {8, 3, 3, 3}).RandomInitializer("w2", {8, 8, 3, 3});
  b.Node("Conv", {"x", "w1"}, {"a"});
  b.Node("Relu", {"a"}, {"ar"});
  b.Node("Conv", {"ar", "w2"}, {"c"});
  auto& pool = b.Node("MaxPool", {"c"}, {"p"});
  OnnxBuilder::AttrInts(pool, "kernel_shape", {2, 2});
  b.Node("Flatten", {"p"}, {"y"});
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  auto prims = (*model)->Primitives(2);
  ASSERT_TRUE(prims.ok());
  int reorders = 0;
  for (const auto& p : *prims) reorders += p.op == "Reorder";
  EXPECT_EQ(reorders, 2);  // NCHW input -> NHWC, and NHWC -> plain before Flatten
  EXPECT_EQ(prims->size(), 5u);
}

TEST(PlannerTest, RejectsBatchOverMaximum) {
  OnnxBuilder b;
  b.Input("x", {-1, 3}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  auto model = Compile(b.Serialize(), {.max_batch_size = 4});
  ASSERT_TRUE(model.ok());
  core::Tensor x(core::DataType::kFloat32, {5, 3});
  auto out = (*model)->Run({x.view()});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("max_batch_size 4"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace q8::engine
