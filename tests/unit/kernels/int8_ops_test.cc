// int8 data movement and element-wise ops: Reorder quantize / dequantize /
// requantize (round-half-even, saturation, layout change), Pool, Concat,
// Relu, Binary (per-input scales), and the f32-only ops rejecting int8.
#include <cmath>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/int8_util.h"

namespace q8::kernels::testing {
namespace {

// One Reorder step from a plain input to a plain output.
std::vector<double> RunReorder(const std::vector<double>& in, DT in_type, float in_scale, DT out_type,
                               float out_scale) {
  const core::Dims dims{static_cast<int64_t>(in.size())};
  SpecBuilder s;
  s.Step("Reorder", ReorderParams{}, {s.Input(dims, in_type, in_scale)}, {s.Output(dims, out_type, out_scale)});
  auto got = RunBytes(s.Build(), {Store(in, in_type)});
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? Values((*got)[0], out_type) : std::vector<double>{};
}

TEST(Int8ReorderTest, QuantizeRoundsHalfToEvenAndSaturates) {
  // scale 0.25: x / 0.25 is exact, so halves are real ties.
  const std::vector<double> x{0.125, 0.375, 0.625, -0.125, -0.375, 1.0, 63.0, 64.0, 100.0, -100.0, -32.125};
  EXPECT_EQ(RunReorder(x, DT::kFloat32, 1, DT::kInt8, 0.25f),
            (std::vector<double>{0, 2, 2, 0, -2, 4, 127, 127, 127, -128, -128}));
  EXPECT_EQ(RunReorder(x, DT::kFloat32, 1, DT::kUInt8, 0.25f),
            (std::vector<double>{0, 2, 2, 0, 0, 4, 252, 255, 255, 0, 0}));
}

TEST(Int8ReorderTest, Dequantize) {
  const std::vector<double> q{0, 1, 127, 128, 255};
  EXPECT_EQ(RunReorder(q, DT::kUInt8, 0.5f, DT::kFloat32, 1), (std::vector<double>{0, 0.5, 63.5, 64, 127.5}));
  const std::vector<double> s{-128, -1, 0, 127};
  EXPECT_EQ(RunReorder(s, DT::kInt8, 0.25f, DT::kFloat32, 1), (std::vector<double>{-32, -0.25, 0, 31.75}));
}

TEST(Int8ReorderTest, Requantize) {
  // s8 @0.5 -> s8 @1: q/2, ties to even.
  EXPECT_EQ(RunReorder({3, 5, -3, -5, 7, 127, -128}, DT::kInt8, 0.5f, DT::kInt8, 1.0f),
            (std::vector<double>{2, 2, -2, -2, 4, 64, -64}));
  // s8 @0.5 -> u8 @0.25: 2q, negatives and > 255 saturate.
  EXPECT_EQ(RunReorder({-5, 0, 3, 100, 127}, DT::kInt8, 0.5f, DT::kUInt8, 0.25f),
            (std::vector<double>{0, 0, 6, 200, 254}));
  EXPECT_EQ(RunReorder({0, 100, 200, 255}, DT::kUInt8, 1.0f, DT::kInt8, 1.0f), (std::vector<double>{0, 100, 127, 127}));
}

TEST(Int8ReorderTest, PlainToNhwcRequantizeMatchesReference) {
  const QTensor x = RandomQ({2, 5, 3, 4}, DT::kUInt8, 0.03f, 61);
  const float s_out = 0.07f;
  SpecBuilder s;
  const int in = s.Input(x.dims, DT::kUInt8, x.scale);
  const int xn = s.Arena(x.dims, Layout::kNhwc, DT::kInt8, s_out);
  s.Step("Reorder", ReorderParams{}, {in}, {xn});
  s.Step("Reorder", ReorderParams{}, {xn}, {s.Output(x.dims, DT::kFloat32)});
  auto got = RunBytes(s.Build(), {x.bytes()});
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<double> ref;
  for (int32_t q : x.q) ref.push_back(RoundSat(q * 0.03 / s_out, DT::kInt8) * s_out);
  const std::vector<double> out = Values((*got)[0], DT::kFloat32);
  ASSERT_EQ(out.size(), ref.size());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], s_out * 1.0001) << i;  // <= 1 step
}

