// LayerNormalization with a u8/s8 output (kernels/layer_norm_quantize.cc)
// against plain C++ in double precision: y = (x - mean) / sqrt(var + eps) *
// gamma + beta, q = saturate(round_half_even(y / s_y)). Tolerance: one
// quantization step per element (f32 vs double statistics can move a value
// across a rounding boundary), and at most 2 % of the elements off at all.
#include <cmath>
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/kernels/int8_util.h"

namespace q8::kernels::testing {
namespace {

std::vector<double> Reference(const std::vector<float>& x, int64_t cols, const std::vector<float>& gamma,
                              const std::vector<float>& beta, float eps, DT dtype, float scale) {
  std::vector<double> q(x.size());
  for (size_t r = 0; r * cols < x.size(); ++r) {
    const float* row = x.data() + r * cols;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < cols; ++j) mean += row[j];
    mean /= static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) var += (row[j] - mean) * (row[j] - mean);
    var /= static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) {
      const double y = (row[j] - mean) / std::sqrt(var + eps) * gamma[j] + (beta.empty() ? 0.0 : beta[j]);
      q[r * cols + j] = RoundSat(y / scale, dtype);
    }
  }
  return q;
}

struct Case {
  std::string name;
  core::Dims dims;
  DT dtype;
  bool bias;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class LayerNormQuantizeTest : public ::testing::TestWithParam<Case> {};

TEST_P(LayerNormQuantizeTest, MatchesDoubleReferenceWithinOneStep) {
  const Case& c = GetParam();
  const int64_t cols = c.dims.back();
  std::vector<float> x = Random(core::NumElements(c.dims), 91, -4.0f, 6.0f);
  const std::vector<float> gamma = Random(cols, 92, 0.2f, 2.5f);
  const std::vector<float> beta = c.bias ? Random(cols, 93, -1.0f, 1.0f) : std::vector<float>{};
  LayerNormParams p;
  p.axis = static_cast<int>(c.dims.size()) - 1;
  p.epsilon = 1e-5f;
  p.scale = Constant({{cols}, gamma});
  if (c.bias) p.bias = Constant({{cols}, beta});
  // u8: a scale that saturates the negative half (and a few large values).
  const float scale = c.dtype == DT::kUInt8 ? 0.02f : 0.03f;
  SpecBuilder s;
  s.Step("LayerNormalization", p, {s.Input(c.dims)}, {s.Output(c.dims, c.dtype, scale)});
  const ProgramSpec spec = s.Build();
  WeightCache cache;
  auto program = Program::Create(spec, cache);
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ((*program)->steps()[0].impl.find("ref"), std::string::npos) << (*program)->steps()[0].impl;
  auto got = RunBytes(spec, {ToBytes(x)});
  ASSERT_TRUE(got.ok()) << got.status();
  const std::vector<double> ref = Reference(x, cols, gamma, beta, p.epsilon, c.dtype, scale);
  const std::vector<double> q = Values((*got)[0], c.dtype);
  EXPECT_TRUE(Near(q, ref, c.dtype));
  int off = 0;
  for (size_t i = 0; i < q.size(); ++i) off += q[i] != ref[i];
  EXPECT_LE(off, static_cast<int>(q.size() / 50)) << off << " of " << q.size() << " elements differ";
}

INSTANTIATE_TEST_SUITE_P(Cases, LayerNormQuantizeTest,
                         ::testing::Values(Case{"s8_tokens_bias", {1, 16, 64}, DT::kInt8, true},
                                           Case{"s8_odd_width", {3, 5, 37}, DT::kInt8, true},
                                           Case{"u8_no_bias", {7, 48}, DT::kUInt8, false}),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// A row with NaN (a hostile request) takes the defined conversion: no UB,
// and the other rows are unaffected.
TEST(LayerNormQuantizeTest, NonFiniteRowLeavesOtherRowsExact) {
  const int64_t cols = 32;
  std::vector<float> x = Random(2 * cols, 94, -2.0f, 2.0f);
  x[3] = std::nanf("");
  const std::vector<float> gamma(cols, 1.0f);
  LayerNormParams p;
  p.axis = 1;
  p.epsilon = 1e-5f;
  p.scale = Constant({{cols}, gamma});
  SpecBuilder s;
  s.Step("LayerNormalization", p, {s.Input({2, cols})}, {s.Output({2, cols}, DT::kInt8, 0.05f)});
  auto got = RunBytes(s.Build(), {ToBytes(x)});
  ASSERT_TRUE(got.ok()) << got.status();
  const std::vector<double> q = Values((*got)[0], DT::kInt8);
  const std::vector<double> ref = Reference(x, cols, gamma, {}, p.epsilon, DT::kInt8, 0.05f);
  EXPECT_TRUE(Near(std::vector<double>(q.begin() + cols, q.end()), std::vector<double>(ref.begin() + cols, ref.end()),
                   DT::kInt8));
}

TEST(LayerNormQuantizeTest, RefusesAnInt8Input) {
  LayerNormParams p;
  p.axis = 1;
  p.scale = Constant({{8}, std::vector<float>(8, 1.0f)});
  SpecBuilder s;
  s.Step("LayerNormalization", p, {s.Input({2, 8}, DT::kInt8, 0.1f)}, {s.Output({2, 8}, DT::kInt8, 0.1f)});
  const absl::Status st = BuildStatus(s.Build());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
}

}  // namespace
}  // namespace q8::kernels::testing
