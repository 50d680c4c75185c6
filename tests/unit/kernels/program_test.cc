// Program / Workspace behaviour: concurrent Runs on separate Workspaces,
// arena aliasing, weight sharing through the WeightCache, caller buffers of
// any alignment, the "no ref implementation" check on typical primitives,
// and error reporting.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kernels/threading.h"
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

// Callers hand Run buffers of any alignment (the server's are protobuf
// strings: malloc gives 16 bytes, mmap'ed large blocks start 16 bytes past a
// page). oneDNN's jit resampling stores its output with non-temporal
// vmovntps, which faults (#GP, SIGSEGV) unless the address is 64-byte aligned
// (32 for AVX2), whenever input + output exceed its L3 estimate (threads x
// L3 per core); so did LRASPP's final Resize in the server. 40 MB here
// exceeds that on any CPU at one thread.
TEST(ProgramTest, CallerBuffersOfAnyAlignment) {
  const int64_t c = 2, h = 1024, w = 1024;
  ResizeParams p;
  p.mode = ResizeParams::Mode::kNearest;
  p.nearest = ResizeParams::Nearest::kFloor;
  p.transform = ResizeParams::Transform::kAsymmetric;
  p.scales = {1, 1, 2, 2};
  SpecBuilder s;
  s.Step("Resize", p, {s.Input({1, c, h, w})}, {s.Output({1, c, 2 * h, 2 * w})});
  const ProgramSpec spec = s.Build();
  const int saved_threads = IntraOpThreads();
  SetIntraOpThreads(1);
  WeightCache cache;
  auto program = Program::Create(spec, cache);
  ASSERT_TRUE(program.ok()) << program.status();
  ASSERT_NE((*program)->steps()[0].impl, "q8:cpp") << "expected oneDNN's resampling";
  auto ws = (*program)->NewWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();

  const int64_t in_n = c * h * w, out_n = 4 * in_n;
  struct Free {
    void operator()(void* q) const { std::free(q); }
  };
  // One 64-byte aligned block each, used at byte offset `shift`.
  std::unique_ptr<float, Free> in_block(static_cast<float*>(std::aligned_alloc(64, (in_n + 16) * sizeof(float))));
  std::unique_ptr<float, Free> out_block(static_cast<float*>(std::aligned_alloc(64, (out_n + 16) * sizeof(float))));
  const std::vector<float> x = Random(in_n, 77);
  for (int shift : {4, 0, 4, 1}) {  // floats: 16, 0, 16 and 4 bytes off 64-byte alignment
    SCOPED_TRACE(::testing::Message() << "buffers " << shift * 4 << " bytes past 64-byte alignment");
    float* in = in_block.get() + shift;
    float* out = out_block.get() + shift;
    std::memcpy(in, x.data(), in_n * sizeof(float));
    std::fill(out, out + out_n, std::nanf(""));
    const void* ins[] = {in};
    void* outs[] = {out};
    ASSERT_TRUE((*program)->Run(**ws, ins, outs).ok());
    int64_t wrong = 0;
    for (int64_t k = 0; k < c; ++k) {
      for (int64_t y = 0; y < 2 * h; ++y) {
        for (int64_t z = 0; z < 2 * w; ++z) {
          wrong += out[(k * 2 * h + y) * 2 * w + z] != x[(k * h + y / 2) * w + z / 2];
        }
      }
    }
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(std::memcmp(in, x.data(), in_n * sizeof(float)), 0) << "the input was written";
  }
  SetIntraOpThreads(saved_threads);
}

TEST(ProgramTest, RuntimeInfo) {
  EXPECT_EQ(DnnlVersion(), "2.6.3");
  EXPECT_FALSE(CpuIsa().empty());
  std::printf("CpuIsa() = %s\n", CpuIsa().c_str());
}

}  // namespace
}  // namespace q8::kernels::testing
