// Kernels whose weights or parameters are step inputs (issue #12, item 3),
// through a real Program against plain C++ references: Conv with runtime
// weights and bias (plain and NHWC activations, grouped, residual sum; the
// weights reordered per Run), ConvTranspose with runtime weights (against
// the same step with constant weights), mixed constant / runtime
// BatchNormalization and runtime InstanceNormalization parameters; plus the
// small ops added with them (Shrink, IsNaN, IsInf, TopK, EyeLike, the
// general Einsum). Every
// primitive's impl is checked to be no "ref" kernel. Tolerance: AllClose.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/data_ops.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

ConvParams Conv3x3(int64_t groups) {
  ConvParams p;
  p.strides = {1, 1};
  p.dilations = {1, 1};
  p.pads_begin = {1, 0};
  p.pads_end = {1, 1};
  p.groups = groups;
  p.runtime_weights = true;
  p.runtime_bias = true;
  return p;
}

void ExpectNoRef(const Program& program) {
  for (const StepInfo& s : program.steps()) EXPECT_EQ(s.impl.find("ref"), std::string::npos) << s.op << ": " << s.impl;
}

TEST(RuntimeParamsTest, ConvWeightsAndBiasAreReadPerRun) {
  for (Layout layout : {Layout::kPlain, Layout::kNhwc}) {
    for (int64_t groups : {1, 2}) {
      SCOPED_TRACE(absl::StrCat("layout ", static_cast<int>(layout), " groups ", groups));
      const core::Dims xd{2, 4, 7, 6}, wd{6, 4 / groups, 3, 3};
      ConvParams p = Conv3x3(groups);
      p.post_ops = {{Activation::Kind::kRelu}};
      SpecBuilder b;
      const int x = b.Input(xd), w = b.Input(wd), bias = b.Input({6});
      const RefTensor probe = Conv2d(RandomTensor(xd, 1), RandomTensor(wd, 2), Random(6, 3), p);
      const int y = b.Output(probe.dims);
      if (layout == Layout::kNhwc) {
        const int xn = b.Arena(xd, Layout::kNhwc), yn = b.Arena(probe.dims, Layout::kNhwc);
        b.Step("Reorder", ReorderParams{}, {x}, {xn});
        b.Step("Conv", p, {xn, w, bias}, {yn});
        b.Step("Reorder", ReorderParams{}, {yn}, {y});
      } else {
        b.Step("Conv", p, {x, w, bias}, {y});
      }
      WeightCache cache;
      auto program = Program::Create(b.Build(), cache);
      ASSERT_TRUE(program.ok()) << program.status();
      ExpectNoRef(**program);
      auto ws = (*program)->NewWorkspace();
      ASSERT_TRUE(ws.ok()) << ws.status();
      // Other weights on the same workspace each Run: nothing may be cached.
      for (uint32_t seed : {10u, 20u}) {
        const RefTensor xt = RandomTensor(xd, seed), wt = RandomTensor(wd, seed + 1, -0.5f, 0.5f);
        const std::vector<float> bt = Random(6, seed + 2);
        std::vector<std::vector<float>> out = {std::vector<float>(probe.data.size())};
        ASSERT_TRUE(RunWith(**program, **ws, {xt.data, wt.data, bt}, out).ok());
        EXPECT_TRUE(AllClose(out[0], Conv2d(xt, wt, bt, p).data)) << "seed " << seed;
      }
      EXPECT_EQ(cache.bytes(), 0);  // no runtime weights land in the model's cache
    }
  }
}

TEST(RuntimeParamsTest, ConvWithRuntimeWeightsAccumulatesIntoTheResidual) {
  const core::Dims xd{1, 3, 5, 5}, wd{4, 3, 3, 3}, yd{1, 4, 5, 4};
  ConvParams p = Conv3x3(1);
  p.runtime_bias = false;
  p.accumulate = true;
  const RefTensor xt = RandomTensor(xd, 1), wt = RandomTensor(wd, 2), res = RandomTensor(yd, 3);
  SpecBuilder b;
  const int x = b.Input(xd), w = b.Input(wd), r = b.Input(yd);
  const int acc = b.Arena(yd), y = b.Output(yd);
  b.Step("Reorder", ReorderParams{}, {r}, {acc});
  b.Step("Conv", p, {x, acc, w}, {acc});
  b.Step("Reorder", ReorderParams{}, {acc}, {y});
  auto got = BuildAndRun(b.Build(), {xt.data, wt.data, res.data});
  ASSERT_TRUE(got.ok()) << got.status();
  RefTensor want = Conv2d(xt, wt, {}, p);
  for (size_t i = 0; i < want.data.size(); ++i) want.data[i] += res.data[i];
  EXPECT_TRUE(AllClose(*got, want.data));
}

