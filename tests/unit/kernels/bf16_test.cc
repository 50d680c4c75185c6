// bf16 Conv (1-D, 2-D NHWC, 3-D; bias, fused activation, fused residual sum)
// and MatMul (constant B with flattened batch, batched runtime B) against the
// plain C++ f32 references, each fed through the Reorders a planner places at
// the precision seams (f32 -> bf16 in, bf16 or f32 out). Tolerance, stated
// for bf16 (8 significant bits, f32 accumulation): |got - ref| <= 1e-2 *
// (|ref| + rms(ref)), i.e. about 1 % of the output's typical magnitude;
// f32 kernels land ~100x inside it, a kernel reading wrong data far outside.
// Every step must get a native oneDNN implementation (no "ref"); skipped on
// CPUs without bf16 compute (the precision stage never plans bf16 there).
#include <cmath>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

using DT = core::DataType;

::testing::AssertionResult Bf16Close(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size()) return ::testing::AssertionFailure() << "size " << got.size() << " vs " << ref.size();
  double sq = 0;
  for (float r : ref) sq += static_cast<double>(r) * r;
  const double rms = std::sqrt(sq / std::max<size_t>(ref.size(), 1));
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = 1e-2 * (std::fabs(ref[i]) + rms);
    if (!(std::fabs(got[i] - ref[i]) <= tol)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << got[i] << ", reference " << ref[i] << " (tolerance " << tol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

void SkipWithoutBf16() {
  if (!HasBf16Compute()) GTEST_SKIP() << "q8-skip: ISA " << CpuIsa() << " has no bf16 compute";
}

// Builds, checks every step's implementation, runs once.
std::vector<float> BuildCheckRun(const ProgramSpec& spec, const std::vector<std::vector<float>>& inputs) {
  WeightCache cache;
  auto program = Program::Create(spec, cache);
  EXPECT_TRUE(program.ok()) << program.status();
  if (!program.ok()) return {};
  for (const StepInfo& step : (*program)->steps()) {
    std::printf("  %-12s %s\n", step.op.c_str(), step.impl.c_str());
    EXPECT_FALSE(absl::StrContains(step.impl, "ref")) << step.name << " uses " << step.impl;
  }
  auto out = RunOnce(**program, spec, inputs);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : std::vector<float>{};
}

ConvParams Conv(const RefTensor& w, const std::vector<float>& bias, size_t nsp, int64_t pad) {
  ConvParams p;
  p.weights = Constant(w);
  p.bias = Constant({{static_cast<int64_t>(bias.size())}, bias});
  p.strides = p.dilations = std::vector<int64_t>(nsp, 1);
  p.pads_begin = p.pads_end = std::vector<int64_t>(nsp, pad);
  return p;
}

class Bf16ConvTest : public ::testing::TestWithParam<DT> {};  // the conv's dst type

TEST_P(Bf16ConvTest, Conv2dNhwcBiasReluMatchesF32Reference) {
  SkipWithoutBf16();
  const core::Dims xd{2, 32, 14, 14}, wd{48, 32, 3, 3}, yd{2, 48, 14, 14};
  const RefTensor x = RandomTensor(xd, 1), w = RandomTensor(wd, 2, -0.2f, 0.2f);
  const std::vector<float> bias = Random(48, 3);
  ConvParams p = Conv(w, bias, 2, 1);
  p.post_ops = {{Activation::Kind::kRelu}};
  const RefTensor ref = Conv2d(x, w, bias, p);  // applies p.post_ops

  SpecBuilder s;
  const int in = s.Input(xd), xb = s.Arena(xd, Layout::kNhwc, DT::kBFloat16);
  const int y = s.Arena(yd, Layout::kNhwc, GetParam());
  s.Step("Reorder", ReorderParams{}, {in}, {xb});
  s.Step("Conv", p, {xb}, {y});
  s.Step("Reorder", ReorderParams{}, {y}, {s.Output(yd)});
  EXPECT_TRUE(Bf16Close(BuildCheckRun(s.Build(), {x.data}), ref.data));
}

// y = relu(conv(x) + r): the residual has the conv output's type and storage.
TEST_P(Bf16ConvTest, ResidualSumMatchesF32Reference) {
  SkipWithoutBf16();
  const core::Dims xd{1, 16, 10, 10}, wd{16, 16, 3, 3};
  const RefTensor x = RandomTensor(xd, 4), w = RandomTensor(wd, 5, -0.3f, 0.3f), res = RandomTensor(xd, 6);
  const std::vector<float> bias = Random(16, 7);
  ConvParams p = Conv(w, bias, 2, 1);
  p.accumulate = true;
  RefTensor ref = Conv2d(x, w, bias, p);  // before the post-ops: the sum comes first
  for (size_t i = 0; i < ref.data.size(); ++i) ref.data[i] += res.data[i];
  p.post_ops = {{Activation::Kind::kRelu}};
  ApplyActivations(p.post_ops, ref);

  SpecBuilder s;
  const int in = s.Input(xd), rin = s.Input(xd), xb = s.Arena(xd, Layout::kNhwc, DT::kBFloat16);
  const int acc = s.Arena(xd, Layout::kNhwc, GetParam());
  s.Step("Reorder", ReorderParams{}, {in}, {xb});
  s.Step("Reorder", ReorderParams{}, {rin}, {acc});
  s.Step("Conv", p, {xb, acc}, {acc});
  s.Step("Reorder", ReorderParams{}, {acc}, {s.Output(xd)});
  EXPECT_TRUE(Bf16Close(BuildCheckRun(s.Build(), {x.data, res.data}), ref.data));
}

INSTANTIATE_TEST_SUITE_P(Dst, Bf16ConvTest, ::testing::Values(DT::kFloat32, DT::kBFloat16),
                         [](const auto& info) { return info.param == DT::kFloat32 ? "f32_out" : "bf16_out"; });

// A one-channel stem (a grayscale image model's first conv): 1 -> 32, 3x3.
TEST(Bf16ConvNdTest, OneChannelStemMatchesF32Reference) {
  SkipWithoutBf16();
  const core::Dims xd{4, 1, 28, 28}, yd{4, 32, 28, 28};
  const RefTensor x = RandomTensor(xd, 20), w = RandomTensor({32, 1, 3, 3}, 21, -0.5f, 0.5f);
  const std::vector<float> bias = Random(32, 22);
  ConvParams p = Conv(w, bias, 2, 1);
  p.post_ops = {{Activation::Kind::kRelu}};
  const RefTensor ref = Conv2d(x, w, bias, p);
  SpecBuilder s;
  const int in = s.Input(xd), xb = s.Arena(xd, Layout::kNhwc, DT::kBFloat16), y = s.Arena(yd, Layout::kNhwc);
  s.Step("Reorder", ReorderParams{}, {in}, {xb});
  s.Step("Conv", p, {xb}, {y});
  s.Step("Reorder", ReorderParams{}, {y}, {s.Output(yd)});
  EXPECT_TRUE(Bf16Close(BuildCheckRun(s.Build(), {x.data}), ref.data));
}

// 1-D conv as the 2-D reference with H = 1 (same bytes).
TEST(Bf16ConvNdTest, Conv1dMatchesF32Reference) {
  SkipWithoutBf16();
  const RefTensor x = RandomTensor({2, 24, 1, 40}, 8), w = RandomTensor({32, 24, 1, 5}, 9, -0.3f, 0.3f);
  const std::vector<float> bias = Random(32, 10);
  ConvParams p2 = Conv(w, bias, 2, 0);
  p2.pads_begin = p2.pads_end = {0, 2};
  const RefTensor ref = Conv2d(x, w, bias, p2);

  ConvParams p = Conv({{32, 24, 5}, w.data}, bias, 1, 2);
  SpecBuilder s;
  const int in = s.Input({2, 24, 40}), xb = s.Arena({2, 24, 40}, Layout::kPlain, DT::kBFloat16);
  s.Step("Reorder", ReorderParams{}, {in}, {xb});
  s.Step("Conv", p, {xb}, {s.Output({2, 32, 40})});
  EXPECT_TRUE(Bf16Close(BuildCheckRun(s.Build(), {x.data}), ref.data));
}

// 3-D conv (pad 1, 3x3x3) against a direct loop.
TEST(Bf16ConvNdTest, Conv3dMatchesF32Reference) {
  SkipWithoutBf16();
  const int64_t n = 1, c = 8, oc = 16, d = 6, h = 6, wi = 6, k = 3;
  const RefTensor x = RandomTensor({n, c, d, h, wi}, 11), w = RandomTensor({oc, c, k, k, k}, 12, -0.3f, 0.3f);
  const std::vector<float> bias = Random(oc, 13);
  std::vector<float> ref(n * oc * d * h * wi);
  auto at = [](const RefTensor& t, int64_t a, int64_t b, int64_t z, int64_t y, int64_t v) {
    const core::Dims& s = t.dims;
    return t.data[(((a * s[1] + b) * s[2] + z) * s[3] + y) * s[4] + v];
  };
  for (int64_t o = 0; o < oc; ++o)
    for (int64_t z = 0; z < d; ++z)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t v = 0; v < wi; ++v) {
          double acc = bias[o];
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t kz = 0; kz < k; ++kz)
              for (int64_t ky = 0; ky < k; ++ky)
                for (int64_t kv = 0; kv < k; ++kv) {
                  const int64_t zz = z + kz - 1, yy = y + ky - 1, vv = v + kv - 1;
                  if (zz < 0 || zz >= d || yy < 0 || yy >= h || vv < 0 || vv >= wi) continue;
                  acc += at(x, 0, ci, zz, yy, vv) * at(w, o, ci, kz, ky, kv);
                }
          ref[((o * d) + z) * h * wi + y * wi + v] = static_cast<float>(acc);
        }
  SpecBuilder s;
  const int in = s.Input(x.dims), xb = s.Arena(x.dims, Layout::kPlain, DT::kBFloat16);
  s.Step("Reorder", ReorderParams{}, {in}, {xb});
  s.Step("Conv", Conv(w, bias, 3, 1), {xb}, {s.Output({n, oc, d, h, wi})});
  EXPECT_TRUE(Bf16Close(BuildCheckRun(s.Build(), {x.data}), ref));
}

