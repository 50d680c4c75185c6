// Dynamic-int8 Conv (ConvParams::dynamic) against two independent references:
//  1. a plain C++ per-tensor quantization of the input (u8 grid over
//     [min(x,0), max(x,0)], scale = hi/255 - lo/255, zero point
//     round(-lo/scale)), an integer convolution of (q - zp) with the s8
//     weights, then real = acc * s_x * s_w[oc] + b[oc] (+ residual),
//     activations. Only float rounding separates it from the kernel:
//     tolerance 1e-4 * (1 + |ref|);
//  2. the fp32 convolution of the float input and the float weights, within
//     the worst case of the two roundings: sum over taps of
//     |x| * s_w[oc] / 2 + s_x / 2 * |w| (plus float noise), and with an RMS
//     error well below that bound.
// Also: several runs on one workspace with different ranges (the scale is
// per run), edge inputs (zeros, constants, huge ranges, NaN/Inf) and the
// implementation strings (never "ref").
#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/int8_util.h"

namespace q8::kernels::testing {
namespace {

const Activation kRelu{Activation::Kind::kRelu};
const Activation kSigmoid{Activation::Kind::kSigmoid};

struct DynConvCase {
  std::string name;
  core::Dims x;
  int64_t oc, k, groups, stride, pad, dilation;
  std::vector<Activation> post_ops;
  bool accumulate = false;
};
void PrintTo(const DynConvCase& c, std::ostream* os) { *os << c.name; }

ConvParams Params(const DynConvCase& c, const QWeights& w, const std::vector<float>& bias) {
  ConvParams p;
  p.qweights = w.params();
  p.bias = Constant({{c.oc}, bias});
  p.strides = {c.stride, c.stride};
  p.dilations = {c.dilation, c.dilation};
  p.pads_begin = p.pads_end = {c.pad, c.pad};
  p.groups = c.groups;
  p.post_ops = c.post_ops;
  p.accumulate = c.accumulate;
  p.dynamic = true;
  return p;
}

// Input (plain f32) -> NHWC -> dynamic Conv -> plain f32 output; with
// `accumulate`, input 1 is the residual, added in place.
struct Built {
  ProgramSpec spec;
  std::unique_ptr<Program> program;
  std::unique_ptr<Workspace> ws;
  core::Dims y_dims;
};
Built Build(const DynConvCase& c, const ConvParams& p, WeightCache& cache) {
  Built b;
  const int64_t oh = (c.x[2] + 2 * c.pad - ((c.k - 1) * c.dilation + 1)) / c.stride + 1;
  const int64_t ow = (c.x[3] + 2 * c.pad - ((c.k - 1) * c.dilation + 1)) / c.stride + 1;
  b.y_dims = {c.x[0], c.oc, oh, ow};
  SpecBuilder s;
  const int in = s.Input(c.x);
  const int xn = s.Arena(c.x, Layout::kNhwc);
  s.Step("Reorder", ReorderParams{}, {in}, {xn});
  std::vector<int> conv_inputs{xn};
  int yn;
  if (c.accumulate) {
    const int rin = s.Input(b.y_dims);
    yn = s.Arena(b.y_dims, Layout::kNhwc);
    s.Step("Reorder", ReorderParams{}, {rin}, {yn});
    conv_inputs.push_back(yn);
  } else {
    yn = s.Arena(b.y_dims, Layout::kNhwc);
  }
  s.Step("Conv", p, conv_inputs, {yn});
  s.Step("Reorder", ReorderParams{}, {yn}, {s.Output(b.y_dims)});
  b.spec = s.Build();
  auto program = Program::Create(b.spec, cache);
  EXPECT_TRUE(program.ok()) << program.status();
  if (!program.ok()) return b;
  b.program = std::move(*program);
  auto ws = b.program->NewWorkspace();
  EXPECT_TRUE(ws.ok()) << ws.status();
  if (ws.ok()) b.ws = std::move(*ws);
  return b;
}

std::vector<float> RunBuilt(Built& b, const std::vector<std::vector<float>>& inputs) {
  std::vector<std::vector<float>> out{std::vector<float>(core::NumElements(b.y_dims), std::nanf(""))};
  const absl::Status st = RunWith(*b.program, *b.ws, inputs, out);
  EXPECT_TRUE(st.ok()) << st;
  return out[0];
}

// Reference 1: the documented per-tensor quantization, in plain C++.
struct PerTensor {
  float scale = 1;
  int32_t zero_point = 0;
  QTensor centered;  // q - zero_point, as int32
};
PerTensor QuantizePerTensor(const RefTensor& x) {
  float lo = 0, hi = 0;
  for (float v : x.data) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  PerTensor r;
  const float scale = hi / 255.0f - lo / 255.0f;
  if (scale > 0) {
    r.scale = scale;
    r.zero_point = static_cast<int32_t>(std::nearbyint(-lo / scale));
  }
  const float inv = 1.0f / r.scale;
  r.centered.dims = x.dims;
  r.centered.scale = r.scale;
  for (float v : x.data) {
    // Saturate in float: v * inv may be far outside int's range (or NaN, which the kernel reads as 0).
    float qf = std::nearbyint(v * inv) + static_cast<float>(r.zero_point);
    if (std::isnan(qf)) qf = static_cast<float>(r.zero_point);
    const int32_t q = static_cast<int32_t>(std::clamp(qf, 0.0f, 255.0f));
    r.centered.q.push_back(q - r.zero_point);
  }
  return r;
}

std::vector<double> QuantizedReference(const RefTensor& x, const QWeights& w, const ConvParams& p,
                                       const std::vector<float>& bias, const std::vector<float>& residual) {
  const PerTensor pt = QuantizePerTensor(x);
  core::Dims y_dims;
  std::vector<double> real = Dequantize(ConvAcc(pt.centered, w, p, &y_dims), y_dims, 1, pt.scale, w.scales, bias);
  for (size_t i = 0; i < residual.size(); ++i) real[i] += residual[i];
  Activate(p.post_ops, real);
  return real;
}

class DynamicConvTest : public ::testing::TestWithParam<DynConvCase> {};

TEST_P(DynamicConvTest, MatchesPerTensorReferenceAndFp32WithinQuantizationBound) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const DynConvCase& c = GetParam();
  const RefTensor wf = RandomTensor({c.oc, c.x[1] / c.groups, c.k, c.k}, 2, -0.5f, 0.5f);
  const QWeights w = QuantizeWeights(wf, 0);
  const std::vector<float> bias = Random(c.oc, 3, -1.0f, 1.0f);
  const ConvParams p = Params(c, w, bias);
  WeightCache cache;
  Built b = Build(c, p, cache);
  ASSERT_NE(b.ws, nullptr);
  std::string impl;
  for (const StepInfo& step : b.program->steps()) {
    if (step.op == "Conv") impl = step.impl;
  }
  std::printf("  %s: %s\n", c.name.c_str(), impl.c_str());
  EXPECT_TRUE(absl::StartsWith(impl, "dynamic_quant+")) << impl;
  EXPECT_FALSE(absl::StrContains(impl, "ref")) << impl;

