// Graph passes keep numerics: each model is compiled with every pass
// disabled and with the full pipeline, and both must agree within 1e-4
// (max abs, outputs O(1)); the optimized graph must also be smaller.
#include <gtest/gtest.h>

#include <random>

#include "engine/compiler.h"
#include "engine/passes/pipeline.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

using testing::RandomInput;

struct Compiled {
  std::shared_ptr<const CompiledModel> model;
  std::vector<core::Tensor> out;
};

Compiled CompileAndRun(const std::string& bytes, const core::Tensor& input, std::vector<std::string> disabled) {
  auto model = Compile(bytes, {.disabled_passes = std::move(disabled)});
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  auto out = (*model)->Run({input.view()});
  EXPECT_TRUE(out.ok()) << out.status();
  return {*model, out.ok() ? std::move(*out) : std::vector<core::Tensor>{}};
}

void ExpectSameOutputs(const std::string& bytes, const core::Tensor& input, int max_optimized_nodes) {
  // fold_constants stays on: Constant nodes are not executable ops.
  std::vector<std::string> disabled;
  for (const std::string& name : PassNames()) {
    if (name != "fold_constants") disabled.push_back(name);
  }
  Compiled plain = CompileAndRun(bytes, input, disabled);
  Compiled opt = CompileAndRun(bytes, input, {});
  ASSERT_FALSE(plain.out.empty());
  ASSERT_FALSE(opt.out.empty());
  EXPECT_LE(testing::MaxAbsDiff(plain.out[0].span<float>(), opt.out[0].span<float>()), 1e-4f);
  EXPECT_LE(opt.model->report().optimized_nodes, max_optimized_nodes);
  EXPECT_GT(plain.model->report().optimized_nodes, opt.model->report().optimized_nodes);
}

// Conv -> BN -> Relu -> Identity -> MaxPool -> Reshape(shape from Constant+Concat) -> Gemm -> Dropout -> Softmax
std::string ConvBnModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 3, 8, 8}).Output("prob");
  b.RandomInitializer("w", {4, 3, 3, 3}).RandomInitializer("cb", {4});
  b.RandomInitializer("gamma", {4}, 0.5, 1.5).RandomInitializer("beta", {4});
  b.RandomInitializer("mean", {4}, -0.2, 0.2).RandomInitializer("var", {4}, 0.5, 2.0);
  b.RandomInitializer("fc_w", {10, 64}).RandomInitializer("fc_b", {10});
  b.Int64Initializer("zero", {1}, {0});
  auto& conv = b.Node("Conv", {"x", "w", "cb"}, {"c"});
  OnnxBuilder::AttrInts(conv, "pads", {1, 1, 1, 1});
  b.Node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"bn"});
  b.Node("Relu", {"bn"}, {"r"});
  b.Node("Identity", {"r"}, {"ri"});
  auto& pool = b.Node("MaxPool", {"ri"}, {"p"});
  OnnxBuilder::AttrInts(pool, "kernel_shape", {2, 2});
  OnnxBuilder::AttrInts(pool, "strides", {2, 2});
  auto& k = b.Node("Constant", {}, {"minus_one"});
  {
    auto* a = k.add_attribute();
    a->set_name("value_ints");
    a->set_type(onnx::AttributeProto::INTS);
    a->add_ints(-1);
  }
  auto& cat = b.Node("Concat", {"zero", "minus_one"}, {"shape"});
  OnnxBuilder::AttrInt(cat, "axis", 0);
  b.Node("Reshape", {"p", "shape"}, {"flat"});
  auto& gemm = b.Node("Gemm", {"flat", "fc_w", "fc_b"}, {"logits"});
  OnnxBuilder::AttrInt(gemm, "transB", 1);
  b.Node("Dropout", {"logits"}, {"d"});
  b.Node("Softmax", {"d"}, {"prob"});
  return b.Serialize();
}

