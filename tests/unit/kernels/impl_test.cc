// The hot-path check: every typical fp32 primitive must get an optimized
// oneDNN implementation on this CPU, never a "ref" fallback. Impl strings are
// printed so reports can quote them.
#include <cstdio>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

ConvParams MakeConv(int64_t ic, int64_t oc, int64_t k, int64_t groups) {
  ConvParams p;
  p.weights = Constant(RandomTensor({oc, ic / groups, k, k}, 1));
  p.bias = Constant(RandomTensor({oc}, 2));
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {k / 2, k / 2};
  p.groups = groups;
  p.post_ops = {{Activation::Kind::kRelu}};
  return p;
}

// Builds the program and fails for every step whose implementation is a
// oneDNN reference kernel; prints each step's implementation.
void ExpectNoReferenceSteps(SpecBuilder& s) {
  WeightCache cache;
  auto program = Program::Create(s.Build(), cache);
  ASSERT_TRUE(program.ok()) << program.status();
  for (const StepInfo& step : (*program)->steps()) {
    std::printf("  %-22s %s\n", step.op.c_str(), step.impl.c_str());
    EXPECT_FALSE(absl::StrContains(step.impl, "ref")) << step.name << " uses " << step.impl;
  }
}

TEST(ImplTest, TypicalPrimitivesAreNotReference) {
  SpecBuilder s;
  const core::Dims x{1, 64, 28, 28};
  const int in = s.Input(x);
  const int xn = s.Arena(x, Layout::kNhwc), c3 = s.Arena(x, Layout::kNhwc),
            c1 = s.Arena({1, 128, 28, 28}, Layout::kNhwc);
  const int dw = s.Arena({1, 128, 28, 28}, Layout::kNhwc), pooled = s.Arena({1, 128, 14, 14}, Layout::kNhwc);
  const int sum = s.Arena({1, 128, 14, 14}, Layout::kNhwc), act = s.Arena({1, 128, 14, 14}, Layout::kNhwc);
  const int avg = s.Arena({1, 128, 1, 1}, Layout::kNhwc), flat = s.Alias(avg, {1, 128});
  const int logits = s.Arena({1, 1000});
  s.Step("Reorder", ReorderParams{}, {in}, {xn});
  s.Step("Conv3x3", MakeConv(64, 64, 3, 1), {xn}, {c3});
  s.Step("Conv1x1", MakeConv(64, 128, 1, 1), {c3}, {c1});
  s.Step("DepthwiseConv", MakeConv(128, 128, 3, 128), {c1}, {dw});
  PoolParams max{PoolParams::Kind::kMax, {2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, false};
  s.Step("MaxPool", max, {dw}, {pooled});
  s.Step("Add", BinaryParams{BinaryParams::Kind::kAdd, nullptr, {}}, {pooled, pooled}, {sum});
  s.Step("Relu", EltwiseParams{{Activation::Kind::kRelu}}, {sum}, {act});
  PoolParams gap{PoolParams::Kind::kAverage, {14, 14}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, false};
  s.Step("GlobalAveragePool", gap, {act}, {avg});
  MatMulParams fc;
  fc.weights = Constant(RandomTensor({128, 1000}, 3));
  fc.bias = Constant(RandomTensor({1000}, 4));
  s.Step("MatMul", fc, {flat}, {logits});
  s.Step("Softmax", SoftmaxParams{1}, {logits}, {s.Output({1, 1000})});

  std::printf("isa %s, oneDNN %s\n", CpuIsa().c_str(), DnnlVersion().c_str());
  ExpectNoReferenceSteps(s);
}

// The primitives the issue-12 ops and fusions lower to, at transformer- and
// CNN-typical shapes.
TEST(ImplTest, NewOpPrimitivesAreNotReference) {
  SpecBuilder s;
  const core::Dims seq{4, 128, 256}, img{1, 64, 28, 28};
  const int x = s.Input(seq), y = s.Input(img);
  const int ln = s.Arena(seq), gelu = s.Arena(seq), sub = s.Arena(seq), mean = s.Arena({4, 128}), lsm = s.Arena(seq);
  LayerNormParams lnp;
  lnp.axis = 2;
  lnp.scale = Constant(RandomTensor({256}, 5));
  lnp.bias = Constant(RandomTensor({256}, 6));
  s.Step("LayerNormalization", lnp, {x}, {ln});
  s.Step("Gelu", EltwiseParams{{Activation::Kind::kGeluErf}}, {ln}, {gelu});
  s.Step("Sub", BinaryParams{BinaryParams::Kind::kSub, nullptr, {}}, {gelu, ln}, {sub});
  s.Step("ReduceMean", ReductionParams{ReductionParams::Kind::kMean, {2}}, {sub}, {mean});
  SoftmaxParams log_softmax{2, true, false};
  s.Step("LogSoftmax", log_softmax, {sub}, {lsm});
  const int yn = s.Arena(img, Layout::kNhwc), hs = s.Arena(img, Layout::kNhwc), sw = s.Arena(img, Layout::kNhwc);
  const int pr = s.Arena(img, Layout::kNhwc), lrn = s.Arena(img, Layout::kNhwc), in = s.Arena(img);
  s.Step("Reorder", ReorderParams{}, {y}, {yn});
  s.Step("HardSwish", EltwiseParams{{Activation::Kind::kHardSwish}}, {yn}, {hs});
  s.Step("Swish", EltwiseParams{{Activation::Kind::kSwish, 0, 0, 1.0f}}, {hs}, {sw});
  s.Step("PRelu", PReluParams{Constant(RandomTensor({64, 1, 1}, 7))}, {sw}, {pr});
  s.Step("LRN", LrnParams{5, 1e-4f, 0.75f, 1.0f}, {pr}, {lrn});
  s.Step("Reorder", ReorderParams{}, {lrn}, {s.Arena(img)});
  InstanceNormParams inp;
  inp.scale = Constant(RandomTensor({64}, 8));
  inp.bias = Constant(RandomTensor({64}, 9));
  s.Step("InstanceNormalization", inp, {y}, {in});
  s.Step("Out", ReorderParams{}, {mean}, {s.Output({4, 128})});

  ExpectNoReferenceSteps(s);
}

// The bf16 rung (engine/plan/precision.h): convs (3x3, 1x1, depthwise) and
// matmuls the ladder may move to bf16, with the seam reorders around them.
TEST(ImplTest, Bf16PrimitivesAreNotReference) {
  if (!HasBf16Compute()) GTEST_SKIP() << "q8-skip: ISA " << CpuIsa() << " has no bf16 compute";
  using DT = core::DataType;
  SpecBuilder s;
  const core::Dims x{1, 64, 28, 28}, wide{1, 128, 28, 28};
  const int in = s.Input(x);
  const int xb = s.Arena(x, Layout::kNhwc, DT::kBFloat16), c3 = s.Arena(x, Layout::kNhwc, DT::kBFloat16);
  const int c1 = s.Arena(wide, Layout::kNhwc, DT::kBFloat16), dw = s.Arena(wide, Layout::kNhwc);
  const int dwb = s.Arena(wide, Layout::kNhwc, DT::kBFloat16), u8 = s.Arena(wide, Layout::kNhwc, DT::kUInt8, 0.05f);
  const int u8b = s.Arena(wide, Layout::kNhwc, DT::kBFloat16);
  s.Step("Reorder", ReorderParams{}, {in}, {xb});
  s.Step("Conv3x3", MakeConv(64, 64, 3, 1), {xb}, {c3});
  s.Step("Conv1x1", MakeConv(64, 128, 1, 1), {c3}, {c1});
  s.Step("DepthwiseConv", MakeConv(128, 128, 3, 128), {c1}, {dw});
  s.Step("Reorder", ReorderParams{}, {dw}, {dwb});
  s.Step("Reorder", ReorderParams{}, {dw}, {u8});
  s.Step("Reorder", ReorderParams{}, {u8}, {u8b});  // an int8-stored value a bf16 layer reads
  const core::Dims seq{4, 128, 256};
  const int a = s.Input(seq), ab = s.Arena(seq, Layout::kPlain, DT::kBFloat16), y = s.Arena({4, 128, 512});
  s.Step("Reorder", ReorderParams{}, {a}, {ab});
  MatMulParams fc;
  fc.weights = Constant(RandomTensor({256, 512}, 3));
  fc.bias = Constant(RandomTensor({512}, 4));
  fc.post_ops = {{Activation::Kind::kGeluErf}};
  s.Step("MatMul", fc, {ab}, {y});
  s.Step("Out", ReorderParams{}, {y}, {s.Output({4, 128, 512})});

  ExpectNoReferenceSteps(s);
}

// Asymmetric activations (engine/quant/quantizer.h): the quantizing reorder
// f32 -> u8 with a zero point, the FFN pair (up projection with GELU writing
// u8 with a zero point, down projection reading it, its zero point folded
// into the bias) and the dequantizing reorder, at a BERT-base FFN shape.
TEST(ImplTest, AsymmetricInt8PrimitivesAreNotReference) {
  using DT = core::DataType;
  SpecBuilder s;
  const core::Dims seq{1, 128, 768}, wide{1, 128, 3072};
  const int x = s.Input(seq), xq = s.Arena(seq, Layout::kPlain, DT::kUInt8, 0.03f);
  const int h = s.Arena(wide, Layout::kPlain, DT::kUInt8, 0.02f), y = s.Arena(seq, Layout::kPlain, DT::kUInt8, 0.04f);
  s.spec().values[xq].zero_point = 120;
  s.spec().values[h].zero_point = 9;
  s.spec().values[y].zero_point = 130;
  auto quantized = [](core::Dims dims, uint32_t seed) {
    auto w = std::make_shared<core::Tensor>(DT::kInt8, dims);
    const std::vector<float> r = Random(w->num_elements(), seed, -127.0f, 127.0f);
    for (int64_t i = 0; i < w->num_elements(); ++i) w->span<int8_t>()[i] = static_cast<int8_t>(r[i]);
    QuantizedWeights q{w, std::vector<float>(dims[1], 0.01f), MatMulColumnSums(*w)};
    return q;
  };
  MatMulParams up, down;
  up.qweights = quantized({768, 3072}, 11);
  up.bias = Constant(RandomTensor({3072}, 12));
  up.post_ops = {{Activation::Kind::kGeluErf}};
  down.qweights = quantized({3072, 768}, 13);
  down.bias = Constant(RandomTensor({768}, 14));
  s.Step("Quantize", ReorderParams{}, {x}, {xq});
  s.Step("FfnUp", up, {xq}, {h});
  s.Step("FfnDown", down, {h}, {y});
  s.Step("Dequantize", ReorderParams{}, {y}, {s.Output(seq)});

  ExpectNoReferenceSteps(s);
}

}  // namespace
}  // namespace q8::kernels::testing