  // Non-negative, signed-symmetric and skewed ranges through one workspace.
  const std::pair<float, float> ranges[] = {{0.0f, 3.0f}, {-2.0f, 2.0f}, {-0.3f, 7.0f}, {-40.0f, 1.0f}};
  for (auto [lo, hi] : ranges) {
    SCOPED_TRACE(::testing::Message() << "input range [" << lo << ", " << hi << ")");
    const RefTensor x = RandomTensor(c.x, 7 + static_cast<uint32_t>(hi * 10), lo, hi);
    const std::vector<float> residual =
        c.accumulate ? Random(core::NumElements(b.y_dims), 9, -2, 2) : std::vector<float>{};
    std::vector<std::vector<float>> inputs{x.data};
    if (c.accumulate) inputs.push_back(residual);
    const std::vector<float> got = RunBuilt(b, inputs);
    const std::vector<double> got_d(got.begin(), got.end());

    // 1. Plain C++ per-tensor quantization: float rounding only.
    EXPECT_TRUE(Near(got_d, QuantizedReference(x, w, p, bias, residual), DT::kFloat32));

    // 2. fp32, within the rounding bound.
    ConvParams plain = p;
    plain.post_ops.clear();
    RefTensor ref = Conv2d(x, wf, bias, plain);
    for (size_t i = 0; i < residual.size(); ++i) ref.data[i] += residual[i];
    ApplyActivations(c.post_ops, ref);
    const float s_x = QuantizePerTensor(x).scale;
    RefTensor abs_x = x, ones = x, half_sw = wf, abs_w = wf;
    for (float& v : abs_x.data) v = std::fabs(v);
    for (float& v : ones.data) v = s_x / 2;
    const int64_t per_oc = core::NumElements(wf.dims) / c.oc;
    for (int64_t i = 0; i < core::NumElements(wf.dims); ++i) {
      half_sw.data[i] = w.scales[i / per_oc] / 2;
      abs_w.data[i] = std::fabs(w.q[i] * w.scales[i / per_oc]);
    }
    const RefTensor e1 = Conv2d(abs_x, half_sw, {}, plain), e2 = Conv2d(ones, abs_w, {}, plain);
    std::vector<double> bound(e1.data.size());
    double err2 = 0, bound2 = 0;
    for (size_t i = 0; i < bound.size(); ++i) {
      bound[i] = e1.data[i] + e2.data[i];
      err2 += (got[i] - ref.data[i]) * (got[i] - ref.data[i]);
      bound2 += bound[i] * bound[i];
    }
    EXPECT_TRUE(Near(got_d, std::vector<double>(ref.data.begin(), ref.data.end()), DT::kFloat32, bound));
    EXPECT_LT(std::sqrt(err2), 0.25 * std::sqrt(bound2));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DynamicConvTest,
    ::testing::Values(DynConvCase{"k3_pad1", {1, 16, 10, 10}, 32, 3, 1, 1, 1, 1, {}},
                      DynConvCase{"k3_pad1_relu_batch2", {2, 16, 9, 9}, 24, 3, 1, 1, 1, 1, {kRelu}},
                      DynConvCase{"k1_stride2", {1, 32, 8, 8}, 64, 1, 1, 2, 0, 1, {}},
                      DynConvCase{"k3_stride2_dilation2", {1, 8, 13, 13}, 16, 3, 1, 2, 2, 2, {kRelu}},
                      DynConvCase{"grouped", {1, 16, 8, 8}, 16, 3, 4, 1, 1, 1, {}},
                      DynConvCase{"depthwise", {1, 16, 8, 8}, 16, 3, 16, 1, 1, 1, {kRelu}},
                      DynConvCase{"residual_relu", {1, 16, 7, 7}, 16, 3, 1, 1, 1, 1, {kRelu}, true},
                      DynConvCase{"clip", {1, 8, 6, 6}, 16, 3, 1, 1, 1, 1, {{Activation::Kind::kClip, -0.5f, 1.0f}}},
                      DynConvCase{"sigmoid", {1, 8, 6, 6}, 8, 3, 1, 1, 0, 1, {kSigmoid}},
                      DynConvCase{"stem_k7_stride2_ic3", {1, 3, 32, 32}, 64, 7, 1, 2, 3, 1, {kRelu}},
                      DynConvCase{"k3_ic64", {1, 64, 14, 14}, 64, 3, 1, 1, 1, 1, {kRelu}},
                      DynConvCase{"k1_ic256", {1, 256, 7, 7}, 64, 1, 1, 1, 0, 1, {kRelu}},
                      DynConvCase{"k1_stride2_ic256_oc512", {2, 256, 8, 8}, 512, 1, 1, 2, 0, 1, {}},
                      DynConvCase{"k1_residual_relu", {4, 64, 7, 7}, 256, 1, 1, 1, 0, 1, {kRelu}, true},
                      DynConvCase{
                          "mbv2_stem", {4, 3, 224, 224}, 32, 3, 1, 2, 1, 1, {{Activation::Kind::kClip, 0.0f, 6.0f}}},
                      DynConvCase{"stem_small_b1", {1, 3, 64, 64}, 32, 3, 1, 2, 1, 1, {}},
                      DynConvCase{"stemA_b1_224", {1, 3, 224, 224}, 32, 3, 1, 2, 1, 1, {}},
                      DynConvCase{"stemB_b4_32", {4, 3, 32, 32}, 32, 3, 1, 2, 1, 1, {}},
                      DynConvCase{"stemC_b1_160", {1, 3, 160, 160}, 32, 3, 1, 2, 1, 1, {}},
                      DynConvCase{"stemD_b1_224_ic16", {1, 16, 224, 224}, 32, 3, 1, 2, 1, 1, {}}),
    [](const ::testing::TestParamInfo<DynConvCase>& info) { return info.param.name; });

// Edge inputs: defined results, no crash, nothing left unwritten.
class DynamicConvEdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    wf_ = RandomTensor({c_.oc, c_.x[1], 3, 3}, 21, -0.5f, 0.5f);
    w_ = QuantizeWeights(wf_, 0);
    bias_ = Random(c_.oc, 22);
    p_ = Params(c_, w_, bias_);
    b_ = Build(c_, p_, cache_);
  }
  std::vector<float> Run1(const std::vector<float>& x) { return RunBuilt(b_, {x}); }
  int64_t InCount() const { return core::NumElements(c_.x); }

