// SmoothQuant and the channel rescale it folds through: the fp32 function is
// unchanged by folding (LayerNorm -> MatMul, Linear -> Relu -> Gemm, Conv ->
// Conv), matmuls without a foldable producer are reported with the reason,
// and on a model with LayerNorm outlier channels static int8 with
// SmoothQuant tracks the fp32 engine much better than without; the artifact
// and the QDQ export replay the folded constants.
#include "engine/quant/smoothquant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/model_builder.h"
#include "engine/quant/channel_rescale.h"
#include "engine/quantize.h"
#include "tests/testing/onnx_builder.h"
#include "tests/testing/random_data.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

using q8::testing::Normal;

// LayerNorm over 16 features, read by two Linear layers (like Q and K).
std::string LayerNormTwoLinears() {
  OnnxBuilder b(17, 7);
  b.Input("x", {-1, 6, 16}).Output("q").Output("k");
  b.RandomInitializer("gamma", {16}, 0.5f, 2.0f).RandomInitializer("beta", {16}, -0.5f, 0.5f);
  b.RandomInitializer("wq", {16, 24}, -0.4f, 0.4f).RandomInitializer("bq", {24}, -0.1f, 0.1f);
  b.RandomInitializer("wk", {16, 24}, -0.4f, 0.4f);
  OnnxBuilder::AttrInt(b.Node("LayerNormalization", {"x", "gamma", "beta"}, {"ln"}, "ln"), "axis", -1);
  b.Node("MatMul", {"ln", "wq"}, {"mq"}, "q_proj");
  b.Node("Add", {"mq", "bq"}, {"q"});
  b.Node("MatMul", {"ln", "wk"}, {"k"}, "k_proj");
  return b.Serialize();
}

// Linear (MatMul + bias) -> Relu -> Linear as Gemm with transB, 2-D.
std::string LinearReluGemm() {
  OnnxBuilder b(13, 8);
  b.Input("x", {-1, 12}).Output("y");
  b.RandomInitializer("w1", {12, 20}, -0.5f, 0.5f).RandomInitializer("b1", {20}, -0.2f, 0.2f);
  b.RandomInitializer("w2", {7, 20}, -0.5f, 0.5f).RandomInitializer("b2", {7}, -0.2f, 0.2f);
  b.Node("MatMul", {"x", "w1"}, {"m1"}, "fc1");
  b.Node("Add", {"m1", "b1"}, {"a1"});
  b.Node("Relu", {"a1"}, {"r1"});
  OnnxBuilder::AttrInt(b.Node("Gemm", {"r1", "w2", "b2"}, {"y"}, "fc2"), "transB", 1);
  return b.Serialize();
}

