// The kernels added for the wider op set, each through a real Program
// against a plain C++ reference written here or in reference_ops.cc:
// every Activation kind (eltwise, plain and NHWC), every BinaryParams kind,
// the C++ math kernel (unary and doubly broadcasting binary), PRelu,
// reductions (keepdims-style and the all-extents-1 case), LayerNorm,
// InstanceNorm, LRN and LogSoftmax. Tolerance as AllClose (1e-4 relative).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

using AK = Activation::Kind;

Activation Act(AK kind, float alpha = 0.0f, float beta = 0.0f) {
  Activation a{kind};
  a.alpha = alpha;
  a.beta = beta;
  return a;
}

absl::StatusOr<std::vector<float>> RunOne(const core::Dims& x, const core::Dims& y, KernelParams params,
                                          const std::vector<float>& data, Layout layout = Layout::kPlain) {
  return BuildAndRun(OneStep(x, y, std::move(params), layout), {data});
}

TEST(MathNormTest, EveryActivationKindMatchesTheReference) {
  const Activation acts[] = {
      Act(AK::kRelu, 0.1f), Act(AK::kTanh),          Act(AK::kExp),         Act(AK::kAbs),
      Act(AK::kSquare),     Act(AK::kLinear, -1, 2), Act(AK::kElu, 0.7f),   Act(AK::kSoftplus),
      Act(AK::kMish),       Act(AK::kRound),         Act(AK::kHardSwish),   Act(AK::kHardSigmoid, 0.2f, 0.5f),
      Act(AK::kGeluErf),    Act(AK::kGeluTanh),      Act(AK::kSwish, 1.0f), Act(AK::kSelu, 1.6733f, 1.0507f),
  };
  for (Layout layout : {Layout::kPlain, Layout::kNhwc}) {
    for (const Activation& a : acts) {
      RefTensor x = RandomTensor({2, 3, 4, 5}, 7, -3, 3);
      auto got = RunOne(x.dims, x.dims, EltwiseParams{a}, x.data, layout);
      ASSERT_TRUE(got.ok()) << got.status();
      ApplyActivations({a}, x);
      EXPECT_TRUE(AllClose(*got, x.data)) << "kind " << static_cast<int>(a.kind);
    }
  }
  // Domain-restricted ones on positive inputs.
  for (const Activation& a : {Act(AK::kLog), Act(AK::kSqrt), Act(AK::kPow, 1.0f, -1.0f), Act(AK::kPow, 2.0f, 1.5f)}) {
    RefTensor x = RandomTensor({3, 7}, 8, 0.1f, 4);
    auto got = RunOne(x.dims, x.dims, EltwiseParams{a}, x.data);
    ASSERT_TRUE(got.ok()) << got.status();
    ApplyActivations({a}, x);
    EXPECT_TRUE(AllClose(*got, x.data)) << "kind " << static_cast<int>(a.kind);
  }
}

TEST(MathNormTest, EveryBinaryKindBroadcastsItsSecondOperand) {
  using K = BinaryParams::Kind;
  for (K kind :
       {K::kSub, K::kDiv, K::kMax, K::kMin, K::kEqual, K::kGreater, K::kGreaterOrEqual, K::kLess, K::kLessOrEqual}) {
    RefTensor a = RandomTensor({2, 3, 4}, 21), c = RandomTensor({3, 1}, 22);
    a.data[0] = c.data[0];  // an equal pair for the comparisons
    SpecBuilder b;
    const int x = b.Input(a.dims), y = b.Input(c.dims);
    b.Step("Op", BinaryParams{kind, nullptr, {}}, {x, y}, {b.Output(a.dims)});
    auto got = BuildAndRun(b.Build(), {a.data, c.data});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(AllClose(*got, Binary(a, c, kind).data)) << "kind " << static_cast<int>(kind);
  }
}

