// Weights and parameters that are genuine runtime inputs (issue #12, item 3):
// Conv weights and bias, BatchNormalization statistics, LSTM W/R/B sent with
// each request, TopK's K as a graph input that keys the plan, and Einsum. Each result
// is checked against a plain C++ reference (or, for the LSTM, against the
// same model with the parameters as initializers, whose path the recurrent
// conformance tests check against ONNX's outputs); tolerance 1e-4 absolute.
// A request whose weights have the wrong shape is INVALID_ARGUMENT.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"
#include "tests/testing/random_data.h"
#include "tests/testing/reference_conv.h"
#include "tests/unit/engine/compile_or_die.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;
using testing::CompileOrDie;

using q8::testing::Random;

void ExpectNear(absl::Span<const float> got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f) << what << " at " << i;
}

// Declares graph input or output `name` with another element type.
void SetElemType(OnnxBuilder& b, const std::string& name, int onnx_type) {
  auto* g = b.model().mutable_graph();
  for (auto* list : {g->mutable_input(), g->mutable_output()}) {
    for (auto& v : *list) {
      if (v.name() == name) v.mutable_type()->mutable_tensor_type()->set_elem_type(onnx_type);
    }
  }
}

// Conv 3x3, pads 1, then Relu, on x [2, C, 6, 5] with W [3, C, 3, 3] and
// B [3] as graph inputs, C dynamic in both: a W whose C differs from x's
// reaches the plan build (its shape rule), a B of the wrong length the
// declared-dims check. First axes are fixed: were every first axis dynamic,
// the engine would batch requests on it.
OnnxBuilder RuntimeConvNet() {
  OnnxBuilder b;
  b.Input("x", {2, -1, 6, 5}).Input("w", {3, -1, 3, 3}).Input("b", {3}).Output("y");
  auto& conv = b.Node("Conv", {"x", "w", "b"}, {"c"});
  OnnxBuilder::AttrInts(conv, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c"}, {"y"});
  return b;
}

TEST(RuntimeWeightsTest, ConvWeightsAndBiasSentPerRequest) {
  auto m = CompileOrDie(RuntimeConvNet());
  ASSERT_NE(m, nullptr);
  // Two requests with other weights on the same plan: each must use its own.
  for (uint32_t seed : {1u, 2u}) {
    const int64_t n = 2, oc = 3, h = 6, wd = 5;
    const std::vector<float> x = Random(n * h * wd, seed), w = Random(oc * 9, seed + 10), bias = Random(oc, seed + 20);
    const core::Tensor tx = core::Tensor::FromFloats({n, 1, h, wd}, x);
    const core::Tensor tw = core::Tensor::FromFloats({oc, 1, 3, 3}, w);
    const core::Tensor tb = core::Tensor::FromFloats({oc}, bias);
    auto out = m->Run({tx.view(), tw.view(), tb.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    ExpectNear((*out)[0].span<float>(), q8::testing::Conv3x3ReluReference(x, n, h, wd, w, bias),
               absl::StrCat("seed ", seed));
  }
}

TEST(RuntimeWeightsTest, WrongWeightShapeIsInvalidArgument) {
  auto m = CompileOrDie(RuntimeConvNet());
  ASSERT_NE(m, nullptr);
  const core::Tensor tx = core::Tensor::FromFloats({2, 1, 6, 5}, Random(60, 3));
  // Input channels 2 against x's 1; then a bias of the wrong length.
  const core::Tensor bad_w = core::Tensor::FromFloats({3, 2, 3, 3}, Random(54, 4));
  const core::Tensor good_w = core::Tensor::FromFloats({3, 1, 3, 3}, Random(27, 5));
  const core::Tensor b2 = core::Tensor::FromFloats({3}, Random(3, 6));
  const core::Tensor b5 = core::Tensor::FromFloats({5}, Random(5, 7));
  auto wrong_w = m->Run({tx.view(), bad_w.view(), b2.view()});
  EXPECT_EQ(wrong_w.status().code(), absl::StatusCode::kInvalidArgument) << wrong_w.status();
  auto wrong_b = m->Run({tx.view(), good_w.view(), b5.view()});
  EXPECT_EQ(wrong_b.status().code(), absl::StatusCode::kInvalidArgument) << wrong_b.status();
  auto right = m->Run({tx.view(), good_w.view(), b2.view()});
  EXPECT_TRUE(right.ok()) << right.status();
}

TEST(RuntimeWeightsTest, BatchNormStatisticsSentPerRequest) {
  OnnxBuilder b;
  const int64_t n = 2, c = 3, h = 4, wd = 5;
  b.Input("x", {n, c, h, wd}).Input("s", {c}).Input("bias", {c}).Input("mean", {c}).Input("var", {c}).Output("y");
  auto& bn = b.Node("BatchNormalization", {"x", "s", "bias", "mean", "var"}, {"y"});
  OnnxBuilder::AttrFloat(bn, "epsilon", 1e-3f);
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  const std::vector<float> x = Random(n * c * h * wd, 1), s = Random(c, 2), bias = Random(c, 3), mean = Random(c, 4);
  std::vector<float> var = Random(c, 5);
  for (float& v : var) v = std::abs(v) + 0.1f;
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t ch = (i / (h * wd)) % c;
    want[i] = s[ch] * (x[i] - mean[ch]) / std::sqrt(var[ch] + 1e-3f) + bias[ch];
  }
  const core::Tensor tx = core::Tensor::FromFloats({n, c, h, wd}, x);
  const core::Tensor ts = core::Tensor::FromFloats({c}, s), tb = core::Tensor::FromFloats({c}, bias);
  const core::Tensor tm = core::Tensor::FromFloats({c}, mean), tv = core::Tensor::FromFloats({c}, var);
  auto out = m->Run({tx.view(), ts.view(), tb.view(), tm.view(), tv.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectNear((*out)[0].span<float>(), want, "BatchNormalization");
}

// A bidirectional LSTM with B and initial states: once with W, R, B as graph
// inputs, once with the same values as initializers.
OnnxBuilder Lstm(bool runtime, const std::vector<float>& w, const std::vector<float>& r,
                 const std::vector<float>& bias) {
  constexpr int64_t kT = 4, kN = 2, kI = 3, kH = 5, kD = 2;
  OnnxBuilder b;
  b.Input("x", {kT, kN, kI});
  if (runtime) {
    b.Input("w", {kD, 4 * kH, kI}).Input("r", {kD, 4 * kH, kH}).Input("b", {kD, 8 * kH});
  } else {
    b.FloatInitializer("w", {kD, 4 * kH, kI}, w);
    b.FloatInitializer("r", {kD, 4 * kH, kH}, r);
    b.FloatInitializer("b", {kD, 8 * kH}, bias);
  }
  b.Output("y").Output("y_h");
  auto& n = b.Node("LSTM", {"x", "w", "r", "b"}, {"y", "y_h"});
  OnnxBuilder::AttrInt(n, "hidden_size", kH);
  OnnxBuilder::AttrString(n, "direction", "bidirectional");
  return b;
}

TEST(RuntimeWeightsTest, LstmWeightsSentPerRequestMatchInitializers) {
  const std::vector<float> w = Random(2 * 20 * 3, 1), r = Random(2 * 20 * 5, 2), bias = Random(2 * 40, 3);
  const std::vector<float> x = Random(4 * 2 * 3, 4);
  auto runtime = CompileOrDie(Lstm(true, w, r, bias));
  auto constant = CompileOrDie(Lstm(false, w, r, bias));
  ASSERT_NE(runtime, nullptr);
  ASSERT_NE(constant, nullptr);
  const core::Tensor tx = core::Tensor::FromFloats({4, 2, 3}, x);
  const core::Tensor tw = core::Tensor::FromFloats({2, 20, 3}, w), tr = core::Tensor::FromFloats({2, 20, 5}, r);
  const core::Tensor tb = core::Tensor::FromFloats({2, 40}, bias);
  auto got = runtime->Run({tx.view(), tw.view(), tr.view(), tb.view()});
  auto want = constant->Run({tx.view()});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(want.ok()) << want.status();
  for (size_t k = 0; k < 2; ++k) {
    const auto g = (*got)[k].span<float>(), e = (*want)[k].span<float>();
    ExpectNear(g, {e.begin(), e.end()}, absl::StrCat("output ", k));
  }
}

TEST(RuntimeWeightsTest, TopKWithKAsAGraphInput) {
  OnnxBuilder b(11);
  b.Input("x", {3, 6}).Input("k", {1}).Output("values").Output("indices");
  SetElemType(b, "k", onnx::TensorProto::INT64);
  SetElemType(b, "indices", onnx::TensorProto::INT64);
  auto& topk = b.Node("TopK", {"x", "k"}, {"values", "indices"});
  OnnxBuilder::AttrInt(topk, "axis", 1);
  OnnxBuilder::AttrInt(topk, "largest", 0);
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  std::vector<float> x = Random(18, 9);
  x[1] = x[4];  // a tie: the lower index comes first
  const core::Tensor tx = core::Tensor::FromFloats({3, 6}, x);
  for (int64_t k : {2, 4}) {
    core::Tensor tk(core::DataType::kInt64, {1});
    tk.span<int64_t>()[0] = k;
    auto out = m->Run({tx.view(), tk.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)[0].dims(), (core::Dims{3, k}));
    for (int64_t row = 0; row < 3; ++row) {
      std::vector<int64_t> order(6);
      std::iota(order.begin(), order.end(), int64_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t c) { return x[row * 6 + a] < x[row * 6 + c]; });
      for (int64_t j = 0; j < k; ++j) {
        EXPECT_EQ((*out)[0].span<float>()[row * k + j], x[row * 6 + order[j]]) << row << "," << j;
        EXPECT_EQ((*out)[1].span<int64_t>()[row * k + j], order[j]) << row << "," << j;
      }
    }
  }
}

// A batched matmul equation runs oneDNN's matmul (not the plain loop); a
// diagonal runs the general EinsumOp. Both against loops written here.
TEST(RuntimeWeightsTest, EinsumBatchedMatMulAndDiagonal) {
  OnnxBuilder b(12);
  b.Input("x", {2, 3, 4}).Input("y", {2, 4, 5}).Input("d", {2, 3, 3}).Output("z").Output("diag");
  OnnxBuilder::AttrString(b.Node("Einsum", {"x", "y"}, {"z"}), "equation", "bij, bjk -> bik");
  OnnxBuilder::AttrString(b.Node("Einsum", {"d"}, {"diag"}), "equation", "...ii->...i");
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  auto prims = m->Primitives(2);
  ASSERT_TRUE(prims.ok()) << prims.status();
  int onednn = 0, cpp = 0;
  for (const auto& p : *prims) {
    if (p.op != "Einsum") continue;
    (p.impl == "q8:cpp" ? cpp : onednn) += 1;
    EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.impl;
  }
  EXPECT_EQ(onednn, 1) << "the batched matmul equation should run oneDNN's matmul";
  EXPECT_EQ(cpp, 1) << "the diagonal runs the plain loop";
  const std::vector<float> x = Random(24, 1), y = Random(40, 2), d = Random(18, 3);
  const core::Tensor tx = core::Tensor::FromFloats({2, 3, 4}, x), ty = core::Tensor::FromFloats({2, 4, 5}, y);
  const core::Tensor td = core::Tensor::FromFloats({2, 3, 3}, d);
  auto out = m->Run({tx.view(), ty.view(), td.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> want_z(30, 0.0f), want_diag(6);
  for (int n = 0; n < 2; ++n) {
    for (int i = 0; i < 3; ++i) {
      for (int k = 0; k < 5; ++k) {
        for (int j = 0; j < 4; ++j) want_z[(n * 3 + i) * 5 + k] += x[(n * 3 + i) * 4 + j] * y[(n * 4 + j) * 5 + k];
      }
      want_diag[n * 3 + i] = d[(n * 3 + i) * 3 + i];
    }
  }
  ExpectNear((*out)[0].span<float>(), want_z, "bij,bjk->bik");
  ExpectNear((*out)[1].span<float>(), want_diag, "...ii->...i");
}

}  // namespace
}  // namespace q8::engine