// Conv -> Relu -> Conv and depthwise conv (the equalization shapes).
std::string ConvReluDepthwise() {
  OnnxBuilder b(13, 9);
  b.Input("x", {-1, 3, 8, 8}).Output("y");
  b.RandomInitializer("w1", {6, 3, 3, 3}, -0.5f, 0.5f).RandomInitializer("b1", {6}, -0.2f, 0.2f);
  b.RandomInitializer("w2", {6, 1, 3, 3}, -0.5f, 0.5f).RandomInitializer("b2", {6}, -0.2f, 0.2f);
  OnnxBuilder::AttrInts(b.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1"), "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c1"}, {"r1"});
  auto& dw = b.Node("Conv", {"r1", "w2", "b2"}, {"y"}, "dw");
  OnnxBuilder::AttrInts(dw, "pads", {1, 1, 1, 1});
  OnnxBuilder::AttrInt(dw, "group", 6);
  return b.Serialize();
}

// The data input of node `node_name`: the activation to rescale.
ValueId InputOfProducer(const Graph& g, const std::string& node_name) {
  for (const Node& n : g.nodes()) {
    if (!n.removed && n.name == node_name) return n.inputs[0];
  }
  return kNoValue;
}

// Runs both models on `x` and returns max |a - b| / max |a| over all outputs.
double RelativeDiff(const CompiledModel& a, const CompiledModel& b, const core::Tensor& x) {
  auto ya = a.Run({x.view()});
  auto yb = b.Run({x.view()});
  EXPECT_TRUE(ya.ok() && yb.ok());
  if (!ya.ok() || !yb.ok()) return 1e9;
  double diff = 0, scale = 0;
  for (size_t o = 0; o < ya->size(); ++o) {
    auto pa = (*ya)[o].span<float>();
    auto pb = (*yb)[o].span<float>();
    for (size_t i = 0; i < pa.size(); ++i) {
      diff = std::max(diff, double(std::abs(pa[i] - pb[i])));
      scale = std::max(scale, double(std::abs(pa[i])));
    }
  }
  return diff / scale;
}

// Rescales the input of node `consumer` by s_j spread over [0.05, 20] and
// checks the fp32 outputs do not move (and that a wrong fold would show).
void ExpectRescaleKeepsFp32(const std::string& onnx, const std::string& consumer, const core::Tensor& x) {
  auto prepared = PrepareGraph(onnx, {});
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  auto before = BuildModel(*prepared, {});
  ASSERT_TRUE(before.ok()) << before.status();
  const ValueId v = InputOfProducer(*prepared->graph, consumer);
  ASSERT_NE(v, kNoValue);
  auto site = FindRescaleSite(*prepared->graph, v);
  ASSERT_TRUE(site.ok()) << site.status();
  std::vector<float> s(site->channels);
  for (size_t j = 0; j < s.size(); ++j) s[j] = 0.05f * std::pow(400.0f, float(j) / float(s.size() - 1));
  std::reverse(s.begin() + s.size() / 2, s.end());  // not monotone

  auto graph = std::make_shared<Graph>(*prepared->graph);
  ASSERT_TRUE(ApplyRescale(*graph, *site, s).ok());
  PreparedGraph smoothed = *prepared;
  smoothed.graph = graph;
  auto after = BuildModel(smoothed, {});
  ASSERT_TRUE(after.ok()) << after.status();
  const double rel = RelativeDiff(**before, **after, x);
  std::printf("%s: fp32 max relative change after folding %.3g\n", consumer.c_str(), rel);
  EXPECT_LT(rel, 1e-5);

  // The test can fail: folding only one side changes the function.
  auto half = std::make_shared<Graph>(*prepared->graph);
  RescaleSite producer_only = *site;
  producer_only.consumers.clear();
  ASSERT_TRUE(ApplyRescale(*half, producer_only, s).ok());
  PreparedGraph broken = *prepared;
  broken.graph = half;
  auto wrong = BuildModel(broken, {});
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_GT(RelativeDiff(**before, **wrong, x), 1e-2);
}

TEST(ChannelRescaleTest, LayerNormIntoTwoMatMulsKeepsFp32Outputs) {
  ExpectRescaleKeepsFp32(LayerNormTwoLinears(), "q_proj", Normal({5, 6, 16}, 1));
}

TEST(ChannelRescaleTest, LinearReluIntoGemmKeepsFp32Outputs) {
  ExpectRescaleKeepsFp32(LinearReluGemm(), "fc2", Normal({9, 12}, 2));
}

TEST(ChannelRescaleTest, ConvReluIntoDepthwiseConvKeepsFp32Outputs) {
  ExpectRescaleKeepsFp32(ConvReluDepthwise(), "dw", Normal({2, 3, 8, 8}, 3));
}

TEST(ChannelRescaleTest, RejectsWhatCannotFold) {
  // GELU between the Linears: no channel scale commutes with it.
  OnnxBuilder b(13, 4);
  b.Input("x", {-1, 8}).Output("y").Output("side");
  b.RandomInitializer("w1", {8, 8}).RandomInitializer("w2", {8, 4}).RandomInitializer("w3", {8, 4});
  b.Node("MatMul", {"x", "w1"}, {"h"}, "fc1");
  b.Node("Tanh", {"h"}, {"t"}, "tanh");
  b.Node("MatMul", {"t", "w2"}, {"y"}, "fc2");
  b.Node("MatMul", {"x", "w3"}, {"side"}, "fc3");  // reads a graph input
  auto prepared = PrepareGraph(b.Serialize(), {});
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  const SmoothingSites sites = FindSmoothingSites(*prepared->graph);
  EXPECT_TRUE(sites.sites.empty());
  ASSERT_EQ(sites.skipped.size(), 3u);
  std::string all;
  for (const std::string& s : sites.skipped) all += s + "\n";
  EXPECT_NE(all.find("'fc2' (MatMul): input 't': produced by node 'tanh' (Tanh), which cannot absorb"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("a graph input"), std::string::npos) << all;

  // Hostile scales are refused before anything is written.
  auto ln = PrepareGraph(LayerNormTwoLinears(), {});
  ASSERT_TRUE(ln.ok());
  Graph g = *ln->graph;
  auto site = FindRescaleSite(g, InputOfProducer(g, "q_proj"));
  ASSERT_TRUE(site.ok()) << site.status();
  std::vector<float> s(site->channels, 1.0f);
  s[3] = 0.0f;
  EXPECT_EQ(ApplyRescale(g, *site, s).code(), absl::StatusCode::kInvalidArgument);
  s[3] = std::nanf("");
  EXPECT_EQ(ApplyRescale(g, *site, s).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyRescale(g, *site, std::vector<float>(3, 1.0f)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SmoothQuantTest, ScalesFollowTheFormula) {
  const std::vector<float> s = SmoothingScales({100.0f, 1.0f, 0.0f, 4.0f}, {0.25f, 1.0f, 1.0f, 0.0f}, 0.5);
  EXPECT_FLOAT_EQ(s[0], 20.0f);  // sqrt(100) / sqrt(0.25)
  EXPECT_FLOAT_EQ(s[1], 1.0f);
  EXPECT_FLOAT_EQ(s[2], 1.0f);  // dead activation channel: left alone
  EXPECT_FLOAT_EQ(s[3], 1.0f);  // zero weights: left alone
  EXPECT_FLOAT_EQ(SmoothingScales({8.0f}, {2.0f}, 1.0)[0], 8.0f);
  EXPECT_FLOAT_EQ(SmoothingScales({8.0f}, {2.0f}, 0.0)[0], 0.5f);
}

// Pre-norm transformer feed-forward piece: LayerNorm whose gamma has four
// channels x50 (the outliers real LayerNorms learn) and the next Linear's
// rows for them /50 (trained models pair them so: the outlier channels do not
// dominate the result), then Relu -> Linear. One per-tensor scale for the
// LayerNorm output spends the grid on the outliers and leaves the other
// channels, which carry most of the signal, a few levels.
std::string OutlierModel() {
  constexpr int kC = 32, kH = 48;
  OnnxBuilder b(17, 11);
  b.Input("x", {-1, 8, kC}).Output("y");
  std::vector<float> gamma(kC, 1.0f), w1(kC * kH);
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> u(-0.3f, 0.3f);
  for (float& w : w1) w = u(rng);
  for (int j : {3, 11, 17, 29}) {
    gamma[j] = 50.0f;
    for (int n = 0; n < kH; ++n) w1[j * kH + n] /= 50.0f;
  }
  b.FloatInitializer("gamma", {kC}, gamma).RandomInitializer("beta", {kC}, -0.2f, 0.2f);
  b.FloatInitializer("w1", {kC, kH}, w1).RandomInitializer("b1", {kH}, -0.1f, 0.1f);
  b.RandomInitializer("w2", {kH, 10}, -0.3f, 0.3f).RandomInitializer("b2", {10}, -0.1f, 0.1f);
  OnnxBuilder::AttrInt(b.Node("LayerNormalization", {"x", "gamma", "beta"}, {"ln"}, "ln"), "axis", -1);
  b.Node("MatMul", {"ln", "w1"}, {"m1"}, "fc1");
  b.Node("Add", {"m1", "b1"}, {"a1"});
  b.Node("Relu", {"a1"}, {"r1"});
  b.Node("MatMul", {"r1", "w2"}, {"m2"}, "fc2");
  b.Node("Add", {"m2", "b2"}, {"y"});
  return b.Serialize();
}

QuantizationOptions StaticOptions() {
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  o.max_drop = 1.0;  // no fallback: compare the int8 models as built
  return o;
}

TEST(SmoothQuantTest, OutlierChannelsLoseMuchLessWithSmoothQuant) {
  const std::string onnx = OutlierModel();
  CalibrationData data{Normal({200, 8, 32}, 5), std::nullopt};
  auto plain = Quantize(onnx, {}, StaticOptions(), &data);
  ASSERT_TRUE(plain.ok()) << plain.status();
  QuantizationOptions o = StaticOptions();
  o.smoothquant.enabled = true;
  auto smooth = Quantize(onnx, {}, o, &data);
  ASSERT_TRUE(smooth.ok()) << smooth.status();

  // Both against the fp32 engine on the held-out rows (output SQNR, dB;
  // measured 9.98 without, 35.24 with).
  std::printf(
      "output SQNR vs fp32: static int8 %.2f dB, with SmoothQuant (alpha 0.5) %.2f dB; top-1 agreement "
      "%.3f vs %.3f\n",
      plain->report.output_sqnr_db, smooth->report.output_sqnr_db, plain->report.agreement, smooth->report.agreement);
  EXPECT_GT(smooth->report.output_sqnr_db, plain->report.output_sqnr_db + 15.0) << smooth->report.ToJson(2);
  EXPECT_TRUE(plain->report.smoothing.empty());

  // The report: fc1's input folded into the LayerNorm, fc2's into fc1 (its
  // fused Relu commutes with positive scales).
  ASSERT_EQ(smooth->report.smoothing.size(), 2u) << smooth->report.ToJson(2);
  EXPECT_EQ(smooth->report.smoothing[1].matmuls, std::vector<std::string>{"fc2"});
  EXPECT_NE(smooth->report.smoothing[1].folded_into.find("'fc1'"), std::string::npos);
  EXPECT_TRUE(smooth->report.smoothing_skipped.empty());
  const SmoothingReport& ln = smooth->report.smoothing[0];
  EXPECT_EQ(ln.matmuls, std::vector<std::string>{"fc1"});
  EXPECT_NE(ln.folded_into.find("LayerNormalization"), std::string::npos);
  EXPECT_DOUBLE_EQ(ln.alpha, 0.5);
  std::printf("ln output: max over channels of max|x| %.2f -> %.2f, median %.3f -> %.3f\n", ln.absmax_before,
              ln.absmax_after, ln.median_before, ln.median_after);
  EXPECT_GT(ln.absmax_before / ln.median_before, 20.0f);  // the outliers
  EXPECT_LT(ln.absmax_after / ln.median_after, 0.5f * ln.absmax_before / ln.median_before);

  // Served int8 tracks the fp32 engine on fresh inputs too.
  const core::Tensor x = Normal({16, 8, 32}, 6);
  const double rel_plain = RelativeDiff(*plain->fp32_model, *plain->model, x);
  const double rel_smooth = RelativeDiff(*smooth->fp32_model, *smooth->model, x);
  std::printf("fresh inputs, max|int8 - fp32| / max|fp32|: plain %.4f, SmoothQuant %.4f\n", rel_plain, rel_smooth);
  EXPECT_LT(rel_smooth, 0.5 * rel_plain);

  // Reloading from the artifact folds the same constants: identical outputs.
  auto reloaded = LoadQuantized(onnx, smooth->artifact, smooth->report.ToJson(), {});
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(RelativeDiff(*smooth->model, *reloaded->model, x), 0.0);
  EXPECT_EQ(reloaded->report.smoothing.size(), smooth->report.smoothing.size());
}

TEST(SmoothQuantTest, AutoAlphaKeepsTheBestScoringAlpha) {
  const std::string onnx = OutlierModel();
  CalibrationData data{Normal({160, 8, 32}, 7), std::nullopt};
  QuantizationOptions o = StaticOptions();
  o.smoothquant.enabled = true;
  o.smoothquant.search = true;
  auto r = Quantize(onnx, {}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& search = r->report.smoothing_search;
  ASSERT_EQ(search.size(), std::size(kSmoothQuantAlphaGrid)) << r->report.ToJson(2);
  auto best = std::max_element(search.begin(), search.end(), [](auto& a, auto& b) { return a.second < b.second; });
  ASSERT_FALSE(r->report.smoothing.empty());
  EXPECT_DOUBLE_EQ(r->report.smoothing[0].alpha, best->first);
  for (const auto& [alpha, db] : search) std::printf("alpha %.2f: %.2f dB on calibration rows\n", alpha, db);
}

TEST(SmoothQuantTest, ArtifactForAnotherGraphIsDataLoss) {
  const std::string onnx = OutlierModel();
  CalibrationData data{Normal({80, 8, 32}, 8), std::nullopt};
  QuantizationOptions o = StaticOptions();
  o.smoothquant.enabled = true;
  auto r = Quantize(onnx, {}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string artifact = r->artifact;
  const size_t at = artifact.find("\"tensor\": \"");
  ASSERT_NE(at, std::string::npos) << artifact.substr(0, 400);
  artifact.insert(at + 11, "missing_");
  EXPECT_EQ(LoadQuantized(onnx, artifact, r->report.ToJson(), {}).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace q8::engine
