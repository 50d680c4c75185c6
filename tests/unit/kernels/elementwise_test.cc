// Eltwise, Binary, Softmax and BatchNorm kernels vs the reference, plain and
// NHWC. fp32 tolerance |got - ref| <= 1e-4 * (1 + |ref|) (AllClose).
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

TEST(EltwiseTest, ReluClipSigmoid) {
  const Activation ops[] = {
      {Activation::Kind::kRelu}, {Activation::Kind::kClip, -0.5f, 0.25f}, {Activation::Kind::kSigmoid}};
  for (Layout layout : {Layout::kPlain, Layout::kNhwc}) {
    for (const Activation& a : ops) {
      RefTensor x = RandomTensor({2, 3, 5, 7}, 31, -3, 3);
      auto got = BuildAndRun(OneStep(x.dims, x.dims, EltwiseParams{a}, layout), {x.data});
      ASSERT_TRUE(got.ok()) << got.status();
      ApplyActivations({a}, x);
      EXPECT_TRUE(AllClose(*got, x.data)) << "kind " << static_cast<int>(a.kind);
    }
  }
}

TEST(BinaryTest, RuntimeSameDimsAdd) {
  const RefTensor a = RandomTensor({4, 6, 5}, 41), c = RandomTensor({4, 6, 5}, 42);
  SpecBuilder b;
  const int x = b.Input(a.dims), y = b.Input(c.dims);
  b.Step("Add", BinaryParams{BinaryParams::Kind::kAdd, nullptr, {}}, {x, y}, {b.Output(a.dims)});
  auto got = BuildAndRun(b.Build(), {a.data, c.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, Binary(a, c, BinaryParams::Kind::kAdd).data));
}

TEST(BinaryTest, RuntimeBroadcastLowerRankMulRelu) {
  const RefTensor a = RandomTensor({2, 3, 5}, 43), c = RandomTensor({5}, 44);
  SpecBuilder b;
  const int x = b.Input(a.dims), y = b.Input(c.dims);
  b.Step("Mul", BinaryParams{BinaryParams::Kind::kMul, nullptr, {{Activation::Kind::kRelu}}}, {x, y},
         {b.Output(a.dims)});
  auto got = BuildAndRun(b.Build(), {a.data, c.data});
  ASSERT_TRUE(got.ok()) << got.status();
  RefTensor ref = Binary(a, c, BinaryParams::Kind::kMul);
  ApplyActivations({{Activation::Kind::kRelu}}, ref);
  EXPECT_TRUE(AllClose(*got, ref.data));
}

