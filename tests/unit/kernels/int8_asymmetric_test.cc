// Asymmetric activations in the int8 kernels (kernels/matmul.cc, reorder.cc):
// a u8 MatMul input with a zero point (folded into the bias through the
// weights' column sums), a u8 MatMul output with a zero point, and the
// quantize/dequantize reorders. Reference: plain C++ over the integers,
//   real[m, n] = alpha * sum_k s_a (q_a - z_a) * s_w[n] q_w[k, n] + bias[n],
// activations, then q_y = saturate(round_half_even(real / s_y) + z_y).
// Tolerance: int8 outputs 1 step, f32 outputs 1e-4 * (1 + |ref|) (Near).
#include <cmath>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/int8_util.h"

namespace q8::kernels::testing {
namespace {

struct AsymCase {
  std::string name;
  core::Dims a;
  int64_t n;
  int32_t a_zero_point;
  DT dst;
  int32_t y_zero_point;  // u8 dst only
  bool bias;
  std::vector<Activation> post_ops;
};
void PrintTo(const AsymCase& c, std::ostream* os) { *os << c.name; }

class AsymmetricMatMulTest : public ::testing::TestWithParam<AsymCase> {};

TEST_P(AsymmetricMatMulTest, MatchesIntegerReference) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const AsymCase& c = GetParam();
  const int64_t k = c.a.back();
  const QTensor a = RandomQ(c.a, DT::kUInt8, 0.02f, 71);
  const QWeights w = QuantizeWeights(RandomTensor({k, c.n}, 72), 1);
  const std::vector<float> bias = c.bias ? Random(c.n, 73, -2.0f, 2.0f) : std::vector<float>{};
  QTensor centred = a;  // q_a - z_a: the integers the real values are made of
  for (int32_t& q : centred.q) q -= c.a_zero_point;
  int64_t rows = 0;
  const std::vector<int64_t> acc = MatMulAcc(centred, w, &rows);
  std::vector<double> real = Dequantize(acc, {rows, c.n}, 1, a.scale, w.scales, bias);
  Activate(c.post_ops, real);
  const float s_y = c.dst == DT::kFloat32 ? 1.0f : ScaleFor(real, c.dst, 1.1);
  std::vector<double> expected;
  for (double v : real) expected.push_back(c.dst == DT::kFloat32 ? v : RoundSat(v / s_y + c.y_zero_point, c.dst));

  MatMulParams p;
  p.qweights = w.params();
  p.qweights.column_sums = MatMulColumnSums(*p.qweights.values);
  if (c.bias) p.bias = Constant({{c.n}, bias});
  p.post_ops = c.post_ops;
  core::Dims y_dims = c.a;
  y_dims.back() = c.n;
  SpecBuilder s;
  const int in = s.Input(c.a, DT::kUInt8, a.scale);
  const int out = s.Output(y_dims, c.dst, s_y);
  s.spec().values[in].zero_point = c.a_zero_point;
  s.spec().values[out].zero_point = c.y_zero_point;
  s.Step("MatMul", p, {in}, {out});
  WeightCache cache;
  auto program = Program::Create(s.Build(), cache);
  ASSERT_TRUE(program.ok()) << program.status();
  for (const StepInfo& step : (*program)->steps()) {
    EXPECT_FALSE(absl::StrContains(step.impl, "ref")) << step.name << " uses " << step.impl;
  }
  auto got = RunProgram(**program, s.Build(), {a.bytes()});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(Near(Values((*got)[0], c.dst), expected, c.dst));
}

const Activation kGelu{Activation::Kind::kGeluErf};

INSTANTIATE_TEST_SUITE_P(
    Cases, AsymmetricMatMulTest,
    ::testing::Values(AsymCase{"zp37_f32_bias", {16, 64}, 48, 37, DT::kFloat32, 0, true, {}},
                      AsymCase{"zp200_f32_nobias_3d", {2, 5, 32}, 24, 200, DT::kFloat32, 0, false, {}},
                      AsymCase{"zp9_s8_bias", {7, 96}, 33, 9, DT::kInt8, 0, true, {}},
                      AsymCase{"zp12_gelu_u8zp_out", {2, 9, 64}, 40, 12, DT::kUInt8, 6, true, {kGelu}},
                      AsymCase{"zp12_gelu_f32", {2, 9, 64}, 40, 12, DT::kFloat32, 0, true, {kGelu}},
                      AsymCase{"zp0_gelu_u8zp_out", {2, 9, 64}, 40, 0, DT::kUInt8, 6, true, {kGelu}},
                      AsymCase{"zp128_u8zp_out", {5, 40}, 24, 128, DT::kUInt8, 100, true, {}}),
    [](const ::testing::TestParamInfo<AsymCase>& info) { return info.param.name; });

// The zero point is what makes the fold matter: the same bytes read as
// symmetric give a different (wrong) result, so the test above can fail.
TEST(AsymmetricMatMulTest, ZeroPointChangesTheResult) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const QTensor a = RandomQ({4, 32}, DT::kUInt8, 0.02f, 81);
  const QWeights w = QuantizeWeights(RandomTensor({32, 8}, 82), 1);
  auto run = [&](int32_t zp) {
    MatMulParams p;
    p.qweights = w.params();
    p.qweights.column_sums = MatMulColumnSums(*p.qweights.values);
    SpecBuilder s;
    const int in = s.Input({4, 32}, DT::kUInt8, a.scale);
    s.spec().values[in].zero_point = zp;
    s.Step("MatMul", p, {in}, {s.Output({4, 8})});
    return RunBytes(s.Build(), {a.bytes()});
  };
  auto sym = run(0), asym = run(50);
  ASSERT_TRUE(sym.ok() && asym.ok());
  const std::vector<double> ys = Values((*sym)[0], DT::kFloat32), ya = Values((*asym)[0], DT::kFloat32);
  // Every output moves by -50 * s_a * s_w[n] * colsum[n].
  const std::vector<int32_t> sums = MatMulColumnSums(*w.params().values);
  for (size_t i = 0; i < ys.size(); ++i) {
    const size_t n = i % 8;
    EXPECT_NEAR(ya[i], ys[i] - 50.0 * a.scale * w.scales[n] * sums[n], 1e-4 * (1 + std::fabs(ys[i])));
  }
}