TEST(RuntimeParamsTest, ConvTransposeRuntimeWeightsEqualConstantWeights) {
  const core::Dims xd{1, 4, 5, 5}, wd{4, 3, 3, 3}, yd{1, 6, 10, 10};
  DeconvParams p;
  p.strides = {2, 2};
  p.dilations = {1, 1};
  p.pads_begin = {1, 1};
  p.pads_end = {0, 0};
  p.groups = 2;
  const RefTensor xt = RandomTensor(xd, 1), wt = RandomTensor(wd, 2), bt = RandomTensor({6}, 3);
  DeconvParams constant = p;
  constant.weights = Constant(wt);
  constant.bias = Constant(bt);
  auto want = BuildAndRun(OneStep(xd, yd, constant, Layout::kPlain), {xt.data});
  ASSERT_TRUE(want.ok()) << want.status();
  p.runtime_weights = p.runtime_bias = true;
  SpecBuilder b;
  const int x = b.Input(xd), w = b.Input(wd), bias = b.Input({6});
  b.Step("ConvTranspose", p, {x, w, bias}, {b.Output(yd)});
  WeightCache cache;
  auto program = Program::Create(b.Build(), cache);
  ASSERT_TRUE(program.ok()) << program.status();
  ExpectNoRef(**program);
  auto got = BuildAndRun(b.Build(), {xt.data, wt.data, bt.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, *want));
}

TEST(RuntimeParamsTest, BatchNormMixesConstantAndRuntimeParameters) {
  const core::Dims xd{2, 3, 4, 4};
  const RefTensor xt = RandomTensor(xd, 1);
  const std::vector<float> scale = Random(3, 2), bias = Random(3, 3), mean = Random(3, 4);
  std::vector<float> var = Random(3, 5, 0.1f, 2.0f);
  BatchNormParams p;
  p.epsilon = 1e-3f;
  p.bias = Constant({{3}, bias});
  p.variance = Constant({{3}, var});
  SpecBuilder b;
  const int x = b.Input(xd), s = b.Input({3}), m = b.Input({3});
  b.Step("BatchNormalization", p, {x, s, m}, {b.Output(xd)});
  auto got = BuildAndRun(b.Build(), {xt.data, scale, mean});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, BatchNorm(xt, scale, bias, mean, var, 1e-3f).data));
}

TEST(RuntimeParamsTest, InstanceNormRuntimeScaleAndBias) {
  const RefTensor x = RandomTensor({2, 3, 5}, 71), scale = RandomTensor({3}, 72), bias = RandomTensor({3}, 73);
  InstanceNormParams p;
  p.epsilon = 1e-3f;
  p.bias = Constant(bias);  // scale at run time, bias constant
  SpecBuilder b;
  const int in = b.Input(x.dims), s = b.Input({3});
  b.Step("InstanceNormalization", p, {in, s}, {b.Output(x.dims)});
  auto got = BuildAndRun(b.Build(), {x.data, scale.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, InstanceNorm(x, scale.data, bias.data, 1e-3f).data));
}

