// int8 MatMul. Static: integer reference, tolerance as in int8_conv_test
// (int8 out: 1 step; f32 out: 1e-4 * (1 + |ref|)). Dynamic: against the
// fp32 reference on the *unquantized* data, within the quantization error
// bound per output element (a = s_x*qa + ea, |ea| <= s_x/2; w = s_w*qw + ew,
// |ew| <= s_w/2):
//   |y - y_ref| <= alpha * sum_k (|a_k| * s_w[n]/2 + s_x/2 * |s_w[n] qw_kn|)
// (relu/clip are 1-Lipschitz, so the bound survives them), plus 1e-4*(1+|ref|).
#include <cmath>
#include <cstring>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/unit/kernels/int8_util.h"

namespace q8::kernels::testing {
namespace {

const Activation kRelu{Activation::Kind::kRelu};

struct Int8MatMulCase {
  std::string name;
  core::Dims a;
  int64_t n;
  DT src, dst;
  bool bias;
  float alpha;
  std::vector<Activation> post_ops;
};
void PrintTo(const Int8MatMulCase& c, std::ostream* os) { *os << c.name; }

class Int8MatMulTest : public ::testing::TestWithParam<Int8MatMulCase> {};

TEST_P(Int8MatMulTest, MatchesIntegerReference) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const Int8MatMulCase& c = GetParam();
  const int64_t k = c.a.back();
  const QTensor a = RandomQ(c.a, c.src, 0.05f, 31);
  const QWeights w = QuantizeWeights(RandomTensor({k, c.n}, 32), 1);  // per-N scales
  const std::vector<float> bias = c.bias ? Random(c.n, 33, -2.0f, 2.0f) : std::vector<float>{};
  int64_t rows = 0;
  const std::vector<int64_t> acc = MatMulAcc(a, w, &rows);
  std::vector<double> real = Dequantize(acc, {rows, c.n}, 1, a.scale, w.scales, bias, c.alpha);
  Activate(c.post_ops, real);
  const float s_y = c.dst == DT::kFloat32 ? 1.0f : ScaleFor(real, c.dst, 1.2);
  MatMulParams p;
  p.qweights = w.params();
  if (c.bias) p.bias = Constant({{c.n}, bias});
  p.alpha = c.alpha;
  p.post_ops = c.post_ops;
  core::Dims y_dims = c.a;
  y_dims.back() = c.n;
  SpecBuilder s;
  s.Step("MatMul", p, {s.Input(c.a, c.src, a.scale)}, {s.Output(y_dims, c.dst, s_y)});
  auto got = RunBytes(s.Build(), {a.bytes()});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(Near(Values((*got)[0], c.dst), ToOutput(real, c.dst, s_y), c.dst));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Int8MatMulTest,
    ::testing::Values(Int8MatMulCase{"u8_relu_u8_bias", {16, 64}, 48, DT::kUInt8, DT::kUInt8, true, 1.0f, {kRelu}},
                      Int8MatMulCase{"s8_s8_bias", {7, 96}, 33, DT::kInt8, DT::kInt8, true, 1.0f, {}},
                      Int8MatMulCase{"u8_logits_f32_bias", {4, 128}, 10, DT::kUInt8, DT::kFloat32, true, 1.0f, {}},
                      Int8MatMulCase{"s8_3d_f32_alpha", {2, 3, 32}, 16, DT::kInt8, DT::kFloat32, true, 0.5f, {}},
                      Int8MatMulCase{"s8_u8_clip_nobias",
                                     {5, 40},
                                     24,
                                     DT::kInt8,
                                     DT::kUInt8,
                                     false,
                                     1.0f,
                                     {{Activation::Kind::kClip, 0.0f, 3.0f}}}),
    [](const ::testing::TestParamInfo<Int8MatMulCase>& info) { return info.param.name; });

TEST(Int8MatMulTest, RuntimeS8B) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const QTensor a = RandomQ({2, 4, 16}, DT::kUInt8, 0.1f, 41);
  const QTensor b = RandomQ({2, 16, 8}, DT::kInt8, 0.01f, 42);
  std::vector<double> ref(2 * 4 * 8, 0.0);
  for (int bt = 0; bt < 2; ++bt)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 8; ++j) {
        int64_t acc = 0;
        for (int l = 0; l < 16; ++l) acc += int64_t{a.q[(bt * 4 + i) * 16 + l]} * b.q[(bt * 16 + l) * 8 + j];
        ref[(bt * 4 + i) * 8 + j] = acc * 0.1 * 0.01;
      }
  SpecBuilder s;
  const int ia = s.Input(a.dims, DT::kUInt8, a.scale), ib = s.Input(b.dims, DT::kInt8, b.scale);
  s.Step("MatMul", MatMulParams{}, {ia, ib}, {s.Output({2, 4, 8})});
  auto got = RunBytes(s.Build(), {a.bytes(), b.bytes()});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(Near(Values((*got)[0], DT::kFloat32), ref, DT::kFloat32));
}

struct DynamicCase {
  std::string name;
  core::Dims a;
  int64_t n;
  float lo, hi;  // input range (lo >= 0 -> u8 path)
  float alpha;
  std::vector<Activation> post_ops;
};
void PrintTo(const DynamicCase& c, std::ostream* os) { *os << c.name; }

class DynamicMatMulTest : public ::testing::TestWithParam<DynamicCase> {};