TEST(PassesTest, ConvBnReluChainFoldsAndKeepsNumerics) {
  // Conv(+BN+Relu), MaxPool, Reshape, Gemm, Softmax remain.
  ExpectSameOutputs(ConvBnModel(), RandomInput({2, 3, 8, 8}, 1), 5);
}

TEST(PassesTest, FoldBatchNormRemovesTheNode) {
  auto model = Compile(ConvBnModel());
  ASSERT_TRUE(model.ok()) << model.status();
  auto prims = (*model)->Primitives(1);
  ASSERT_TRUE(prims.ok());
  for (const auto& p : *prims) {
    EXPECT_NE(p.op, "BatchNormalization");
    EXPECT_NE(p.op, "Relu");
  }
}

TEST(PassesTest, UnfoldableBatchNormRunsStandalone) {
  // BN on a graph input cannot fold into anything: it must run as its own kernel.
  OnnxBuilder b;
  b.Input("x", {-1, 4, 5, 5}).Output("y");
  b.RandomInitializer("gamma", {4}, 0.5, 1.5).RandomInitializer("beta", {4});
  b.RandomInitializer("mean", {4}, -0.2, 0.2).RandomInitializer("var", {4}, 0.5, 2.0);
  b.Node("BatchNormalization", {"x", "gamma", "beta", "mean", "var"}, {"y"});
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  core::Tensor x = RandomInput({1, 4, 5, 5}, 7);
  auto out = (*model)->Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  // Reference: y = gamma * (x - mean) / sqrt(var + eps) + beta.
  const auto& g = b.model().graph();
  auto param = [&](int i) { return reinterpret_cast<const float*>(g.initializer(i).raw_data().data()); };
  float worst = 0;
  for (int c = 0; c < 4; ++c) {
    for (int i = 0; i < 25; ++i) {
      const float xv = x.span<float>()[c * 25 + i];
      const float ref = param(0)[c] * (xv - param(2)[c]) / std::sqrt(param(3)[c] + 1e-5f) + param(1)[c];
      worst = std::max(worst, std::abs(ref - (*out)[0].span<float>()[c * 25 + i]));
    }
  }
  EXPECT_LE(worst, 1e-5f);
}

TEST(PassesTest, ResidualAddReluFuses) {
  OnnxBuilder b;
  b.Input("x", {-1, 8, 6, 6}).Output("y");
  b.RandomInitializer("w1", {8, 8, 3, 3}, -0.2, 0.2).RandomInitializer("w2", {8, 8, 1, 1}, -0.3, 0.3);
  auto& c1 = b.Node("Conv", {"x", "w1"}, {"a"});
  OnnxBuilder::AttrInts(c1, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"a"}, {"ar"});
  b.Node("Conv", {"ar", "w2"}, {"c"});
  b.Node("Add", {"c", "x"}, {"s"});
  b.Node("Relu", {"s"}, {"y"});
  ExpectSameOutputs(b.Serialize(), RandomInput({3, 8, 6, 6}, 3), 3);
}

// Regression: y = Conv(r) + r. Accumulating in place into r's bytes would
// overwrite the conv's own input while it is being read.
TEST(PassesTest, ResidualThatIsAlsoTheConvInputIsNotOverwritten) {
  OnnxBuilder b;
  b.Input("x", {-1, 8, 8, 8}).Output("y");
  b.RandomInitializer("w1", {8, 8, 3, 3}, -0.3, 0.3).RandomInitializer("w2", {8, 8, 3, 3}, -0.3, 0.3);
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w1"}, {"c1"}), "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c1"}, {"r"});
  OnnxBuilder::AttrInts(b.Node("Conv", {"r", "w2"}, {"c2"}), "pads", {1, 1, 1, 1});
  b.Node("Add", {"c2", "r"}, {"y"});
  ExpectSameOutputs(b.Serialize(), RandomInput({2, 8, 8, 8}, 5), 2);
}

}  // namespace
}  // namespace q8::engine
