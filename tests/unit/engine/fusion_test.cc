// The pattern fusions of item 4 (fuse_layer_norm, fuse_gelu_swish,
// fuse_matmul_bias, and fuse_residual_add on MatMul): each model is compiled with the pass disabled and with
// the full pipeline; the outputs must agree within 1e-4 (max abs, outputs
// O(1)), the pass must have fired (CompileReport::passes_applied) and the
// fused op must be what runs (the plan's primitives). Negative cases: an
// intermediate that is read elsewhere keeps the pattern unfused.
#include <gtest/gtest.h>

#include <random>

#include "absl/strings/match.h"
#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

// Wider than the shared default: activations' tails matter for these ops.
core::Tensor RandomInput(core::Dims dims, uint32_t seed = 7, float scale = 2.0f) {
  return testing::RandomInput(std::move(dims), seed, scale);
}

struct Result {
  std::vector<std::string> passes;
  std::vector<std::string> ops;  // op of every primitive of the batch-1 plan
  core::Tensor out;
};

Result Run(const std::string& bytes, const core::Tensor& x, std::vector<std::string> disabled) {
  Result r;
  auto model = Compile(bytes, {.disabled_passes = std::move(disabled)});
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return r;
  r.passes = (*model)->report().passes_applied;
  auto prims = (*model)->Primitives(x.dims()[0]);
  EXPECT_TRUE(prims.ok()) << prims.status();
  if (prims.ok()) {
    for (const PrimitiveInfo& p : *prims) r.ops.push_back(p.op);
  }
  auto out = (*model)->Run({x.view()});
  EXPECT_TRUE(out.ok()) << out.status();
  if (out.ok()) r.out = std::move((*out)[0]);
  return r;
}

bool Contains(const std::vector<std::string>& v, const std::string& prefix) {
  for (const std::string& s : v) {
    if (absl::StartsWith(s, prefix)) return true;
  }
  return false;
}

// Fused and unfused agree, `pass` fired, `fused_op` runs and `gone_op` does not.
void ExpectFused(const std::string& bytes, const core::Tensor& x, const std::string& pass, const std::string& fused_op,
                 const std::string& gone_op, float tol = 1e-4f) {
  Result plain = Run(bytes, x, {pass});
  Result fused = Run(bytes, x, {});
  ASSERT_GT(plain.out.num_elements(), 0);
  ASSERT_GT(fused.out.num_elements(), 0);
  EXPECT_LE(testing::MaxAbsDiff(plain.out.span<float>(), fused.out.span<float>()), tol);
  EXPECT_FALSE(Contains(plain.passes, pass));
  EXPECT_TRUE(Contains(fused.passes, pass)) << pass << " did not fire";
  EXPECT_TRUE(Contains(fused.ops, fused_op)) << fused_op << " not in the plan";
  EXPECT_FALSE(Contains(fused.ops, gone_op)) << gone_op << " still in the plan";
  EXPECT_TRUE(Contains(plain.ops, gone_op));
}

void ExpectNotFused(const std::string& bytes, const core::Tensor& x, const std::string& pass) {
  Result fused = Run(bytes, x, {});
  EXPECT_FALSE(Contains(fused.passes, pass));
}

// ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add as tf2onnx and torch emit it.
std::string DecomposedLayerNorm(bool pow, bool affine, bool leak_diff = false) {
  OnnxBuilder b;
  b.Input("x", {-1, 5, 16}).Output("y");
  if (leak_diff) b.Output("d");
  b.FloatInitializer("two", {}, {2.0f}).FloatInitializer("eps", {}, {1e-5f});
  b.RandomInitializer("gamma", {16}, 0.5, 1.5).RandomInitializer("beta", {16});
  OnnxBuilder::AttrInts(b.Node("ReduceMean", {"x"}, {"mean"}), "axes", {-1});
  b.Node("Sub", {"x", "mean"}, {"d"});
  if (pow) {
    b.Node("Pow", {"d", "two"}, {"sq"});
  } else {
    b.Node("Mul", {"d", "d"}, {"sq"});
  }
  OnnxBuilder::AttrInts(b.Node("ReduceMean", {"sq"}, {"var"}), "axes", {-1});
  b.Node("Add", {"var", "eps"}, {"ve"});
  b.Node("Sqrt", {"ve"}, {"std"});
  b.Node("Div", {"d", "std"}, {affine ? "n" : "y"});
  if (affine) {
    b.Node("Mul", {"n", "gamma"}, {"s"});
    b.Node("Add", {"s", "beta"}, {"y"});
  }
  return b.Serialize();
}

TEST(FusionTest, DecomposedLayerNormWithPowAndAffineBecomesLayerNormalization) {
  ExpectFused(DecomposedLayerNorm(true, true), RandomInput({3, 5, 16}), "fuse_layer_norm", "LayerNormalization",
              "ReduceMean");
}

