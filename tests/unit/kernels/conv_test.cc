// Conv kernel vs the reference: plain and NHWC layouts, groups/depthwise,
// strides, asymmetric pads, dilations, bias, fused post-ops. fp32 tolerance
// |got - ref| <= 1e-4 * (1 + |ref|) (AllClose).
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

struct ConvCase {
  std::string name;
  core::Dims x;  // [N,C,H,W]
  int64_t oc, kh, kw, groups;
  std::vector<int64_t> strides, dilations, pads_begin, pads_end;
  bool bias;
  std::vector<Activation> post_ops;
  Layout layout;
};

Activation Relu() { return {Activation::Kind::kRelu}; }
Activation Clip(float lo, float hi) { return {Activation::Kind::kClip, lo, hi}; }
Activation Sigmoid() { return {Activation::Kind::kSigmoid}; }

class ConvTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvTest, MatchesReference) {
  const ConvCase& c = GetParam();
  const RefTensor x = RandomTensor(c.x, 1);
  const RefTensor w = RandomTensor({c.oc, c.x[1] / c.groups, c.kh, c.kw}, 2, -0.5f, 0.5f);
  const std::vector<float> bias = c.bias ? Random(c.oc, 3) : std::vector<float>{};
  ConvParams p;
  p.weights = Constant(w);
  if (c.bias) p.bias = Constant({{c.oc}, bias});
  p.strides = c.strides;
  p.dilations = c.dilations;
  p.pads_begin = c.pads_begin;
  p.pads_end = c.pads_end;
  p.groups = c.groups;
  p.post_ops = c.post_ops;
  const RefTensor ref = Conv2d(x, w, bias, p);

  SpecBuilder b;
  const int in = b.Input(c.x);
  const int out = b.Output(ref.dims);
  if (c.layout == Layout::kNhwc) {
    // Graph boundaries are plain: reorder in and out of the NHWC section.
    const int x_nhwc = b.Arena(c.x, Layout::kNhwc);
    const int y_nhwc = b.Arena(ref.dims, Layout::kNhwc);
    b.Step("Reorder", ReorderParams{}, {in}, {x_nhwc});
    b.Step("Conv", p, {x_nhwc}, {y_nhwc});
    b.Step("Reorder", ReorderParams{}, {y_nhwc}, {out});
  } else {
    b.Step("Conv", p, {in}, {out});
  }
  auto got = BuildAndRun(b.Build(), {x.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref.data));
}

const std::vector<int64_t> k1{1, 1}, k0{0, 0}, k2{2, 2};

INSTANTIATE_TEST_SUITE_P(
    Cases, ConvTest,
    ::testing::Values(
        ConvCase{"3x3_nhwc_bias_relu", {1, 16, 14, 14}, 32, 3, 3, 1, k1, k1, k1, k1, true, {Relu()}, Layout::kNhwc},
        ConvCase{"3x3_plain_bias_relu", {1, 16, 14, 14}, 32, 3, 3, 1, k1, k1, k1, k1, true, {Relu()}, Layout::kPlain},
        ConvCase{"1x1_nhwc", {2, 32, 7, 7}, 64, 1, 1, 1, k1, k1, k0, k0, false, {}, Layout::kNhwc},
        ConvCase{
            "depthwise_s2_clip_nhwc", {1, 32, 15, 15}, 32, 3, 3, 32, k2, k1, k1, k1, true, {Clip(0, 6)}, Layout::kNhwc},
        ConvCase{"depthwise_plain", {2, 8, 9, 9}, 8, 3, 3, 8, k1, k1, k1, k1, false, {}, Layout::kPlain},
        ConvCase{"grouped4_dilated_plain", {1, 16, 12, 12}, 32, 3, 3, 4, k1, k2, k2, k2, true, {}, Layout::kPlain},
        ConvCase{"grouped2_nhwc", {1, 16, 10, 10}, 16, 3, 3, 2, k1, k1, k1, k1, true, {Relu()}, Layout::kNhwc},
        ConvCase{"stem_5x5_s2_asym_pads_sigmoid",
                 {2, 3, 17, 19},
                 8,
                 5,
                 5,
                 1,
                 k2,
                 k1,
                 {1, 2},
                 {2, 1},
                 true,
                 {Sigmoid()},
                 Layout::kNhwc},
        ConvCase{"dilated_2x3_relu_clip",
                 {1, 8, 16, 16},
                 16,
                 3,
                 3,
                 1,
                 k1,
                 {2, 3},
                 {2, 3},
                 {2, 3},
                 true,
                 {Relu(), Clip(0, 0.5f)},
                 Layout::kNhwc},
        ConvCase{
            "strided_3x2_kernel_plain", {1, 4, 11, 9}, 6, 3, 2, 1, {2, 3}, k1, k0, {1, 0}, false, {}, Layout::kPlain}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

}  // namespace
}  // namespace q8::kernels::testing