TEST(Int8ReorderTest, TransposeKeepsOrRescalesInt8) {
  const QTensor x = RandomQ({2, 3, 4}, DT::kInt8, 0.1f, 65);
  SpecBuilder s;
  const int in = s.Input(x.dims, DT::kInt8, 0.1f);
  s.Step("Transpose", TransposeParams{{2, 0, 1}}, {in}, {s.Output({4, 2, 3}, DT::kInt8, 0.1f)});
  s.Step("Transpose", TransposeParams{{2, 0, 1}}, {in}, {s.Output({4, 2, 3}, DT::kInt8, 0.2f)});
  auto got = RunBytes(s.Build(), {x.bytes()});
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<double> same, half;
  for (int64_t k = 0; k < 4; ++k)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        const int32_t q = x.q[(i * 3 + j) * 4 + k];
        same.push_back(q);
        half.push_back(RoundSat(q / 2.0, DT::kInt8));
      }
  EXPECT_EQ(Values((*got)[0], DT::kInt8), same);
  EXPECT_EQ(Values((*got)[1], DT::kInt8), half);
}

// Pool in NHWC (where int8 pooling is optimized), q in and q out.
TEST(Int8PoolTest, MaxAndAverageU8Nhwc) {
  const QTensor x = RandomQ({1, 16, 8, 8}, DT::kUInt8, 0.1f, 71);
  for (auto kind : {PoolParams::Kind::kMax, PoolParams::Kind::kAverage}) {
    const PoolParams p{kind, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false};
    RefTensor xf{x.dims, std::vector<float>(x.q.begin(), x.q.end())};
    const RefTensor ref = Pool2d(xf, p);
    SpecBuilder s;
    const int xn = s.Arena(x.dims, Layout::kNhwc, DT::kUInt8, 0.1f);
    const int yn = s.Arena(ref.dims, Layout::kNhwc, DT::kUInt8, 0.1f);
    s.Step("Reorder", ReorderParams{}, {s.Input(x.dims, DT::kUInt8, 0.1f)}, {xn});
    s.Step("Pool", p, {xn}, {yn});
    s.Step("Reorder", ReorderParams{}, {yn}, {s.Output(ref.dims, DT::kUInt8, 0.1f)});
    auto got = RunBytes(s.Build(), {x.bytes()});
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<double> want(ref.data.begin(), ref.data.end());
    EXPECT_TRUE(Near(Values((*got)[0], DT::kUInt8), ToOutput(want, DT::kUInt8, 1.0f), DT::kUInt8));
  }
}