  DynConvCase c_{"edge", {1, 8, 6, 6}, 16, 3, 1, 1, 1, 1, {}};
  RefTensor wf_;
  QWeights w_;
  std::vector<float> bias_;
  ConvParams p_;
  WeightCache cache_;
  Built b_;
};

TEST_F(DynamicConvEdgeTest, AllZeroInputGivesTheBias) {
  ASSERT_NE(b_.ws, nullptr);
  const std::vector<float> y = Run1(std::vector<float>(InCount(), 0.0f));
  const int64_t spatial = core::NumElements(b_.y_dims) / c_.oc;
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], bias_[i / spatial], 1e-5) << i;
}

TEST_F(DynamicConvEdgeTest, ConstantInputsOfEitherSignAreExactOnTheGrid) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  ASSERT_NE(b_.ws, nullptr);
  for (float v : {2.5f, -0.75f}) {
    const RefTensor x{c_.x, std::vector<float>(InCount(), v)};
    // A constant is an end of its grid: quantized exactly, so only weight
    // rounding and float noise remain -- the per-tensor reference matches.
    const std::vector<float> got = Run1(x.data);
    EXPECT_TRUE(
        Near(std::vector<double>(got.begin(), got.end()), QuantizedReference(x, w_, p_, bias_, {}), DT::kFloat32))
        << v;
  }
}

