// MatMul kernel vs the reference: constant [K,N] weights (flattened batch)
// and runtime B, ONNX batch broadcasting both ways, bias, alpha, post-ops.
// fp32 tolerance |got - ref| <= 1e-4 * (1 + |ref|) (AllClose).
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

struct MatMulCase {
  std::string name;
  core::Dims a, b;
  bool constant_b, bias;
  float alpha;
  std::vector<Activation> post_ops;
};

class MatMulTest : public ::testing::TestWithParam<MatMulCase> {};

TEST_P(MatMulTest, MatchesReference) {
  const MatMulCase& c = GetParam();
  const RefTensor a = RandomTensor(c.a, 11);
  const RefTensor bt = RandomTensor(c.b, 12);
  const int64_t n = c.b.back();
  const std::vector<float> bias = c.bias ? Random(n, 13) : std::vector<float>{};
  RefTensor ref = MatMul(a, bt, c.alpha, bias);
  ApplyActivations(c.post_ops, ref);

  MatMulParams p;
  p.alpha = c.alpha;
  p.post_ops = c.post_ops;
  if (c.bias) p.bias = Constant({{n}, bias});
  SpecBuilder s;
  std::vector<int> ins{s.Input(c.a)};
  std::vector<std::vector<float>> data{a.data};
  if (c.constant_b) {
    p.weights = Constant(bt);
  } else {
    ins.push_back(s.Input(c.b));
    data.push_back(bt.data);
  }
  s.Step("MatMul", p, ins, {s.Output(ref.dims)});
  auto got = BuildAndRun(s.Build(), data);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref.data));
}

const Activation kRelu{Activation::Kind::kRelu};
const Activation kSigmoid{Activation::Kind::kSigmoid};

INSTANTIATE_TEST_SUITE_P(
    Cases, MatMulTest,
    ::testing::Values(MatMulCase{"const_2d", {5, 16}, {16, 7}, true, false, 1.0f, {}},
                      MatMulCase{"const_4d_bias_alpha_relu", {2, 3, 8, 16}, {16, 24}, true, true, 0.5f, {kRelu}},
                      MatMulCase{"const_bias", {64, 128}, {128, 96}, true, true, 1.0f, {}},
                      MatMulCase{"runtime_same_batch", {3, 8, 16}, {3, 16, 12}, false, false, 1.0f, {}},
                      MatMulCase{"runtime_b_broadcast", {2, 4, 8, 16}, {2, 1, 16, 12}, false, true, 1.0f, {}},
                      MatMulCase{"runtime_a_broadcast", {1, 8, 16}, {3, 16, 4}, false, false, 1.0f, {}},
                      MatMulCase{
                          "runtime_lower_rank_b_alpha_sigmoid", {3, 8, 16}, {16, 5}, false, true, 2.0f, {kSigmoid}}),
    [](const ::testing::TestParamInfo<MatMulCase>& info) { return info.param.name; });

}  // namespace
}  // namespace q8::kernels::testing