TEST_P(DynamicMatMulTest, WithinQuantizationBoundOfFp32) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const DynamicCase& c = GetParam();
  const int64_t k = c.a.back();
  const RefTensor wf = RandomTensor({k, c.n}, 52);
  const QWeights w = QuantizeWeights(wf, 1);
  const std::vector<float> bias = Random(c.n, 53);
  MatMulParams p;
  p.qweights = w.params();
  p.bias = Constant({{c.n}, bias});
  p.dynamic = true;
  p.alpha = c.alpha;
  p.post_ops = c.post_ops;
  core::Dims y_dims = c.a;
  y_dims.back() = c.n;
  SpecBuilder s;
  s.Step("MatMul", p, {s.Input(c.a)}, {s.Output(y_dims)});
  const ProgramSpec spec = s.Build();
  WeightCache cache;
  auto program = Program::Create(spec, cache);
  ASSERT_TRUE(program.ok()) << program.status();
  std::printf("  %s: %s\n", c.name.c_str(), (*program)->steps()[0].impl.c_str());
  auto ws = (*program)->NewWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  // Two runs on one workspace with different ranges: the scale is per run.
  for (float gain : {1.0f, 40.0f}) {
    RefTensor a = RandomTensor(c.a, 51 + static_cast<uint32_t>(gain), c.lo * gain, c.hi * gain);
    RefTensor ref = MatMul(a, wf, c.alpha, bias);
    ApplyActivations(c.post_ops, ref);
    float max_abs = 0;
    for (float v : a.data) max_abs = std::max(max_abs, std::fabs(v));
    const float s_x = max_abs / (c.lo >= 0 ? 255.0f : 127.0f);
    const int64_t rows = core::NumElements(c.a) / k;
    std::vector<double> bound(rows * c.n);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double e = 0;
        for (int64_t l = 0; l < k; ++l) {
          e += std::fabs(a.data[i * k + l]) * w.scales[j] / 2 + s_x / 2 * std::fabs(w.scales[j] * w.q[l * c.n + j]);
        }
        bound[i * c.n + j] = std::fabs(c.alpha) * e;
      }
    std::vector<std::vector<float>> outputs{std::vector<float>(rows * c.n, std::nanf(""))};
    ASSERT_TRUE(RunWith(**program, **ws, {a.data}, outputs).ok());
    std::vector<double> got(outputs[0].begin(), outputs[0].end()), want(ref.data.begin(), ref.data.end());
    EXPECT_TRUE(Near(got, want, DT::kFloat32, bound)) << "gain " << gain;
    // Typical error is far below the worst-case bound.
    double err2 = 0, bound2 = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      err2 += (got[i] - want[i]) * (got[i] - want[i]);
      bound2 += bound[i] * bound[i];
    }
    EXPECT_LT(std::sqrt(err2), 0.25 * std::sqrt(bound2)) << "gain " << gain;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DynamicMatMulTest,
    ::testing::Values(DynamicCase{"signed_s8_path", {8, 64}, 32, -1.0f, 1.0f, 1.0f, {}},
                      DynamicCase{"nonnegative_u8_path_relu", {2, 3, 96}, 40, 0.0f, 2.0f, 1.0f, {kRelu}},
                      DynamicCase{"signed_alpha_clip", {1, 256}, 64, -0.5f, 1.5f, 0.25f,
                                  {{Activation::Kind::kClip, -1.0f, 1.0f}}}),
    [](const ::testing::TestParamInfo<DynamicCase>& info) { return info.param.name; });

// Per-run state (quantized input, scale) lives in each Workspace: two threads
// with different input ranges (one u8 path, one s8) never disturb each other.
TEST(DynamicMatMulTest, ConcurrentWorkspacesAreIndependent) {
  MatMulParams p;
  p.qweights = QuantizeWeights(RandomTensor({128, 64}, 61), 1).params();
  p.bias = Constant({{64}, Random(64, 62)});
  p.dynamic = true;
  SpecBuilder s;
  s.Step("MatMul", p, {s.Input({16, 128})}, {s.Output({16, 64})});
  const ProgramSpec spec = s.Build();
  WeightCache cache;
  auto program = Program::Create(spec, cache);
  ASSERT_TRUE(program.ok()) << program.status();
  const std::vector<std::vector<float>> inputs[2] = {{Random(16 * 128, 63, 0.0f, 3.0f)},
                                                      {Random(16 * 128, 64, -0.1f, 0.1f)}};
  std::vector<std::vector<float>> expected[2];
  for (int t = 0; t < 2; ++t) {
    auto out = RunOnce(**program, spec, inputs[t]);
    ASSERT_TRUE(out.ok()) << out.status();
    expected[t] = *out;
  }
  int mismatches[2] = {0, 0};
  auto worker = [&](int t) {
    auto ws = (*program)->NewWorkspace();
    if (!ws.ok()) return;
    std::vector<std::vector<float>> outputs{std::vector<float>(16 * 64)};
    for (int i = 0; i < 200; ++i) {
      if (!RunWith(**program, **ws, inputs[t], outputs).ok() ||
          std::memcmp(outputs[0].data(), expected[t][0].data(), outputs[0].size() * sizeof(float)) != 0) {
        ++mismatches[t];
      }
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  EXPECT_EQ(mismatches[0], 0);
  EXPECT_EQ(mismatches[1], 0);
}

}  // namespace
}  // namespace q8::kernels::testing