TEST_F(DynamicConvEdgeTest, HugeAndTinyRangesStayFiniteAndRelativelyAccurate) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  ASSERT_NE(b_.ws, nullptr);
  for (float gain : {1e30f, 1e-10f, 1e-30f, 1e-38f}) {
    RefTensor x = RandomTensor(c_.x, 23, -1.0f, 1.0f);
    for (float& v : x.data) v *= gain;
    const std::vector<float> got = Run1(x.data);
    const std::vector<double> ref = QuantizedReference(x, w_, p_, bias_, {});
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << "gain " << gain << " element " << i;
    }
    if (gain >= 1e-10f) {
      EXPECT_TRUE(Near(std::vector<double>(got.begin(), got.end()), ref, DT::kFloat32)) << gain;
    } else {
      // Below the scale floor the input counts as zero: the bias remains.
      const int64_t spatial = core::NumElements(b_.y_dims) / c_.oc;
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], bias_[i / spatial], 1e-5) << i;
    }
  }
}

TEST_F(DynamicConvEdgeTest, NanQuantizesAsZeroAndInfSaturates) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  ASSERT_NE(b_.ws, nullptr);
  RefTensor x = RandomTensor(c_.x, 24, -1.0f, 2.0f);
  float lo = 0, hi = 0;
  for (float v : x.data) lo = std::min(lo, v), hi = std::max(hi, v);
  RefTensor dirty = x, clean = x;
  const float inf = std::numeric_limits<float>::infinity();
  dirty.data[3] = std::nanf("");
  clean.data[3] = 0.0f;
  dirty.data[10] = inf;
  clean.data[10] = hi;
  dirty.data[50] = -inf;
  clean.data[50] = lo;
  const std::vector<float> got = Run1(dirty.data);
  for (float v : got) ASSERT_TRUE(std::isfinite(v));
  EXPECT_TRUE(
      Near(std::vector<double>(got.begin(), got.end()), QuantizedReference(clean, w_, p_, bias_, {}), DT::kFloat32));
  // All NaN: every element counts as 0.
  const std::vector<float> all_nan = Run1(std::vector<float>(InCount(), std::nanf("")));
  const int64_t spatial = core::NumElements(b_.y_dims) / c_.oc;
  for (size_t i = 0; i < all_nan.size(); ++i) ASSERT_NEAR(all_nan[i], bias_[i / spatial], 1e-5) << i;
}