// Constant B: [2, 3, 32, 64] x [64, 96] + bias, then GELU (a transformer FFN).
TEST(Bf16MatMulTest, ConstantWeightsBiasGeluMatchesF32Reference) {
  SkipWithoutBf16();
  const RefTensor a = RandomTensor({2, 3, 32, 64}, 14), b = RandomTensor({64, 96}, 15, -0.3f, 0.3f);
  const std::vector<float> bias = Random(96, 16);
  MatMulParams p;
  p.weights = Constant(b);
  p.bias = Constant({{96}, bias});
  p.post_ops = {{Activation::Kind::kGeluErf}};
  RefTensor ref = MatMul(a, b, 1.0f, bias);
  ApplyActivations(p.post_ops, ref);
  for (DT out : {DT::kFloat32, DT::kBFloat16}) {
    SCOPED_TRACE(core::OipName(out));
    SpecBuilder s;
    const int in = s.Input(a.dims), ab = s.Arena(a.dims, Layout::kPlain, DT::kBFloat16);
    const int y = s.Arena(ref.dims, Layout::kPlain, out);
    s.Step("Reorder", ReorderParams{}, {in}, {ab});
    s.Step("MatMul", p, {ab}, {y});
    s.Step("Reorder", ReorderParams{}, {y}, {s.Output(ref.dims)});
    EXPECT_TRUE(Bf16Close(BuildCheckRun(s.Build(), {a.data}), ref.data));
  }
}