TEST(FusionTest, DecomposedLayerNormWithMulSquareAndNoAffineBecomesLayerNormalization) {
  ExpectFused(DecomposedLayerNorm(false, false), RandomInput({2, 5, 16}), "fuse_layer_norm", "LayerNormalization",
              "ReduceMean");
}

TEST(FusionTest, LayerNormWhoseCentredValueIsAlsoAnOutputStaysUnfused) {
  ExpectNotFused(DecomposedLayerNorm(true, true, true), RandomInput({2, 5, 16}), "fuse_layer_norm");
}

// x * 0.5 * (1 + erf(x / sqrt(2))), with the 0.5 in three places.
std::string ErfGelu(int form) {
  OnnxBuilder b;
  b.Input("x", {-1, 24}).Output("y");
  b.FloatInitializer("sqrt2", {}, {1.4142135f}).FloatInitializer("inv_sqrt2", {}, {0.70710677f});
  b.FloatInitializer("one", {}, {1.0f}).FloatInitializer("half", {}, {0.5f});
  if (form == 0) {
    b.Node("Div", {"x", "sqrt2"}, {"a"});
  } else {
    b.Node("Mul", {"x", "inv_sqrt2"}, {"a"});
  }
  b.Node("Erf", {"a"}, {"e"});
  b.Node("Add", {"e", "one"}, {"c"});
  if (form == 0) {  // (x * c) * 0.5
    b.Node("Mul", {"x", "c"}, {"m"});
    b.Node("Mul", {"m", "half"}, {"y"});
  } else if (form == 1) {  // (x * 0.5) * c
    b.Node("Mul", {"x", "half"}, {"hx"});
    b.Node("Mul", {"hx", "c"}, {"y"});
  } else {  // (c * 0.5) * x
    b.Node("Mul", {"c", "half"}, {"hc"});
    b.Node("Mul", {"hc", "x"}, {"y"});
  }
  return b.Serialize();
}

TEST(FusionTest, ErfGeluInEachExportedFormBecomesGelu) {
  for (int form = 0; form < 3; ++form) {
    SCOPED_TRACE(form);
    ExpectFused(ErfGelu(form), RandomInput({4, 24}), "fuse_gelu_swish", "Gelu", "Erf");
  }
}

TEST(FusionTest, TanhGeluBecomesGelu) {
  for (bool pow : {true, false}) {
    OnnxBuilder b;
    b.Input("x", {-1, 24}).Output("y");
    b.FloatInitializer("three", {}, {3.0f}).FloatInitializer("k", {}, {0.044715f});
    b.FloatInitializer("s", {}, {0.7978846f}).FloatInitializer("one", {}, {1.0f});
    b.FloatInitializer("half", {}, {0.5f});
    if (pow) {
      b.Node("Pow", {"x", "three"}, {"cube"});
    } else {
      b.Node("Mul", {"x", "x"}, {"sq"});
      b.Node("Mul", {"x", "sq"}, {"cube"});
    }
    b.Node("Mul", {"cube", "k"}, {"kc"});
    b.Node("Add", {"x", "kc"}, {"inner"});
    b.Node("Mul", {"inner", "s"}, {"arg"});
    b.Node("Tanh", {"arg"}, {"t"});
    b.Node("Add", {"t", "one"}, {"c"});
    b.Node("Mul", {"x", "half"}, {"hx"});
    b.Node("Mul", {"hx", "c"}, {"y"});
    SCOPED_TRACE(pow);
    ExpectFused(b.Serialize(), RandomInput({4, 24}), "fuse_gelu_swish", "Gelu", "Tanh");
  }
}

TEST(FusionTest, ConvSigmoidMulBecomesSwish) {
  OnnxBuilder b;
  b.Input("x", {-1, 3, 8, 8}).Output("y");
  b.RandomInitializer("w", {8, 3, 3, 3}).RandomInitializer("bias", {8});
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w", "bias"}, {"c"}), "pads", {1, 1, 1, 1});
  b.Node("Sigmoid", {"c"}, {"s"});
  b.Node("Mul", {"c", "s"}, {"y"});
  ExpectFused(b.Serialize(), RandomInput({2, 3, 8, 8}), "fuse_gelu_swish", "Swish", "Sigmoid");
}

TEST(FusionTest, SigmoidReadElsewhereStaysUnfused) {
  OnnxBuilder b;
  b.Input("x", {-1, 16}).Output("y").Output("s");
  b.Node("Sigmoid", {"x"}, {"s"});
  b.Node("Mul", {"x", "s"}, {"y"});
  ExpectNotFused(b.Serialize(), RandomInput({2, 16}), "fuse_gelu_swish");
}

