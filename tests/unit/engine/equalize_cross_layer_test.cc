// Cross-layer equalization (engine/passes/equalize_cross_layer.h): the float
// function is unchanged (outputs before vs after within 1e-5 of the output
// magnitude), per-channel weight ranges come out balanced, and links that are
// not positively homogeneous or tensors with other readers are left alone.
// The models get deliberately uneven channels: W1's rows are scaled by
// 10^-1.5 .. 10^1.5 (a 1000x spread, like BN folding can give depthwise convs).
#include "engine/passes/equalize_cross_layer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/model_builder.h"
#include "engine/passes/channel_scaling.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

// Uniform [-1, 1] weights [oc, icg, k, k] with row o scaled by
// 10^(spread_decades * (o / (oc - 1) - 0.5)).
std::vector<float> UnevenWeights(int64_t oc, int64_t icg, int64_t k, double spread_decades, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w(oc * icg * k * k);
  const int64_t row = icg * k * k;
  for (int64_t o = 0; o < oc; ++o) {
    const double e = oc > 1 ? spread_decades * (static_cast<double>(o) / (oc - 1) - 0.5) : 0.0;
    for (int64_t i = 0; i < row; ++i) w[o * row + i] = u(rng) * static_cast<float>(std::pow(10.0, e));
  }
  return w;
}

onnx::NodeProto& AddConv(OnnxBuilder& b, const std::string& name, const std::string& in, const std::string& out,
                         int64_t oc, int64_t icg, int64_t k, int64_t group, double spread, uint32_t seed) {
  b.FloatInitializer(name + "_w", {oc, icg, k, k}, UnevenWeights(oc, icg, k, spread, seed));
  b.RandomInitializer(name + "_b", {oc}, -0.5f, 0.5f);
  auto& n = b.Node("Conv", {in, name + "_w", name + "_b"}, {out});
  n.set_name(name);
  OnnxBuilder::AttrInts(n, "pads", {k / 2, k / 2, k / 2, k / 2});
  if (group > 1) OnnxBuilder::AttrInt(n, "group", group);
  return n;
}

// x -> conv1 (uneven rows) -> Relu -> conv2 -> y
std::string ConvReluConv() {
  OnnxBuilder b;
  b.Input("x", {-1, 4, 10, 10}).Output("y");
  AddConv(b, "conv1", "x", "c1", 8, 4, 3, 1, 3.0, 1);
  b.Node("Relu", {"c1"}, {"r1"});
  AddConv(b, "conv2", "r1", "y", 6, 8, 3, 1, 0.0, 2);
  return b.Serialize();
}

// x -> stem -> Relu -> MaxPool -> dw1 -> Relu -> pw1 -> Relu -> dw2 -> pw2 (no link activation) -> y:
// conv->conv across ReLU+MaxPool, conv->depthwise, depthwise->pointwise,
// pointwise->depthwise and a link with nothing in it, all in one chain.
std::string DepthwiseChain() {
  OnnxBuilder b;
  b.Input("x", {-1, 3, 12, 12}).Output("y");
  AddConv(b, "stem", "x", "s", 8, 3, 3, 1, 3.0, 3);
  b.Node("Relu", {"s"}, {"sr"});
  auto& pool = b.Node("MaxPool", {"sr"}, {"sp"});
  OnnxBuilder::AttrInts(pool, "kernel_shape", {2, 2});
  OnnxBuilder::AttrInts(pool, "strides", {2, 2});
  AddConv(b, "dw1", "sp", "d1", 8, 1, 3, 8, 3.0, 4);
  b.Node("Relu", {"d1"}, {"d1r"});
  AddConv(b, "pw1", "d1r", "p1", 12, 8, 1, 1, 2.0, 5);
  b.Node("Relu", {"p1"}, {"p1r"});
  AddConv(b, "dw2", "p1r", "d2", 12, 1, 3, 12, 3.0, 6);
  AddConv(b, "pw2", "d2", "y", 5, 12, 1, 1, 0.0, 7);
  return b.Serialize();
}

