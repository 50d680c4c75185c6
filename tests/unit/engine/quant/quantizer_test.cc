// Quantization math: weight scales, rounding, bias correction, options and
// the report's JSON round trip.
#include "engine/quant/quantizer.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine/quant/quantization_report.h"

namespace q8::engine {
namespace {

core::Tensor Random(core::Dims dims, uint32_t seed, float lo, float hi) {
  core::Tensor t(core::DataType::kFloat32, std::move(dims));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (float& v : t.span<float>()) v = d(rng);
  return t;
}

TEST(QuantizerTest, PerChannelScalesAndRoundTripError) {
  core::Tensor w = Random({4, 3, 3, 3}, 1, -1, 1);
  w.span<float>()[0] = 2.54f;  // channel 0 has a larger range
  QuantizedTensor q = QuantizeWeights(w, 0, /*per_channel=*/true);
  ASSERT_EQ(q.scales.size(), 4u);
  EXPECT_FLOAT_EQ(q.scales[0], 2.54f / 127);
  EXPECT_LT(q.scales[1], q.scales[0]);
  for (int64_t i = 0; i < w.num_elements(); ++i) {
    const int ch = static_cast<int>(i / 27);
    const float back = q.values->span<int8_t>()[i] * q.scales[ch];
    EXPECT_LE(std::abs(back - w.span<float>()[i]), q.scales[ch] / 2 + 1e-7f);  // half a step
  }
  EXPECT_EQ(q.values->span<int8_t>()[0], 127);
}

TEST(QuantizerTest, PerTensorRepeatsOneScale) {
  core::Tensor w = Random({3, 8}, 2, -3, 3);  // matmul [K, N]
  QuantizedTensor q = QuantizeWeights(w, 1, /*per_channel=*/false);
  ASSERT_EQ(q.scales.size(), 8u);
  for (float s : q.scales) EXPECT_EQ(s, q.scales[0]);
}

TEST(QuantizerTest, RoundsHalfToEven) {
  // Scale 1 (max 127): 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, 200 saturates to 127.
  core::Tensor w = core::Tensor::FromFloats({1, 5}, {2.5f, 3.5f, -2.5f, 127.0f, -0.5f});
  auto q = QuantizeWithScales(w, 0, {1.0f});
  EXPECT_EQ(q->span<int8_t>()[0], 2);
  EXPECT_EQ(q->span<int8_t>()[1], 4);
  EXPECT_EQ(q->span<int8_t>()[2], -2);
  EXPECT_EQ(q->span<int8_t>()[4], 0);
  auto sat = QuantizeWithScales(core::Tensor::FromFloats({1, 1}, {400.0f}), 0, {1.0f});
  EXPECT_EQ(sat->span<int8_t>()[0], 127);
}

TEST(QuantizerTest, BiasCorrectionRemovesMeanOutputError) {
  // A [K=64, N=16] layer fed inputs with a large positive mean: weight
  // rounding errors then shift every output's mean, which the correction removes.
  const int64_t k = 64, n = 16, samples = 2000;
  core::Tensor w = Random({k, n}, 3, -0.05f, 0.05f);
  QuantizedTensor q = QuantizeWeights(w, 1, true);
  core::Tensor x = Random({samples, k}, 4, 0.5f, 1.5f);
  std::vector<double> mean(k, 0);
  for (int64_t s = 0; s < samples; ++s) {
    for (int64_t i = 0; i < k; ++i) mean[i] += x.span<float>()[s * k + i] / samples;
  }
  auto corrected = CorrectBias(w, q, 1, nullptr, mean, 1);
  double err_before = 0, err_after = 0;
  for (int64_t j = 0; j < n; ++j) {
    double e = 0;
    for (int64_t s = 0; s < samples; ++s) {
      for (int64_t i = 0; i < k; ++i) {
        e += (q.values->span<int8_t>()[i * n + j] * q.scales[j] - w.span<float>()[i * n + j]) *
             x.span<float>()[s * k + i];
      }
    }
    e /= samples;  // mean output error of column j without correction
    err_before += std::abs(e);
    err_after += std::abs(e + corrected->span<float>()[j]);
  }
  EXPECT_GT(err_before, 0);
  EXPECT_LT(err_after, err_before * 0.01);
}

TEST(QuantizerTest, OptionsAreValidated) {
  QuantizationOptions o;
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.max_drop = 1.5;
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(ValidateOptions(o).message()).find("max_drop"), std::string::npos);
  o = {};
  o.eval_fraction = 0.95;
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.percentile = 30;
  EXPECT_EQ(ValidateOptions(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCalibrationMethod("kl").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseCalibrationMethod("entropy"), CalibrationMethod::kEntropy);
  EXPECT_EQ(ParseQuantMode("fp16").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(QuantizerTest, ReportJsonRoundTrips) {
  QuantizationReport r;
  r.mode = "static";
  r.int8_top1 = 0.9123456789;
  r.fallback_layers = {"conv1", "fc2"};
  r.bf16_layers = {"conv2"};
  r.fallback = "auto";
  r.fallback_resolved = "bf16";
  r.layers.push_back({.node = "conv1", .op = "Conv", .precision = "fp32", .sqnr_db = 31.5});
  r.layers.push_back({.node = "conv2", .op = "Conv", .precision = "bf16", .reason = "bf16: int8 failed"});
  r.precision_layers = {{"bf16", 1}, {"fp32", 1}};
  r.SummarizePrecision(1000, 0, 300);
  auto back = QuantizationReport::FromJson(r.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToJson(), r.ToJson());
  EXPECT_EQ(back->fallback_layers, r.fallback_layers);
  EXPECT_EQ(back->bf16_layers, r.bf16_layers);
  EXPECT_EQ(back->fallback_resolved, "bf16");
  EXPECT_EQ(back->layers[1].reason, "bf16: int8 failed");
  EXPECT_DOUBLE_EQ(back->int8_top1, r.int8_top1);
  EXPECT_EQ(back->precision, "mixed");
  EXPECT_EQ(back->precision_layers, r.precision_layers);
  EXPECT_EQ(back->precision_weight_bytes, (std::map<std::string, int64_t>{{"int8", 0}, {"bf16", 300}, {"fp32", 700}}));
  EXPECT_FALSE(QuantizationReport::FromJson("[1,2]").ok());
}

// The model-level label: one precision when every weighted layer runs in it
// (zero counts do not make a model mixed), "mixed" otherwise, "fp32" with no
// weighted layer; the weight bytes split as measured, fp32 taking the rest.
TEST(QuantizerTest, PrecisionSummaryLabelsAndSplitsWeights) {
  QuantizationReport r;
  r.precision_layers = {{"int8", 4}};
  r.SummarizePrecision(500, 400, 0);
  EXPECT_EQ(r.precision, "int8");
  EXPECT_EQ(r.precision_weight_bytes, (std::map<std::string, int64_t>{{"int8", 400}, {"bf16", 0}, {"fp32", 100}}));
  r.precision_layers = {{"int8", 4}, {"bf16", 0}};
  r.SummarizePrecision(500, 400, 0);
  EXPECT_EQ(r.precision, "int8");
  r.precision_layers = {{"int8", 3}, {"fp32", 1}};
  r.SummarizePrecision(500, 300, 0);
  EXPECT_EQ(r.precision, "mixed");
  r.precision_layers = {{"bf16", 2}};
  r.SummarizePrecision(500, 0, 400);
  EXPECT_EQ(r.precision, "bf16");
  r.precision_layers.clear();
  r.SummarizePrecision(500, 0, 0);
  EXPECT_EQ(r.precision, "fp32");
}

}  // namespace
}  // namespace q8::engine

namespace q8::engine {
namespace {

// mode: dynamic keeps depthwise convs in fp32, and only those.
TEST(DynamicConvPaysTest, AllConvsButDepthwise) {
  EXPECT_FALSE(DynamicConvPays({144, 1, 3, 3}, 144));  // MobileNetV2 depthwise
  EXPECT_FALSE(DynamicConvPays({32, 1, 3, 3}, 16));    // depthwise with a multiplier of 2
  EXPECT_TRUE(DynamicConvPays({16, 1, 3, 3}, 1));      // 1-channel input (Fashion CNN conv1)
  EXPECT_TRUE(DynamicConvPays({64, 3, 7, 7}, 1));      // RGB stem
  EXPECT_TRUE(DynamicConvPays({64, 4, 3, 3}, 16));     // grouped, 4 channels per group
  EXPECT_TRUE(DynamicConvPays({64, 256, 1, 1}, 1));
  EXPECT_FALSE(DynamicConvPays({64, 256}, 1));  // not a conv's weights
}

}  // namespace
}  // namespace q8::engine