float MathRef(MathParams::Kind k, float v, float alpha) {
  using M = MathParams::Kind;
  switch (k) {
    case M::kErf:
      return std::erf(v);
    case M::kFloor:
      return std::floor(v);
    case M::kCeil:
      return std::ceil(v);
    case M::kSoftsign:
      return v / (1 + std::fabs(v));
    case M::kThresholdedRelu:
      return v > alpha ? v : 0;
    case M::kCelu:
      return std::max(0.0f, v) + std::min(0.0f, alpha * (std::exp(v / alpha) - 1));
    case M::kSign:
      return static_cast<float>((v > 0) - (v < 0));
    case M::kSin:
      return std::sin(v);
    case M::kAtan:
      return std::atan(v);
    default:
      return NAN;
  }
}

TEST(MathNormTest, CppUnaryMathMatchesTheReference) {
  using M = MathParams::Kind;
  for (M kind :
       {M::kErf, M::kFloor, M::kCeil, M::kSoftsign, M::kThresholdedRelu, M::kCelu, M::kSign, M::kSin, M::kAtan}) {
    MathParams p;
    p.kind = kind;
    p.alpha = 0.8f;
    RefTensor x = RandomTensor({2, 4, 3, 3}, 9, -3, 3);
    x.data[1] = 0.0f;
    for (Layout layout : {Layout::kPlain, Layout::kNhwc}) {
      auto got = RunOne(x.dims, x.dims, p, x.data, layout);
      ASSERT_TRUE(got.ok()) << got.status();
      std::vector<float> ref;
      for (float v : x.data) ref.push_back(MathRef(kind, v, p.alpha));
      EXPECT_TRUE(AllClose(*got, ref)) << "kind " << static_cast<int>(kind);
    }
  }
}

TEST(MathNormTest, CppBinaryBroadcastsBothOperandsAndTakesAConstantOnEitherSide) {
  // a [3, 1] op b [4]: both stretch to [3, 4].
  const RefTensor a = RandomTensor({3, 1}, 31, 0.5f, 2), c = RandomTensor({4}, 32, -2, 2);
  auto ref = [&](MathParams::Kind k) {
    std::vector<float> y;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        const float u = a.data[i], v = c.data[j];
        y.push_back(k == MathParams::Kind::kPow ? std::pow(u, v) : k == MathParams::Kind::kSub ? u - v : u / v);
      }
    return y;
  };
  for (MathParams::Kind kind : {MathParams::Kind::kPow, MathParams::Kind::kSub, MathParams::Kind::kDiv}) {
    MathParams p;
    p.kind = kind;
    {
      SpecBuilder b;
      const int x = b.Input(a.dims), y = b.Input(c.dims);
      b.Step("Op", p, {x, y}, {b.Output({3, 4})});
      auto got = BuildAndRun(b.Build(), {a.data, c.data});
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(AllClose(*got, ref(kind)));
    }
    for (int constant_operand : {0, 1}) {
      MathParams pc = p;
      pc.constant = Constant(constant_operand == 0 ? a : c);
      pc.constant_operand = constant_operand;
      SpecBuilder b;
      const int x = b.Input(constant_operand == 0 ? c.dims : a.dims);
      b.Step("Op", pc, {x}, {b.Output({3, 4})});
      auto got = BuildAndRun(b.Build(), {constant_operand == 0 ? c.data : a.data});
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(AllClose(*got, ref(kind))) << "constant operand " << constant_operand;
    }
  }
}

TEST(MathNormTest, PReluWithAPerChannelSlope) {
  const RefTensor x = RandomTensor({2, 3, 4, 4}, 41), slope = RandomTensor({3, 1, 1}, 42, 0, 0.5f);
  for (Layout layout : {Layout::kPlain, Layout::kNhwc}) {
    auto got = RunOne(x.dims, x.dims, PReluParams{Constant(slope)}, x.data, layout);
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<float> ref(x.data.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      const float s = slope.data[(i / 16) % 3];
      ref[i] = x.data[i] < 0 ? s * x.data[i] : x.data[i];
    }
    EXPECT_TRUE(AllClose(*got, ref));
  }
}