// f32 -> u8 (scale, zero point) -> f32: q = saturate(round(x / s) + z), x' = s (q - z).
TEST(AsymmetricReorderTest, QuantizeAndDequantizeWithZeroPoint) {
  const std::vector<float> x = Random(2 * 33, 91, -0.3f, 4.0f);
  const float s = 0.017f;
  const int32_t zp = 18;
  SpecBuilder b;
  const int in = b.Input({2, 33}), q = b.Arena({2, 33}, Layout::kPlain, DT::kUInt8, s);
  const int out_q = b.Output({2, 33}, DT::kUInt8, s), out_f = b.Output({2, 33});
  for (int v : {q, out_q}) b.spec().values[v].zero_point = zp;
  b.Step("Quantize", ReorderParams{}, {in}, {q});
  b.Step("Copy", ReorderParams{}, {q}, {out_q});
  b.Step("Dequantize", ReorderParams{}, {q}, {out_f});
  WeightCache cache;
  auto program = Program::Create(b.Build(), cache);
  ASSERT_TRUE(program.ok()) << program.status();
  for (const StepInfo& step : (*program)->steps()) {
    EXPECT_FALSE(absl::StrContains(step.impl, "ref")) << step.name << " uses " << step.impl;
  }
  auto got = RunProgram(**program, b.Build(), {ToBytes(x)});
  ASSERT_TRUE(got.ok()) << got.status();
  const std::vector<double> gq = Values((*got)[0], DT::kUInt8), gf = Values((*got)[1], DT::kFloat32);
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref_q = RoundSat(x[i] / s + zp, DT::kUInt8);
    EXPECT_NEAR(gq[i], ref_q, 1.0) << i;  // f32 rounding of x/s at a .5 tie
    EXPECT_NEAR(gf[i], s * (gq[i] - zp), 1e-6) << i;
  }
}

TEST(AsymmetricErrorsTest, ZeroPointOnlyWhereAKernelFoldsIt) {
  const QWeights w = QuantizeWeights(RandomTensor({16, 8}, 95), 1);
  {  // a MatMul without the column sums cannot fold the zero point
    MatMulParams p;
    p.qweights = w.params();
    SpecBuilder s;
    const int in = s.Input({2, 16}, DT::kUInt8, 0.1f);
    s.spec().values[in].zero_point = 3;
    s.Step("MatMul", p, {in}, {s.Output({2, 8})});
    WeightCache cache;
    auto program = Program::Create(s.Build(), cache);
    ASSERT_FALSE(program.ok());
    EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument) << program.status();
    EXPECT_TRUE(absl::StrContains(program.status().message(), "column sums")) << program.status();
  }
  {  // an op that would read the bytes as zero point 0
    SpecBuilder s;
    const int in = s.Input({2, 16}, DT::kUInt8, 0.1f);
    s.spec().values[in].zero_point = 3;
    s.Step("Relu", EltwiseParams{{Activation::Kind::kRelu}}, {in}, {s.Output({2, 16}, DT::kUInt8, 0.1f)});
    WeightCache cache;
    auto program = Program::Create(s.Build(), cache);
    ASSERT_FALSE(program.ok());
    EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument) << program.status();
    EXPECT_TRUE(absl::StrContains(program.status().message(), "does not take a zero point")) << program.status();
  }
  {  // s8 cannot carry one
    SpecBuilder s;
    const int in = s.Input({2, 16}, DT::kInt8, 0.1f);
    s.spec().values[in].zero_point = 3;
    s.Step("Copy", ReorderParams{}, {in}, {s.Output({2, 16})});
    WeightCache cache;
    auto program = Program::Create(s.Build(), cache);
    ASSERT_FALSE(program.ok());
    EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument) << program.status();
  }
}

}  // namespace
}  // namespace q8::kernels::testing