// Runtime B with broadcast batch dims (attention-style Q x K^T shapes).
TEST(Bf16MatMulTest, BatchedRuntimeOperandsMatchF32Reference) {
  SkipWithoutBf16();
  const RefTensor a = RandomTensor({2, 4, 32, 64}, 17), b = RandomTensor({2, 1, 64, 32}, 18);
  const RefTensor ref = MatMul(a, b, 0.125f, {});
  MatMulParams p;
  p.alpha = 0.125f;
  SpecBuilder s;
  const int ia = s.Input(a.dims), ib = s.Input(b.dims);
  const int ab = s.Arena(a.dims, Layout::kPlain, DT::kBFloat16), bb = s.Arena(b.dims, Layout::kPlain, DT::kBFloat16);
  s.Step("Reorder", ReorderParams{}, {ia}, {ab});
  s.Step("Reorder", ReorderParams{}, {ib}, {bb});
  s.Step("MatMul", p, {ab, bb}, {s.Output(ref.dims)});
  EXPECT_TRUE(Bf16Close(BuildCheckRun(s.Build(), {a.data, b.data}), ref.data));
}

// A runtime B in f32 next to a bf16 A is a planner bug: refused, not converted.
TEST(Bf16MatMulTest, MixedRuntimeOperandTypesAreRejected) {
  SpecBuilder s;
  const int ia = s.Input({4, 8}), ib = s.Input({8, 3});
  const int ab = s.Arena({4, 8}, Layout::kPlain, DT::kBFloat16);
  s.Step("Reorder", ReorderParams{}, {ia}, {ab});
  s.Step("MatMul", MatMulParams{}, {ab, ib}, {s.Output({4, 3})});
  WeightCache cache;
  auto program = Program::Create(s.Build(), cache);
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument) << program.status();
  EXPECT_TRUE(absl::StrContains(program.status().message(), "BF16 weights")) << program.status();
}

TEST(Bf16CapabilityTest, FollowsTheEffectiveIsa) {
  const std::string isa = CpuIsa();
  EXPECT_EQ(HasBf16Compute(), isa == "avx512_core_bf16" || isa == "avx512_core_amx") << isa;
}

}  // namespace
}  // namespace q8::kernels::testing
