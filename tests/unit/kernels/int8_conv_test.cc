// int8 Conv vs an integer reference (int64 accumulation, then real = acc *
// s_x * s_w[oc] + b[oc] (+ s_r * residual), activations, q = round-half-even
// + saturate at s_y). Tolerance: int8 outputs |got - ref| <= 1 (one step;
// at most 5% of elements off by one); f32 outputs 1e-4 * (1 + |ref|) -- the
// reference starts from the same quantized data, so no quantization error
// enters, only float rounding of oneDNN's (acc + b/(s_x s_w)) * oscale.
// Also: fp32 conv with a fused residual (accumulate).
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/int8_util.h"

namespace q8::kernels::testing {
namespace {

struct Int8ConvCase {
  std::string name;
  core::Dims x;
  int64_t oc, k, groups, stride, pad;
  DT src, dst;
  std::vector<Activation> post_ops;
  DT residual = DT::kUndefined;  // accumulate with a residual of this type
  std::string impl_prefix;       // if set, the implementation the kernel must choose
};

const Activation kRelu{Activation::Kind::kRelu};
const Activation kSigmoid{Activation::Kind::kSigmoid};
Activation Clip(float lo, float hi) { return {Activation::Kind::kClip, lo, hi}; }

void PrintTo(const Int8ConvCase& c, std::ostream* os) { *os << c.name; }

class Int8ConvTest : public ::testing::TestWithParam<Int8ConvCase> {};

TEST_P(Int8ConvTest, MatchesIntegerReference) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const Int8ConvCase& c = GetParam();
  const QTensor x = RandomQ(c.x, c.src, 0.02f, 1);
  const QWeights w = QuantizeWeights(RandomTensor({c.oc, c.x[1] / c.groups, c.k, c.k}, 2, -0.5f, 0.5f), 0);
  const std::vector<float> bias = Random(c.oc, 3, -1.0f, 1.0f);
  ConvParams p;
  p.qweights = w.params();
  p.bias = Constant({{c.oc}, bias});
  p.strides = {c.stride, c.stride};
  p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {c.pad, c.pad};
  p.groups = c.groups;
  p.post_ops = c.post_ops;
  p.accumulate = c.residual != DT::kUndefined;

  core::Dims y_dims;
  std::vector<double> real = Dequantize(ConvAcc(x, w, p, &y_dims), y_dims, 1, x.scale, w.scales, bias);
  QTensor residual;
  if (p.accumulate) {
    residual = RandomQ(y_dims, c.residual, 0.03f, 4);
    for (size_t i = 0; i < real.size(); ++i) real[i] += residual.scale * residual.q[i];
  }
  Activate(c.post_ops, real);
  // Some outputs saturate (fill 1.2), except after sigmoid (range known).
  const bool sigmoid = !c.post_ops.empty() && c.post_ops.back().kind == Activation::Kind::kSigmoid;
  const float s_y = c.dst == DT::kFloat32 ? 1.0f : ScaleFor(real, c.dst, sigmoid ? 1.0 : 1.2);
  const std::vector<double> ref = ToOutput(real, c.dst, s_y);