TEST(MathNormTest, ReductionsOverSeveralAxes) {
  using R = ReductionParams::Kind;
  const RefTensor x = RandomTensor({2, 3, 4}, 51, 0.1f, 2);
  for (R kind : {R::kSum, R::kMean, R::kMax, R::kMin, R::kProd, R::kL1, R::kL2, R::kSumSquare, R::kLogSum}) {
    // Reduce axes {0, 2}: output 3 values, given with keepdims=0 dims.
    std::vector<float> ref(3);
    for (int c = 0; c < 3; ++c) {
      double sum = 0, prod = 1, l1 = 0, sq = 0, mx = -1e30, mn = 1e30;
      for (int n = 0; n < 2; ++n)
        for (int k = 0; k < 4; ++k) {
          const double v = x.data[(n * 3 + c) * 4 + k];
          sum += v, prod *= v, l1 += std::fabs(v), sq += v * v, mx = std::max(mx, v), mn = std::min(mn, v);
        }
      const double r[] = {sum, sum / 8, mx, mn, prod, l1, std::sqrt(sq), sq, std::log(sum)};
      ref[c] = static_cast<float>(r[static_cast<int>(kind)]);
    }
    auto got = RunOne(x.dims, {3}, ReductionParams{kind, {0, 2}}, x.data);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(AllClose(*got, ref)) << "kind " << static_cast<int>(kind);
  }
  // Reducing extents of 1 only: identity / abs / square.
  const RefTensor one = RandomTensor({3, 1}, 52);
  auto got = RunOne(one.dims, {3}, ReductionParams{R::kSumSquare, {1}}, one.data);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<float> sq;
  for (float v : one.data) sq.push_back(v * v);
  EXPECT_TRUE(AllClose(*got, sq));
}

// A mean over the tokens of [batch, tokens, features] (a ViT's pooling) and
// the like: oneDNN 2.6 has only its reference kernel there, so these run as
// our own loop; same numbers, and no step's impl is "ref". Axes {1} and
// {1, 2} of a rank-4 tensor (a contiguous block), and axes {0, 2} (not a
// block: oneDNN's kernel, whatever it is, is still checked for numbers).
TEST(MathNormTest, MiddleAxisReductionsAvoidTheReferenceKernel) {
  using R = ReductionParams::Kind;
  const RefTensor x = RandomTensor({2, 16, 3, 8}, 53, -2, 2);
  struct Case {
    std::vector<int64_t> axes;
    core::Dims out;
    bool block;
  };
  for (const Case& c : {Case{{1}, {2, 3, 8}, true}, Case{{1, 2}, {2, 8}, true}, Case{{0, 2}, {16, 8}, false}}) {
    for (R kind : {R::kSum, R::kMean, R::kMax, R::kMin}) {
      std::vector<float> ref(core::NumElements(c.out));
      std::vector<double> acc(ref.size(), 0);
      std::vector<int64_t> count(ref.size(), 0);
      for (int64_t i = 0; i < static_cast<int64_t>(x.data.size()); ++i) {
        int64_t idx[4] = {i / 384, i / 24 % 16, i / 8 % 3, i % 8};
        int64_t o = 0;
        for (int d = 0; d < 4; ++d) {
          if (std::find(c.axes.begin(), c.axes.end(), d) == c.axes.end()) o = o * x.dims[d] + idx[d];
        }
        const double v = x.data[i];
        if (count[o] == 0)
          acc[o] = v;
        else if (kind == R::kMax)
          acc[o] = std::max(acc[o], v);
        else if (kind == R::kMin)
          acc[o] = std::min(acc[o], v);
        else
          acc[o] += v;
        ++count[o];
      }
      for (size_t o = 0; o < ref.size(); ++o)
        ref[o] = static_cast<float>(kind == R::kMean ? acc[o] / count[o] : acc[o]);
      const ProgramSpec spec = OneStep(x.dims, c.out, ReductionParams{kind, c.axes}, Layout::kPlain);
      WeightCache cache;
      auto program = Program::Create(spec, cache);
      ASSERT_TRUE(program.ok()) << program.status();
      for (const StepInfo& step : (*program)->steps()) {
        if (c.block) {
          EXPECT_FALSE(absl::StrContains(step.impl, "ref")) << step.op << " uses " << step.impl;
        }
      }
      auto got = RunOnce(**program, spec, {x.data});
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(AllClose((*got)[0], ref)) << "kind " << static_cast<int>(kind) << ", axes " << c.axes.size();
    }
  }
}