std::vector<float> RunModel(const PreparedGraph& prepared, const core::Tensor& x) {
  auto model = BuildModel(prepared, {});
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  const CompiledModel& compiled = **model;
  auto out = compiled.Run({x.view()});
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  auto s = (*out)[0].span<float>();
  return {s.begin(), s.end()};
}

struct Equalized {
  PreparedGraph before, after;
  EqualizationResult result;
};

Equalized Equalize(const std::string& bytes) {
  Equalized e;
  auto prepared = PrepareGraph(bytes, {});
  EXPECT_TRUE(prepared.ok()) << prepared.status();
  if (!prepared.ok()) return e;
  e.before = *prepared;
  e.after = *prepared;
  auto graph = std::make_shared<Graph>(*prepared->graph);
  e.result = EqualizeCrossLayer(*graph);
  e.after.graph = graph;
  return e;
}

// max |a - b| / max |a|: the outputs' change relative to their magnitude.
double RelativeChange(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, mag = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    mag = std::max(mag, std::abs(static_cast<double>(a[i])));
  }
  return a.size() == b.size() && mag > 0 ? diff / mag : 1.0;
}

const core::Tensor& WeightOf(const PreparedGraph& p, const std::string& node) {
  for (const Node& n : p.graph->nodes()) {
    if (n.name == node) return *p.graph->value(n.inputs[1]).constant;
  }
  ADD_FAILURE() << "no node " << node;
  static const core::Tensor empty;
  return empty;
}

TEST(EqualizeCrossLayerTest, ConvReluConvKeepsOutputsAndBalancesRanges) {
  Equalized e = Equalize(ConvReluConv());
  ASSERT_EQ(e.result.pairs.size(), 1u);
  EXPECT_TRUE(e.result.converged);
  const core::Tensor x = testing::RandomInput({3, 4, 10, 10});
  const double change = RelativeChange(RunModel(e.before, x), RunModel(e.after, x));
  std::printf("conv->relu->conv: output change %.2g relative, %d sweeps\n", change, e.result.sweeps);
  EXPECT_LE(change, 1e-5);

  // Balanced: W1's row i and W2's input channel i end with the same range.
  const std::vector<float> r1 = AbsMaxAlongAxis(WeightOf(e.after, "conv1"), 0);
  const std::vector<float> r2 = ConvInputChannelAbsMax(WeightOf(e.after, "conv2"), 1);
  ASSERT_EQ(r1.size(), r2.size());
  for (size_t i = 0; i < r1.size(); ++i) EXPECT_NEAR(r1[i], r2[i], 1e-4 * r2[i]) << "channel " << i;
  // W1's rows spread 1000x; W2's columns about evenly: after equalization the
  // spread is about its square root (~32x). Stated bound: at least 10x smaller.
  const EqualizedPair& p = e.result.pairs[0];
  std::printf("conv1 row-range spread %.1f -> %.1f, conv2 column spread %.2f -> %.2f\n", p.first_spread_before,
              p.first_spread_after, p.second_spread_before, p.second_spread_after);
  EXPECT_GE(p.first_spread_before, 500.0);
  EXPECT_LE(p.first_spread_after, p.first_spread_before / 10);
  EXPECT_DOUBLE_EQ(p.first_spread_after, RangeSpread(r1));
  EXPECT_FALSE(p.pair.depthwise);
}