  SpecBuilder s;
  const int in = s.Input(c.x, c.src, x.scale);
  const int xn = s.Arena(c.x, Layout::kNhwc, c.src, x.scale);
  s.Step("Reorder", ReorderParams{}, {in}, {xn});
  std::vector<Bytes> inputs{x.bytes()};
  std::vector<int> conv_inputs{xn};
  int yn;
  if (p.accumulate) {
    const int rin = s.Input(y_dims, c.residual, residual.scale);
    const int rn = s.Arena(y_dims, Layout::kNhwc, c.residual, residual.scale);
    s.Step("Reorder", ReorderParams{}, {rin}, {rn});
    conv_inputs.push_back(rn);
    yn = s.Retype(rn, c.dst, s_y);  // the conv accumulates into the residual's bytes
    inputs.push_back(residual.bytes());
  } else {
    yn = s.Arena(y_dims, Layout::kNhwc, c.dst, s_y);
  }
  s.Step("Conv", p, conv_inputs, {yn});
  s.Step("Reorder", ReorderParams{}, {yn}, {s.Output(y_dims, c.dst, s_y)});
  WeightCache cache;
  auto program = Program::Create(s.Build(), cache);
  ASSERT_TRUE(program.ok()) << program.status();
  const std::string& impl = (*program)->steps()[p.accumulate ? 2 : 1].impl;
  std::printf("  %s: %s\n", c.name.c_str(), impl.c_str());
  if (!c.impl_prefix.empty()) {
    EXPECT_TRUE(absl::StartsWith(impl, c.impl_prefix)) << impl;
  }
  auto got = RunProgram(**program, s.Build(), inputs);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(Near(Values((*got)[0], c.dst), ref, c.dst));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Int8ConvTest,
    ::testing::Values(
        // Few output channels, stride 1: jit_int8 (faster there than brgconv); 64: brgconv.
        Int8ConvCase{"u8_3x3_relu_u8",
                     {1, 16, 10, 10},
                     32,
                     3,
                     1,
                     1,
                     1,
                     DT::kUInt8,
                     DT::kUInt8,
                     {kRelu},
                     DT::kUndefined,
                     "jit_int8:"},
        Int8ConvCase{"u8_3x3_64oc_relu_u8",
                     {2, 16, 10, 10},
                     64,
                     3,
                     1,
                     1,
                     1,
                     DT::kUInt8,
                     DT::kUInt8,
                     {kRelu},
                     DT::kUndefined,
                     "brgconv:"},
        Int8ConvCase{"s8_3x3_s8", {2, 16, 9, 9}, 24, 3, 1, 1, 1, DT::kInt8, DT::kInt8, {}},
        Int8ConvCase{"s8_3x3_s2_p2_relu_u8", {1, 8, 11, 13}, 16, 3, 1, 2, 2, DT::kInt8, DT::kUInt8, {kRelu}},
        Int8ConvCase{"grouped4_u8_relu", {1, 32, 9, 9}, 32, 3, 4, 1, 1, DT::kUInt8, DT::kUInt8, {kRelu}},
        Int8ConvCase{"depthwise_s2_clip_u8", {2, 24, 15, 15}, 24, 3, 24, 2, 1, DT::kUInt8, DT::kUInt8, {Clip(0, 2)}},
        Int8ConvCase{"depthwise_s8", {1, 16, 8, 8}, 16, 3, 16, 1, 1, DT::kInt8, DT::kInt8, {}},
        Int8ConvCase{"logits_1x1_f32", {2, 32, 5, 5}, 10, 1, 1, 1, 0, DT::kUInt8, DT::kFloat32, {}},
        Int8ConvCase{"clip_s8", {1, 16, 8, 8}, 16, 3, 1, 1, 1, DT::kUInt8, DT::kInt8, {Clip(-1.5f, 1.0f)}},
        Int8ConvCase{"sigmoid_u8", {1, 16, 8, 8}, 16, 3, 1, 1, 1, DT::kUInt8, DT::kUInt8, {kSigmoid}},
        Int8ConvCase{"sigmoid_f32", {1, 16, 6, 6}, 8, 3, 1, 1, 1, DT::kInt8, DT::kFloat32, {kSigmoid}},
        Int8ConvCase{"accumulate_u8_relu", {1, 16, 8, 8}, 32, 3, 1, 1, 1, DT::kUInt8, DT::kUInt8, {kRelu}, DT::kUInt8},
        Int8ConvCase{"accumulate_s8_residual_relu_u8",
                     {1, 16, 8, 8},
                     32,
                     1,
                     1,
                     1,
                     0,
                     DT::kUInt8,
                     DT::kUInt8,
                     {kRelu},
                     DT::kInt8},
        Int8ConvCase{"accumulate_s8_s8", {2, 16, 7, 7}, 16, 3, 1, 1, 1, DT::kInt8, DT::kInt8, {}, DT::kInt8}),
    [](const ::testing::TestParamInfo<Int8ConvCase>& info) { return info.param.name; });

// fp32 conv + residual via the sum post-op (before the relu).
TEST(ConvAccumulateTest, Fp32ResidualBeforeRelu) {
  const core::Dims xd{1, 8, 9, 9}, yd{1, 16, 9, 9};
  const RefTensor x = RandomTensor(xd, 21), w = RandomTensor({16, 8, 3, 3}, 22, -0.5f, 0.5f);
  const RefTensor res = RandomTensor(yd, 23, -2.0f, 2.0f);
  const std::vector<float> bias = Random(16, 24);
  ConvParams p;
  p.weights = Constant(w);
  p.bias = Constant({{16}, bias});
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  p.accumulate = true;
  p.post_ops = {kRelu};
  ConvParams no_act = p;
  no_act.post_ops.clear();
  RefTensor ref = Conv2d(x, w, bias, no_act);
  for (size_t i = 0; i < ref.data.size(); ++i) ref.data[i] += res.data[i];
  ApplyActivations({kRelu}, ref);

  SpecBuilder s;
  const int in = s.Input(xd), rin = s.Input(yd);
  const int xn = s.Arena(xd, Layout::kNhwc), rn = s.Arena(yd, Layout::kNhwc);
  s.Step("Reorder", ReorderParams{}, {in}, {xn});
  s.Step("Reorder", ReorderParams{}, {rin}, {rn});
  const int yn = s.Alias(rn, yd, Layout::kNhwc);
  s.Step("Conv", p, {xn, rn}, {yn});
  s.Step("Reorder", ReorderParams{}, {yn}, {s.Output(yd)});
  WeightCache cache;
  auto program = Program::Create(s.Build(), cache);
  ASSERT_TRUE(program.ok()) << program.status();
  std::printf("  fp32 accumulate: %s\n", (*program)->steps()[2].impl.c_str());
  auto got = RunOnce(**program, s.Build(), {x.data, res.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose((*got)[0], ref.data));
}

TEST(ConvAccumulateTest, ResidualMustShareTheOutputStorage) {
  ConvParams p;
  p.weights = Constant(RandomTensor({4, 4, 1, 1}, 1));
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {0, 0};
  p.accumulate = true;
  SpecBuilder s;
  const int x = s.Input({1, 4, 3, 3}), r = s.Input({1, 4, 3, 3});
  s.Step("Conv", p, {x, r}, {s.Output({1, 4, 3, 3})});
  EXPECT_EQ(BuildStatus(s.Build()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace q8::kernels::testing