TEST(MathNormTest, LayerNormOverTrailingDimsWithScaleAndBias) {
  const RefTensor x = RandomTensor({2, 3, 4}, 61), scale = RandomTensor({3, 4}, 62), bias = RandomTensor({3, 4}, 63);
  LayerNormParams p;
  p.axis = 1;
  p.epsilon = 1e-5f;
  p.scale = Constant(scale);
  p.bias = Constant(bias);
  auto got = RunOne(x.dims, x.dims, p, x.data);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<float> ref(24);
  for (int n = 0; n < 2; ++n) {
    double mean = 0, var = 0;
    for (int i = 0; i < 12; ++i) mean += x.data[n * 12 + i] / 12.0;
    for (int i = 0; i < 12; ++i) var += std::pow(x.data[n * 12 + i] - mean, 2) / 12.0;
    for (int i = 0; i < 12; ++i) {
      ref[n * 12 + i] =
          static_cast<float>((x.data[n * 12 + i] - mean) / std::sqrt(var + 1e-5) * scale.data[i] + bias.data[i]);
    }
  }
  EXPECT_TRUE(AllClose(*got, ref));
}

TEST(MathNormTest, InstanceNormHasPerSampleAndChannelStatistics) {
  const RefTensor x = RandomTensor({2, 3, 5}, 71), scale = RandomTensor({3}, 72), bias = RandomTensor({3}, 73);
  InstanceNormParams p;
  p.epsilon = 1e-3f;
  p.scale = Constant(scale);
  p.bias = Constant(bias);
  auto got = RunOne(x.dims, x.dims, p, x.data);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, InstanceNorm(x, scale.data, bias.data, 1e-3f).data));
}

TEST(MathNormTest, LrnAcrossChannels) {
  const RefTensor x = RandomTensor({1, 5, 2, 2}, 81);
  const LrnParams p{3, 0.02f, 0.75f, 2.0f};
  for (Layout layout : {Layout::kPlain, Layout::kNhwc}) {
    auto got = RunOne(x.dims, x.dims, p, x.data, layout);
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<float> ref(20);
    for (int c = 0; c < 5; ++c)
      for (int s = 0; s < 4; ++s) {
        double sum = 0;
        for (int k = std::max(0, c - 1); k <= std::min(4, c + 1); ++k) sum += std::pow(x.data[k * 4 + s], 2);
        ref[c * 4 + s] = static_cast<float>(x.data[c * 4 + s] / std::pow(2.0 + 0.02 / 3 * sum, 0.75));
      }
    EXPECT_TRUE(AllClose(*got, ref));
  }
}

TEST(MathNormTest, LogSoftmaxAndFlattenedSoftmax) {
  const RefTensor x = RandomTensor({2, 3, 4}, 91);
  SoftmaxParams p;
  p.axis = 1;
  p.log = true;
  p.flatten_from_axis = true;  // over the 12 trailing values of each row
  auto got = RunOne(x.dims, x.dims, p, x.data);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<float> ref(24);
  for (int n = 0; n < 2; ++n) {
    double mx = -1e30, sum = 0;
    for (int i = 0; i < 12; ++i) mx = std::max<double>(mx, x.data[n * 12 + i]);
    for (int i = 0; i < 12; ++i) sum += std::exp(x.data[n * 12 + i] - mx);
    for (int i = 0; i < 12; ++i) ref[n * 12 + i] = static_cast<float>(x.data[n * 12 + i] - mx - std::log(sum));
  }
  EXPECT_TRUE(AllClose(*got, ref));
}

}  // namespace
}  // namespace q8::kernels::testing