TEST(FusionTest, Relu6PatternsBecomeHardSigmoidAndHardSwish) {
  // HardSigmoid: Clip(x + 3, 0, 6) / 6; HardSwish: x * Clip(x + 3, 0, 6) / 6.
  for (bool swish : {false, true}) {
    OnnxBuilder b;
    b.Input("x", {-1, 32}).Output("y");
    b.FloatInitializer("three", {}, {3.0f}).FloatInitializer("zero", {}, {0.0f});
    b.FloatInitializer("six", {}, {6.0f});
    b.Node("Add", {"x", "three"}, {"a"});
    b.Node("Clip", {"a", "zero", "six"}, {"r6"});
    if (swish) {
      b.Node("Mul", {"x", "r6"}, {"p"});
      b.Node("Div", {"p", "six"}, {"y"});
    } else {
      b.Node("Div", {"r6", "six"}, {"y"});
    }
    SCOPED_TRACE(swish);
    ExpectFused(b.Serialize(), RandomInput({3, 32}, 11, 4.0f), "fuse_gelu_swish", swish ? "HardSwish" : "HardSigmoid",
                "Div");
  }
}

TEST(FusionTest, MulByHardSigmoidSixthBecomesHardSwish) {
  OnnxBuilder b;
  b.Input("x", {-1, 32}).Output("y");
  auto& hs = b.Node("HardSigmoid", {"x"}, {"h"});
  OnnxBuilder::AttrFloat(hs, "alpha", 1.0f / 6.0f);
  b.Node("Mul", {"x", "h"}, {"y"});
  ExpectFused(b.Serialize(), RandomInput({3, 32}, 5, 4.0f), "fuse_gelu_swish", "HardSwish", "HardSigmoid");
}

TEST(FusionTest, MatMulAddBecomesMatMulWithBias) {
  OnnxBuilder b;
  b.Input("x", {-1, 6, 32}).Output("y");
  b.RandomInitializer("w", {32, 20}).RandomInitializer("bias", {20});
  b.Node("MatMul", {"x", "w"}, {"m"});
  b.Node("Add", {"bias", "m"}, {"y"});
  ExpectFused(b.Serialize(), RandomInput({2, 6, 32}), "fuse_matmul_bias", "MatMul", "Add");
}

// A transformer FFN's first Linear: MatMul + bias + erf GELU ends as one
// MatMul primitive with the bias and a GELU post-op (fuse_activation).
TEST(FusionTest, MatMulBiasGeluBecomesOneMatMul) {
  OnnxBuilder b;
  b.Input("x", {-1, 6, 32}).Output("y");
  b.RandomInitializer("w", {32, 24}).RandomInitializer("bias", {24});
  b.FloatInitializer("sqrt2", {}, {1.4142135f}).FloatInitializer("one", {}, {1.0f});
  b.FloatInitializer("half", {}, {0.5f});
  b.Node("MatMul", {"x", "w"}, {"m"});
  b.Node("Add", {"m", "bias"}, {"h"});
  b.Node("Div", {"h", "sqrt2"}, {"a"});
  b.Node("Erf", {"a"}, {"e"});
  b.Node("Add", {"e", "one"}, {"c"});
  b.Node("Mul", {"h", "c"}, {"g"});
  b.Node("Mul", {"g", "half"}, {"y"});
  ExpectFused(b.Serialize(), RandomInput({2, 6, 32}), "fuse_activation", "MatMul", "Gelu");
}

// A transformer's `x + Linear(h)`: the residual Add becomes the MatMul's
// sum post-op (fuse_residual_add), bias fused as well; no Add step is left.
TEST(FusionTest, MatMulBiasResidualAddBecomesOneMatMul) {
  OnnxBuilder b;
  b.Input("x", {-1, 6, 32}).Output("y");
  b.RandomInitializer("w", {32, 32}).RandomInitializer("bias", {32});
  b.Node("Relu", {"x"}, {"h"});
  b.Node("MatMul", {"h", "w"}, {"m"});
  b.Node("Add", {"bias", "m"}, {"mb"});
  b.Node("Add", {"x", "mb"}, {"y"});
  ExpectFused(b.Serialize(), RandomInput({2, 6, 32}), "fuse_residual_add", "MatMul", "Add");
}

TEST(FusionTest, MatMulAddOfAFullTensorStaysUnfused) {
  OnnxBuilder b;
  b.Input("x", {-1, 6, 32}).Output("y");
  b.RandomInitializer("w", {32, 20}).RandomInitializer("other", {6, 20});
  b.Node("MatMul", {"x", "w"}, {"m"});
  b.Node("Add", {"m", "other"}, {"y"});
  ExpectNotFused(b.Serialize(), RandomInput({2, 6, 32}), "fuse_matmul_bias");
}

}  // namespace
}  // namespace q8::engine
