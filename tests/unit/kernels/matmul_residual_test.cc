// MatMul with a fused residual (MatMulParams::accumulate, a transformer's
// `x + Linear(...)`): f32, static int8 and dynamic int8, each against plain
// C++ (the reference matmul plus the residual added in f32, then the
// activations). Tolerances: f32 1e-4 * (1 + |ref|) (AllClose / Near); the
// int8 paths use the integer reference of int8_util (exact accumulators), and
// the dynamic path is compared with the same dynamic MatMul without the
// residual plus the residual, which isolates the accumulation (the dynamic
// quantization error itself is bounded in int8_matmul_test).
#include <cmath>
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/kernels/int8_util.h"
#include "tests/unit/kernels/reference_ops.h"

namespace q8::kernels::testing {
namespace {

constexpr int64_t kK = 24, kN = 16;
const core::Dims kA{2, 5, kK}, kY{2, 5, kN};

// in a, in r -> copy r into y -> MatMul(a, y) accumulating into y -> out.
ProgramSpec ResidualSpec(const MatMulParams& p, DT a_dtype, float a_scale) {
  SpecBuilder s;
  const int a = s.Input(kA, a_dtype, a_scale);
  const int r = s.Input(kY);
  const int y = s.Arena(kY);
  s.Step("Reorder", ReorderParams{}, {r}, {y});
  s.Step("MatMul", p, {a, y}, {y});
  s.Step("Reorder", ReorderParams{}, {y}, {s.Output(kY)});
  return s.Build();
}

std::vector<float> Plus(std::vector<float> x, const std::vector<float>& r) {
  for (size_t i = 0; i < x.size(); ++i) x[i] += r[i];
  return x;
}

TEST(MatMulResidualTest, F32AddsTheResidualBeforeTheActivation) {
  const RefTensor a = RandomTensor(kA, 71), w = RandomTensor({kK, kN}, 72);
  const std::vector<float> bias = Random(kN, 73), residual = Random(core::NumElements(kY), 74, -3.0f, 3.0f);
  MatMulParams p;
  p.weights = Constant(w);
  p.bias = Constant({{kN}, bias});
  p.accumulate = true;
  p.post_ops = {{Activation::Kind::kGeluErf}};
  RefTensor ref = MatMul(a, w, 1.0f, bias);
  ref.data = Plus(ref.data, residual);
  ApplyActivations(p.post_ops, ref);
  auto got = BuildAndRun(ResidualSpec(p, DT::kFloat32, 1.0f), {a.data, residual});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref.data));
}

TEST(MatMulResidualTest, StaticInt8WritesF32WithTheResidual) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const QTensor a = RandomQ(kA, DT::kInt8, 0.04f, 75);
  const QWeights w = QuantizeWeights(RandomTensor({kK, kN}, 76), 1);
  const std::vector<float> bias = Random(kN, 77), residual = Random(core::NumElements(kY), 78, -3.0f, 3.0f);
  int64_t rows = 0;
  std::vector<double> ref = Dequantize(MatMulAcc(a, w, &rows), {rows, kN}, 1, a.scale, w.scales, bias);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] += residual[i];
  MatMulParams p;
  p.qweights = w.params();
  p.bias = Constant({{kN}, bias});
  p.accumulate = true;
  auto got = RunBytes(ResidualSpec(p, DT::kInt8, a.scale), {a.bytes(), ToBytes(residual)});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(Near(Values((*got)[0], DT::kFloat32), ref, DT::kFloat32));
}

TEST(MatMulResidualTest, DynamicAddsTheResidualToItsEpilogue) {
  Q8_SKIP_UNLESS_EXACT_INT8();
  const RefTensor a = RandomTensor(kA, 79);
  const QWeights w = QuantizeWeights(RandomTensor({kK, kN}, 80), 1);
  const std::vector<float> bias = Random(kN, 81), residual = Random(core::NumElements(kY), 82, -3.0f, 3.0f);
  MatMulParams p;
  p.qweights = w.params();
  p.bias = Constant({{kN}, bias});
  p.dynamic = true;
  p.post_ops = {{Activation::Kind::kRelu}};
  // Reference: the same dynamic MatMul without the activation, plus the
  // residual in plain C++, then relu.
  MatMulParams plain = p;
  plain.post_ops.clear();
  SpecBuilder s;
  s.Step("MatMul", plain, {s.Input(kA)}, {s.Output(kY)});
  auto without = BuildAndRun(s.Build(), {a.data});
  ASSERT_TRUE(without.ok()) << without.status();
  std::vector<float> ref = Plus(*without, residual);
  for (float& v : ref) v = std::max(v, 0.0f);
  p.accumulate = true;
  const ProgramSpec spec = ResidualSpec(p, DT::kFloat32, 1.0f);
  auto got = BuildAndRun(spec, {a.data, residual});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref));
}

TEST(MatMulResidualTest, ResidualMustShareTheOutputsStorage) {
  MatMulParams p;
  p.weights = Constant(RandomTensor({kK, kN}, 83));
  p.accumulate = true;
  SpecBuilder s;
  const int a = s.Input(kA), r = s.Input(kY);
  s.Step("MatMul", p, {a, r}, {s.Output(kY)});
  const absl::Status st = BuildStatus(s.Build());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("share its storage"), std::string::npos) << st;
}

}  // namespace
}  // namespace q8::kernels::testing
