// Program / Workspace behaviour: concurrent Runs on separate Workspaces,
// arena aliasing, weight sharing through the WeightCache, the "no ref
// implementation" check on typical primitives, and error reporting.
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

ConvParams Conv3x3(int64_t ic, int64_t oc, uint32_t seed) {
  ConvParams p;
  p.weights = Constant(RandomTensor({oc, ic, 3, 3}, seed, -0.3f, 0.3f));
  p.bias = Constant(RandomTensor({oc}, seed + 1));
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  p.post_ops = {{Activation::Kind::kRelu}};
  return p;
}

// in -> NHWC -> conv3x3+relu -> plain output 0 -> [2, C*H*W] alias -> MatMul -> output 1.
ProgramSpec ConvMatMulSpec() {
  SpecBuilder s;
  const int in = s.Input({2, 16, 14, 14});
  const int xn = s.Arena({2, 16, 14, 14}, Layout::kNhwc), yn = s.Arena({2, 32, 14, 14}, Layout::kNhwc);
  const int conv_out = s.Output({2, 32, 14, 14});
  const int flat = s.Alias(conv_out, {2, 32 * 14 * 14});
  MatMulParams mm;
  mm.weights = Constant(RandomTensor({32 * 14 * 14, 10}, 5, -0.05f, 0.05f));
  s.Step("Reorder", ReorderParams{}, {in}, {xn});
  s.Step("Conv", Conv3x3(16, 32, 3), {xn}, {yn});
  s.Step("Reorder", ReorderParams{}, {yn}, {conv_out});
  s.Step("MatMul", mm, {flat}, {s.Output({2, 10})});
  return s.Build();
}

TEST(ProgramTest, ConcurrentRunsWithSeparateWorkspacesAgree) {
  const ProgramSpec spec = ConvMatMulSpec();
  WeightCache cache;
  auto program = Program::Create(spec, cache);
  ASSERT_TRUE(program.ok()) << program.status();
  const std::vector<std::vector<float>> inputs{Random(2 * 16 * 14 * 14, 7)};
  auto expected = RunOnce(**program, spec, inputs);
  ASSERT_TRUE(expected.ok()) << expected.status();

  int mismatches[2] = {0, 0};
  absl::Status errors[2];
  auto worker = [&](int t) {
    auto ws = (*program)->NewWorkspace();
    if (!ws.ok()) {
      errors[t] = ws.status();
      return;
    }
    std::vector<std::vector<float>> outputs;
    for (int64_t n : OutputSizes(spec)) outputs.emplace_back(n);
    for (int i = 0; i < 200; ++i) {
      absl::Status s = RunWith(**program, **ws, inputs, outputs);
      if (!s.ok()) errors[t] = s;
      for (size_t o = 0; o < outputs.size(); ++o) {
        if (std::memcmp(outputs[o].data(), (*expected)[o].data(), outputs[o].size() * sizeof(float)) != 0) {
          ++mismatches[t];
        }
      }
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  for (int t = 0; t < 2; ++t) {
    EXPECT_TRUE(errors[t].ok()) << errors[t];
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  }
}

TEST(ProgramTest, ArenaAliasingInPlaceReuseAndReshape) {
  SpecBuilder s;
  const int in = s.Input({2, 12});
  const int a = s.Arena({2, 12});
  const int a_inplace = s.Alias(a, {2, 12});  // same bytes: in-place clip
  const int b = s.Arena({2, 12});
  const int a_reused = s.Alias(a, {4, 6});  // a is dead after step 2: reuse its offset, reshaped
  s.Step("Relu", EltwiseParams{{Activation::Kind::kRelu}}, {in}, {a});
  s.Step("Clip", EltwiseParams{{Activation::Kind::kClip, 0.0f, 0.5f}}, {a}, {a_inplace});
  s.Step("Sigmoid", EltwiseParams{{Activation::Kind::kSigmoid}}, {a_inplace}, {b});
  s.Step("Copy", ReorderParams{}, {s.Alias(b, {4, 6})}, {a_reused});
  s.Step("Softmax", SoftmaxParams{1}, {a_reused}, {s.Output({4, 6})});
  RefTensor x = RandomTensor({2, 12}, 101);
  const std::vector<float> original = x.data;
  ApplyActivations({{Activation::Kind::kRelu}, {Activation::Kind::kClip, 0.0f, 0.5f}, {Activation::Kind::kSigmoid}}, x);
  x.dims = {4, 6};
  auto got = BuildAndRun(s.Build(), {original});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, Softmax(x, 1).data));
}

TEST(ProgramTest, WeightsAreSharedAcrossBatchSizes) {
  WeightCache cache;
  const ConvParams conv = Conv3x3(16, 32, 9);
  int64_t after_first = 0;
  for (int64_t batch : {1, 4}) {
    SpecBuilder s;
    const int xn = s.Arena({batch, 16, 8, 8}, Layout::kNhwc), yn = s.Arena({batch, 32, 8, 8}, Layout::kNhwc);
    s.Step("Reorder", ReorderParams{}, {s.Input({batch, 16, 8, 8})}, {xn});
    s.Step("Conv", conv, {xn}, {yn});
    s.Step("Reorder", ReorderParams{}, {yn}, {s.Output({batch, 32, 8, 8})});
    const ProgramSpec spec = s.Build();
    auto program = Program::Create(spec, cache);
    ASSERT_TRUE(program.ok()) << program.status();
    auto ws = (*program)->NewWorkspace();
    ASSERT_TRUE(ws.ok()) << ws.status();
    EXPECT_EQ((*ws)->arena_bytes(), spec.arena_bytes);
    EXPECT_EQ((*ws)->scratchpad_bytes(), (*program)->scratchpad_bytes());
    if (after_first == 0) after_first = cache.bytes();
  }
  EXPECT_GE(after_first, (32 * 16 * 9 + 32) * 4);
  EXPECT_EQ(cache.bytes(), after_first);
}

TEST(ProgramTest, CacheForgetsWeightsOfDeadPrograms) {
  WeightCache cache;
  {
    SpecBuilder s;
    s.Step("Conv", Conv3x3(4, 8, 21), {s.Input({1, 4, 6, 6})}, {s.Output({1, 8, 6, 6})});
    auto program = Program::Create(s.Build(), cache);
    ASSERT_TRUE(program.ok()) << program.status();
    EXPECT_GT(cache.bytes(), 0);
  }  // the program and the only owner of its weights die here
  EXPECT_EQ(cache.bytes(), 0);
}

TEST(ProgramTest, RuntimeInfo) {
  EXPECT_EQ(DnnlVersion(), "2.6.3");
  EXPECT_FALSE(CpuIsa().empty());
  std::printf("CpuIsa() = %s\n", CpuIsa().c_str());
}

}  // namespace
}  // namespace q8::kernels::testing