TEST(RuntimeParamsTest, ShrinkIsNaNIsInf) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {-3.0f, -1.0f, 0.0f, 1.0f, 3.0f, inf, -inf, nan};
  using K = MathParams::Kind;
  MathParams shrink{K::kShrink};
  shrink.alpha = 1.5f;
  shrink.beta = 0.5f;
  MathParams isnan{K::kIsNaN}, isinf{K::kIsInf}, isposinf{K::kIsInf};
  isinf.alpha = isinf.beta = 1.0f;
  isposinf.alpha = 1.0f;
  const core::Dims d{8};
  auto run = [&](const MathParams& p) { return BuildAndRun(OneStep(d, d, p, Layout::kPlain), {x}); };
  auto s = run(shrink);
  ASSERT_TRUE(s.ok()) << s.status();
  const std::vector<float> want_shrink = {-2.5f, 0.0f, 0.0f, 0.0f, 2.5f, inf, -inf};
  for (size_t i = 0; i < want_shrink.size(); ++i) EXPECT_EQ((*s)[i], want_shrink[i]) << i;
  auto n = run(isnan);
  auto a = run(isinf);
  auto pos = run(isposinf);
  ASSERT_TRUE(n.ok() && a.ok() && pos.ok());
  EXPECT_EQ(*n, (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(*a, (std::vector<float>{0, 0, 0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(*pos, (std::vector<float>{0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST(RuntimeParamsTest, TopKAndEyeLikeMatchLoops) {
  // [2, 5, 3], axis 1: per (row, column) the k largest / smallest, ties by index.
  RefTensor x = RandomTensor({2, 5, 3}, 5);
  x.data[3] = x.data[9];  // a tie in column 0 of row 0
  const core::Tensor xt = core::Tensor::FromFloats(x.dims, x.data);
  for (bool largest : {true, false}) {
    for (bool indices : {false, true}) {
      TopKOp op{1, 3, largest, indices};
      core::Tensor y(core::DataType::kFloat32, {2, 3, 3});
      ASSERT_TRUE(RunDataOp(DataOp{ValueOp{op}}, {xt.view()}, y.mutable_view()).ok());
      for (int64_t o = 0; o < 2; ++o) {
        for (int64_t i = 0; i < 3; ++i) {
          std::vector<int64_t> order(5);
          std::iota(order.begin(), order.end(), int64_t{0});
          auto at = [&](int64_t k) { return x.data[(o * 5 + k) * 3 + i]; };
          std::stable_sort(order.begin(), order.end(),
                           [&](int64_t a, int64_t b) { return largest ? at(a) > at(b) : at(a) < at(b); });
          for (int64_t j = 0; j < 3; ++j) {
            const float want = indices ? static_cast<float>(order[j]) : at(order[j]);
            EXPECT_EQ(y.span<float>()[(o * 3 + j) * 3 + i], want) << largest << indices << o << i << j;
          }
        }
      }
    }
  }
  const core::Tensor e = core::Tensor::FromFloats({3, 4}, std::vector<float>(12, 7.0f));
  core::Tensor eye(core::DataType::kFloat32, {3, 4});
  ASSERT_TRUE(RunDataOp(DataOp{ValueOp{EyeLikeOp{1}}}, {e.view()}, eye.mutable_view()).ok());
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) EXPECT_EQ(eye.span<float>()[r * 4 + c], c - r == 1 ? 1.0f : 0.0f) << r << c;
  }
}

TEST(RuntimeParamsTest, GeneralEinsumMatchesLoops) {
  const RefTensor a = RandomTensor({2, 3, 3}, 1), b = RandomTensor({3}, 2);
  const core::Tensor ta = core::Tensor::FromFloats(a.dims, a.data), tb = core::Tensor::FromFloats(b.dims, b.data);
  auto run = [&](EinsumOp op, std::vector<core::TensorView> in, core::Dims out_dims) {
    core::Tensor y(core::DataType::kFloat32, std::move(out_dims));
    absl::Status s = RunDataOp(DataOp{ValueOp{std::move(op)}}, in, y.mutable_view());
    EXPECT_TRUE(s.ok()) << s;
    return std::vector<float>(y.span<float>().begin(), y.span<float>().end());
  };
  // "bii->bi": the diagonals.
  const std::vector<float> diag = run(EinsumOp{{{0, 1, 1}}, {0, 1}, {2, 3}}, {ta.view()}, {2, 3});
  for (int n = 0; n < 2; ++n) {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(diag[n * 3 + i], a.data[(n * 3 + i) * 3 + i]);
  }
  // "bij,j->bi": a sum of products over j.
  const std::vector<float> mv = run(EinsumOp{{{0, 1, 2}, {2}}, {0, 1}, {2, 3, 3}}, {ta.view(), tb.view()}, {2, 3});
  for (int r = 0; r < 6; ++r) {
    float want = 0;
    for (int j = 0; j < 3; ++j) want += a.data[r * 3 + j] * b.data[j];
    EXPECT_NEAR(mv[r], want, 1e-5f);
  }
  // "bij->jb": a sum over i with the kept axes permuted.
  const std::vector<float> t = run(EinsumOp{{{0, 1, 2}}, {2, 0}, {2, 3, 3}}, {ta.view()}, {3, 2});
  for (int j = 0; j < 3; ++j) {
    for (int n = 0; n < 2; ++n) {
      float want = 0;
      for (int i = 0; i < 3; ++i) want += a.data[(n * 3 + i) * 3 + j];
      EXPECT_NEAR(t[j * 2 + n], want, 1e-5f);
    }
  }
  // "j,j->": the inner product, a scalar.
  const std::vector<float> dot = run(EinsumOp{{{0}, {0}}, {}, {3}}, {tb.view(), tb.view()}, {});
  EXPECT_NEAR(dot[0], b.data[0] * b.data[0] + b.data[1] * b.data[1] + b.data[2] * b.data[2], 1e-5f);
}

}  // namespace
}  // namespace q8::kernels::testing