// Max pooling of int8 NHWC with fewer than 64 channels runs on our kernel
// (kernels/pool.cc); exact against the reference for u8 and s8, channel
// counts that are and are not multiples of its 16-byte blocks, pads,
// strides and dilations; 64 channels and up stay on oneDNN.
TEST(Int8PoolTest, MaxNhwcIsExactOnOwnKernelAndOneDnn) {
  struct Case {
    int64_t c;
    PoolParams p;
    bool own;
  };
  const std::vector<Case> cases = {
      {16, {PoolParams::Kind::kMax, {2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, false}, true},
      {20, {PoolParams::Kind::kMax, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false}, true},
      {48, {PoolParams::Kind::kMax, {3, 2}, {1, 2}, {2, 1}, {2, 0}, {1, 1}, false}, true},
      {3, {PoolParams::Kind::kMax, {2, 3}, {2, 1}, {1, 1}, {1, 2}, {0, 2}, false}, true},
      {64, {PoolParams::Kind::kMax, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false}, false},
  };
  uint32_t seed = 90;
  for (const Case& c : cases) {
    for (DT dtype : {DT::kUInt8, DT::kInt8}) {
      SCOPED_TRACE(::testing::Message() << "channels " << c.c << " dtype " << core::OipName(dtype));
      const QTensor x = RandomQ({2, c.c, 9, 8}, dtype, 0.1f, ++seed);
      RefTensor xf{x.dims, std::vector<float>(x.q.begin(), x.q.end())};
      const RefTensor ref = Pool2d(xf, c.p);
      SpecBuilder s;
      const int xn = s.Arena(x.dims, Layout::kNhwc, dtype, 0.1f);
      const int yn = s.Arena(ref.dims, Layout::kNhwc, dtype, 0.1f);
      s.Step("Reorder", ReorderParams{}, {s.Input(x.dims, dtype, 0.1f)}, {xn});
      s.Step("Pool", c.p, {xn}, {yn});
      s.Step("Reorder", ReorderParams{}, {yn}, {s.Output(ref.dims, dtype, 0.1f)});
      const ProgramSpec spec = s.Build();
      WeightCache cache;
      auto program = Program::Create(spec, cache);
      ASSERT_TRUE(program.ok()) << program.status();
      const std::string& impl = (*program)->steps()[1].impl;
      EXPECT_EQ(absl::StartsWith(impl, "cpp:max_pool_"), c.own) << impl;
      auto got = RunProgram(**program, spec, {x.bytes()});
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(Values((*got)[0], dtype), std::vector<double>(ref.data.begin(), ref.data.end()));
    }
  }
}

TEST(Int8PoolTest, RejectsScaleOrTypeChange) {
  const PoolParams p{PoolParams::Kind::kMax, {2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, false};
  SpecBuilder a;
  a.Step("Pool", p, {a.Input({1, 4, 4, 4}, DT::kUInt8, 0.1f)}, {a.Output({1, 4, 2, 2}, DT::kUInt8, 0.2f)});
  EXPECT_EQ(BuildStatus(a.Build()).code(), absl::StatusCode::kInvalidArgument);
  SpecBuilder b;
  b.Step("Pool", p, {b.Input({1, 4, 4, 4}, DT::kUInt8, 0.1f)}, {b.Output({1, 4, 2, 2}, DT::kInt8, 0.1f)});
  EXPECT_EQ(BuildStatus(b.Build()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Int8ConcatTest, SameScaleConcatIsExactAndMismatchIsRejected) {
  const QTensor a = RandomQ({1, 3, 4, 4}, DT::kInt8, 0.2f, 81), b = RandomQ({1, 5, 4, 4}, DT::kInt8, 0.2f, 82);
  SpecBuilder s;
  const int an = s.Arena(a.dims, Layout::kNhwc, DT::kInt8, 0.2f), bn = s.Arena(b.dims, Layout::kNhwc, DT::kInt8, 0.2f);
  const int yn = s.Arena({1, 8, 4, 4}, Layout::kNhwc, DT::kInt8, 0.2f);
  s.Step("Reorder", ReorderParams{}, {s.Input(a.dims, DT::kInt8, 0.2f)}, {an});
  s.Step("Reorder", ReorderParams{}, {s.Input(b.dims, DT::kInt8, 0.2f)}, {bn});
  s.Step("Concat", ConcatParams{1}, {an, bn}, {yn});
  s.Step("Reorder", ReorderParams{}, {yn}, {s.Output({1, 8, 4, 4}, DT::kInt8, 0.2f)});
  auto got = RunBytes(s.Build(), {a.bytes(), b.bytes()});
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<double> want(a.q.begin(), a.q.end());
  want.insert(want.end(), b.q.begin(), b.q.end());
  EXPECT_EQ(Values((*got)[0], DT::kInt8), want);

  SpecBuilder bad;
  const int x = bad.Input({1, 2, 2, 2}, DT::kInt8, 0.2f), y = bad.Input({1, 2, 2, 2}, DT::kInt8, 0.3f);
  bad.Step("Concat", ConcatParams{1}, {x, y}, {bad.Output({1, 4, 2, 2}, DT::kInt8, 0.2f)});
  EXPECT_EQ(BuildStatus(bad.Build()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Int8EltwiseTest, ReluOnlyWithSameScale) {
  const QTensor x = RandomQ({4, 33}, DT::kInt8, 0.1f, 91);
  SpecBuilder s;
  s.Step("Relu", EltwiseParams{{Activation::Kind::kRelu}}, {s.Input(x.dims, DT::kInt8, 0.1f)},
         {s.Output(x.dims, DT::kInt8, 0.1f)});
  auto got = RunBytes(s.Build(), {x.bytes()});
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<double> want;
  for (int32_t q : x.q) want.push_back(std::max(q, 0));
  EXPECT_EQ(Values((*got)[0], DT::kInt8), want);

  SpecBuilder sig;
  sig.Step("Sigmoid", EltwiseParams{{Activation::Kind::kSigmoid}}, {sig.Input({2, 2}, DT::kUInt8, 0.1f)},
           {sig.Output({2, 2}, DT::kUInt8, 0.1f)});
  EXPECT_EQ(BuildStatus(sig.Build()).code(), absl::StatusCode::kInvalidArgument);
  SpecBuilder rescale;
  rescale.Step("Relu", EltwiseParams{{Activation::Kind::kRelu}}, {rescale.Input({2, 2}, DT::kInt8, 0.1f)},
               {rescale.Output({2, 2}, DT::kInt8, 0.2f)});
  EXPECT_EQ(BuildStatus(rescale.Build()).code(), absl::StatusCode::kInvalidArgument);
}

struct BinaryCase {
  BinaryParams::Kind kind;
  DT t0, t1, out;
  std::vector<Activation> post_ops;
};

TEST(Int8BinaryTest, PerInputScalesGiveRealResultAtOutputScale) {
  const std::vector<BinaryCase> cases{
      {BinaryParams::Kind::kAdd, DT::kUInt8, DT::kInt8, DT::kInt8, {}},
      {BinaryParams::Kind::kAdd, DT::kInt8, DT::kInt8, DT::kFloat32, {}},
      {BinaryParams::Kind::kAdd, DT::kUInt8, DT::kUInt8, DT::kUInt8, {{Activation::Kind::kRelu}}},
      {BinaryParams::Kind::kMul, DT::kInt8, DT::kUInt8, DT::kInt8, {}},
      {BinaryParams::Kind::kAdd, DT::kFloat32, DT::kInt8, DT::kUInt8, {{Activation::Kind::kSigmoid}}},
  };
  const core::Dims dims{2, 8, 5, 5};
  for (const BinaryCase& c : cases) {
    const float s0 = 0.04f, s1 = 0.03f;
    const QTensor q0 = RandomQ(dims, c.t0 == DT::kFloat32 ? DT::kInt8 : c.t0, s0, 101);
    const QTensor q1 = RandomQ(dims, c.t1, s1, 102);
    // f32 inputs carry real values directly (scale 1).
    std::vector<double> r0, r1, real;
    for (int32_t q : q0.q) r0.push_back(q * s0);
    for (int32_t q : q1.q) r1.push_back(q * s1);
    for (size_t i = 0; i < r0.size(); ++i)
      real.push_back(c.kind == BinaryParams::Kind::kAdd ? r0[i] + r1[i] : r0[i] * r1[i]);
    Activate(c.post_ops, real);
    const float s_out = c.out == DT::kFloat32 ? 1.0f : ScaleFor(real, c.out, 1.1);
    const Bytes b0 = c.t0 == DT::kFloat32 ? Store(r0, DT::kFloat32) : q0.bytes();
    SpecBuilder s;
    const int i0 = s.Input(dims, c.t0, c.t0 == DT::kFloat32 ? 1.0f : s0), i1 = s.Input(dims, c.t1, s1);
    s.Step("Binary", BinaryParams{c.kind, nullptr, c.post_ops}, {i0, i1}, {s.Output(dims, c.out, s_out)});
    auto got = RunBytes(s.Build(), {b0, q1.bytes()});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(Near(Values((*got)[0], c.out), ToOutput(real, c.out, s_out), c.out))
        << "kind " << static_cast<int>(c.kind) << " out " << core::OipName(c.out);
  }
}

TEST(Int8Rejections, SoftmaxAndBatchNormAreF32Only) {
  SpecBuilder s;
  s.Step("Softmax", SoftmaxParams{1}, {s.Input({2, 4}, DT::kUInt8, 0.1f)}, {s.Output({2, 4}, DT::kUInt8, 0.1f)});
  EXPECT_EQ(BuildStatus(s.Build()).code(), absl::StatusCode::kInvalidArgument);
  BatchNormParams bn;
  bn.scale = bn.bias = bn.mean = bn.variance = Constant(RandomTensor({4}, 1, 0.5f, 1.0f));
  SpecBuilder b;
  b.Step("BatchNorm", bn, {b.Input({1, 4, 2, 2}, DT::kInt8, 0.1f)}, {b.Output({1, 4, 2, 2}, DT::kInt8, 0.1f)});
  EXPECT_EQ(BuildStatus(b.Build()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace q8::kernels::testing