// A large input takes the multi-chunk scan/quantize path when threads allow;
// its result must equal the single-chunk reference either way.
TEST(DynamicConvLargeTest, LargeInputMatchesPerTensorReference) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const DynConvCase c{"large", {1, 32, 48, 48}, 16, 1, 1, 1, 0, 1, {}};
  const RefTensor wf = RandomTensor({c.oc, 32, 1, 1}, 31, -0.5f, 0.5f);
  const QWeights w = QuantizeWeights(wf, 0);
  const std::vector<float> bias = Random(c.oc, 32);
  const ConvParams p = Params(c, w, bias);
  WeightCache cache;
  Built b = Build(c, p, cache);
  ASSERT_NE(b.ws, nullptr);
  RefTensor x = RandomTensor(c.x, 33, -1.0f, 4.0f);
  x.data[x.data.size() - 1] = 9.0f;  // the maximum sits in the last chunk
  x.data[0] = -3.0f;                 // the minimum in the first
  const std::vector<float> got = RunBuilt(b, {x.data});
  EXPECT_TRUE(Near(std::vector<double>(got.begin(), got.end()), QuantizedReference(x, w, p, bias, {}), DT::kFloat32));
}

// Per-run state (quantized input, scale, zero point, bias) lives in each
// Workspace: two threads with different input ranges (one non-negative, one
// signed and skewed) never disturb each other.
TEST(DynamicConvConcurrencyTest, ConcurrentWorkspacesAreIndependent) {
  const DynConvCase c{"concurrent", {2, 16, 12, 12}, 32, 3, 1, 1, 1, 1, {kRelu}};
  const QWeights w = QuantizeWeights(RandomTensor({c.oc, 16, 3, 3}, 51, -0.5f, 0.5f), 0);
  const ConvParams p = Params(c, w, Random(c.oc, 52));
  WeightCache cache;
  Built first = Build(c, p, cache);
  ASSERT_NE(first.ws, nullptr);
  const std::vector<float> inputs[2] = {Random(core::NumElements(c.x), 53, 0.0f, 3.0f),
                                        Random(core::NumElements(c.x), 54, -5.0f, 0.5f)};
  const std::vector<float> expected[2] = {RunBuilt(first, {inputs[0]}), RunBuilt(first, {inputs[1]})};
  int mismatches[2] = {0, 0};
  auto worker = [&](int t) {
    auto ws = first.program->NewWorkspace();
    if (!ws.ok()) {
      mismatches[t] = -1;
      return;
    }
    std::vector<std::vector<float>> out{std::vector<float>(expected[t].size())};
    for (int i = 0; i < 200; ++i) {
      if (!RunWith(*first.program, **ws, {inputs[t]}, out).ok() || out[0] != expected[t]) ++mismatches[t];
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  EXPECT_EQ(mismatches[0], 0);
  EXPECT_EQ(mismatches[1], 0);
}

TEST(DynamicConvErrorsTest, RejectsInt8InputsAndOutputs) {
  const QWeights w = QuantizeWeights(RandomTensor({8, 4, 3, 3}, 41), 0);
  ConvParams p;
  p.qweights = w.params();
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  p.dynamic = true;
  SpecBuilder a;
  a.Step("Conv", p, {a.Input({1, 4, 5, 5}, DT::kUInt8, 0.1f)}, {a.Output({1, 8, 5, 5})});
  EXPECT_EQ(BuildStatus(a.Build()).code(), absl::StatusCode::kInvalidArgument);
  SpecBuilder b;
  b.Step("Conv", p, {b.Input({1, 4, 5, 5})}, {b.Output({1, 8, 5, 5}, DT::kUInt8, 0.1f)});
  EXPECT_EQ(BuildStatus(b.Build()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace q8::kernels::testing