// The engine views a lower-rank operand as [1,C,1,1] plain while input 0 is
// NHWC; for such dims both layouts are the same bytes.
TEST(BinaryTest, RuntimePerChannelPlainOperandOnNhwc) {
  const RefTensor x = RandomTensor({2, 8, 5, 5}, 49), c = RandomTensor({1, 8, 1, 1}, 50);
  SpecBuilder b;
  const int in = b.Input(x.dims), ic = b.Input(c.dims), out = b.Output(x.dims);
  const int xn = b.Arena(x.dims, Layout::kNhwc), yn = b.Arena(x.dims, Layout::kNhwc);
  b.Step("Reorder", ReorderParams{}, {in}, {xn});
  b.Step("Add", BinaryParams{BinaryParams::Kind::kAdd, nullptr, {}}, {xn, ic}, {yn});
  b.Step("Reorder", ReorderParams{}, {yn}, {out});
  WeightCache cache;
  auto program = Program::Create(b.Build(), cache);
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ((*program)->steps()[1].impl.find("ref"), std::string::npos) << (*program)->steps()[1].impl;
  auto got = RunOnce(**program, b.Build(), {x.data, c.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose((*got)[0], Binary(x, c, BinaryParams::Kind::kAdd).data));
}

// Graph inputs/outputs may be NHWC-typed when NHWC and plain coincide
// ([N,1,H,W], [N,C,1,1]); the engine binds such values straight to caller buffers.
TEST(BinaryTest, LayoutFreeNhwcGraphInputAndOutput) {
  const RefTensor x = RandomTensor({2, 8, 1, 1}, 52);
  SpecBuilder b;
  const int in = b.Input(x.dims), out = b.Output(x.dims);
  b.spec().values[in].layout = Layout::kNhwc;
  b.spec().values[out].layout = Layout::kNhwc;
  b.Step("Mul", BinaryParams{BinaryParams::Kind::kMul, Constant(x), {}}, {in}, {out});
  auto got = BuildAndRun(b.Build(), {x.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, Binary(x, x, BinaryParams::Kind::kMul).data));
}

TEST(BinaryTest, ConstantPerChannelAndFullNhwc) {
  const RefTensor x = RandomTensor({2, 8, 5, 5}, 45);
  const RefTensor per_channel = RandomTensor({8, 1, 1}, 46);  // lower rank, broadcast over N, H, W
  const RefTensor full = RandomTensor({2, 8, 5, 5}, 47);
  for (Layout layout : {Layout::kPlain, Layout::kNhwc}) {
    auto got = BuildAndRun(
        OneStep(x.dims, x.dims, BinaryParams{BinaryParams::Kind::kAdd, Constant(per_channel), {}}, layout), {x.data});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(AllClose(*got, Binary(x, per_channel, BinaryParams::Kind::kAdd).data));
    got = BuildAndRun(OneStep(x.dims, x.dims, BinaryParams{BinaryParams::Kind::kMul, Constant(full), {}}, layout),
                      {x.data});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(AllClose(*got, Binary(x, full, BinaryParams::Kind::kMul).data));
  }
}

TEST(BinaryTest, ConstantCountsAsWeights) {
  const RefTensor x = RandomTensor({1, 4, 3, 3}, 48);
  WeightCache cache;
  const ConstTensorPtr constant = Constant(x);  // the engine keeps its constants for the model's lifetime
  auto got = BuildAndRun(OneStep(x.dims, x.dims, BinaryParams{BinaryParams::Kind::kAdd, constant, {}}, Layout::kPlain),
                         {x.data}, &cache);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(cache.bytes(), 36 * 4);
}

TEST(SoftmaxTest, Axes) {
  struct Case {
    core::Dims dims;
    int axis;
    Layout layout;
  };
  for (const Case& c :
       {Case{{4, 10}, 1, Layout::kPlain}, Case{{2, 3, 4, 5}, 1, Layout::kPlain}, Case{{2, 3, 4, 5}, 3, Layout::kPlain},
        Case{{2, 6, 3, 3}, 1, Layout::kNhwc}, Case{{3, 4, 5}, 0, Layout::kPlain}}) {
    const RefTensor x = RandomTensor(c.dims, 51, -4, 4);
    auto got = BuildAndRun(OneStep(x.dims, x.dims, SoftmaxParams{c.axis}, c.layout), {x.data});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(AllClose(*got, Softmax(x, c.axis).data)) << core::DimsToString(c.dims) << " axis " << c.axis;
  }
}

TEST(BatchNormTest, PlainAndNhwc) {
  const RefTensor x = RandomTensor({2, 8, 5, 5}, 61);
  const auto scale = Random(8, 62), bias = Random(8, 63), mean = Random(8, 64), var = Random(8, 65, 0.1f, 2.0f);
  BatchNormParams p{Constant({{8}, scale}), Constant({{8}, bias}), Constant({{8}, mean}), Constant({{8}, var}), 1e-3f};
  const RefTensor ref = BatchNorm(x, scale, bias, mean, var, 1e-3f);
  for (Layout layout : {Layout::kPlain, Layout::kNhwc}) {
    auto got = BuildAndRun(OneStep(x.dims, x.dims, p, layout), {x.data});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(AllClose(*got, ref.data));
  }
  // 2-D [N, C] (after Flatten).
  const RefTensor x2 = RandomTensor({3, 8}, 66);
  auto got = BuildAndRun(OneStep(x2.dims, x2.dims, p, Layout::kPlain), {x2.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, BatchNorm(x2, scale, bias, mean, var, 1e-3f).data));
}

}  // namespace
}  // namespace q8::kernels::testing