TEST(EqualizeCrossLayerTest, DepthwisePointwiseChainKeepsOutputsAndConverges) {
  Equalized e = Equalize(DepthwiseChain());
  // stem->dw1 (through ReLU+MaxPool), dw1->pw1, pw1->dw2, dw2->pw2 (no activation).
  ASSERT_EQ(e.result.pairs.size(), 4u);
  EXPECT_TRUE(e.result.converged) << e.result.sweeps << " sweeps";
  for (const EqualizedPair& p : e.result.pairs) EXPECT_TRUE(p.pair.depthwise);
  const core::Tensor x = testing::RandomInput({3, 3, 12, 12});
  const double change = RelativeChange(RunModel(e.before, x), RunModel(e.after, x));
  std::printf("depthwise chain: output change %.2g relative, %d sweeps\n", change, e.result.sweeps);
  EXPECT_LE(change, 1e-5);
  double worst_before = 0, worst_after = 0;
  for (const EqualizedPair& p : e.result.pairs) {
    const Node& n1 = e.after.graph->nodes()[p.pair.first];
    const Node& n2 = e.after.graph->nodes()[p.pair.second];
    std::printf("  %s -> %s: W1 spread %.1f -> %.1f, W2 spread %.1f -> %.1f\n", n1.name.c_str(), n2.name.c_str(),
                p.first_spread_before, p.first_spread_after, p.second_spread_before, p.second_spread_after);
    worst_before = std::max({worst_before, p.first_spread_before, p.second_spread_before});
    worst_after = std::max({worst_after, p.first_spread_after, p.second_spread_after});
    // At the fixpoint every pair is balanced channel by channel.
    const std::vector<float> r1 = AbsMaxAlongAxis(*e.after.graph->value(n1.inputs[1]).constant, 0);
    const std::vector<float> r2 =
        ConvInputChannelAbsMax(*e.after.graph->value(n2.inputs[1]).constant, *n2.attrs.GetInt("group", 1));
    ASSERT_EQ(r1.size(), r2.size());
    for (size_t i = 0; i < r1.size(); ++i) EXPECT_NEAR(r1[i], r2[i], 1e-3 * r2[i]) << n1.name << " channel " << i;
  }
  // Each conv in the chain is pulled by both neighbours, so the chain ends
  // between the extremes: the worst spread (~1000x) shrinks at least 5x.
  std::printf("worst spread in the chain %.1f -> %.1f\n", worst_before, worst_after);
  EXPECT_LE(worst_after, worst_before / 5);
}

TEST(EqualizeCrossLayerTest, LeavesNonHomogeneousLinksAndSharedTensorsAlone) {
  {
    // ReLU6 between the convs: clip(x / s, 0, 6) != clip(x, 0, 6) / s.
    OnnxBuilder b;
    b.Input("x", {-1, 4, 8, 8}).Output("y");
    AddConv(b, "conv1", "x", "c1", 8, 4, 3, 1, 3.0, 1);
    b.FloatInitializer("lo", {}, {0.0f}).FloatInitializer("hi", {}, {6.0f});
    b.Node("Clip", {"c1", "lo", "hi"}, {"r1"});
    AddConv(b, "conv2", "r1", "y", 6, 8, 3, 1, 0.0, 2);
    Equalized e = Equalize(b.Serialize());
    EXPECT_TRUE(e.result.pairs.empty());
  }
  {
    // conv1's output also goes to a second branch that would see rescaled values.
    OnnxBuilder b;
    b.Input("x", {-1, 4, 8, 8}).Output("y").Output("z");
    AddConv(b, "conv1", "x", "c1", 8, 4, 3, 1, 3.0, 1);
    b.Node("Relu", {"c1"}, {"r1"});
    AddConv(b, "conv2", "r1", "y", 6, 8, 3, 1, 0.0, 2);
    b.Node("Sigmoid", {"r1"}, {"z"});
    Equalized e = Equalize(b.Serialize());
    EXPECT_TRUE(e.result.pairs.empty());
  }
}

TEST(ChannelScalingTest, GroupedInputChannelsMapToTheirGroup) {
  // Two groups, 2 output and 2 input channels each: input channel c of group g
  // is column c % 2 of rows 2g, 2g+1.
  core::Tensor w = core::Tensor::FromFloats({4, 2, 1, 1}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(ConvInputChannelAbsMax(w, 2), (std::vector<float>{3, 4, 7, 8}));
  ScaleConvInputChannels(w, 2, std::vector<float>{1, 10, 100, 1000});
  EXPECT_EQ(std::vector<float>(w.span<float>().begin(), w.span<float>().end()),
            (std::vector<float>{1, 20, 3, 40, 500, 6000, 700, 8000}));
  EXPECT_DOUBLE_EQ(RangeSpread(std::vector<float>{0, 2, 8, 4}), 4.0);
  EXPECT_DOUBLE_EQ(RangeSpread(std::vector<float>{0, 3}), 1.0);
}

}  // namespace
}  // namespace q8::engine
