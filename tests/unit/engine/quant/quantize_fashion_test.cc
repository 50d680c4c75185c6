// Quantize-on-upload accuracy on real data: the committed Fashion-MNIST
// models, calibrated on 500 training images (125 more held out for the
// upload-time check), measured on the full 10 000-image test set against
// the fp32 model on the same images (a paired comparison).
// Targets (issue #3): static CNN drop <= 0.3 pt with >= 99% agreement;
// dynamic MLP drop <= 0.2 pt. Issue #13: the MobileNet-style depthwise CNN
// static with cross-layer equalization within 0.5 pt.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "absl/strings/match.h"
#include "core/npy.h"
#include "engine/model_builder.h"
#include "engine/plan/planner.h"
#include "engine/quant/artifact.h"
#include "engine/quant/quantizer.h"
#include "engine/quantize.h"
#include "kernels/program.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using testing::DataPath;
using testing::LoadNpy;
using testing::ReadFile;

struct TestSet {
  core::Tensor calib_images, calib_labels, test_images, test_labels;
};

const TestSet& Fashion() {
  static TestSet* set = [] {
    const std::string dir = Q8_FASHION_DIR;
    auto* s = new TestSet{LoadNpy(dir + "/calib_images.npy"), LoadNpy(dir + "/calib_labels.npy"),
                          LoadNpy(dir + "/test_images.npy"), LoadNpy(dir + "/test_labels.npy")};
    return s;
  }();
  return *set;
}

CalibrationData Calibration(bool labels) {
  CalibrationData d{Fashion().calib_images.Clone(), std::nullopt};
  if (labels) d.labels = Fashion().calib_labels.Clone();
  return d;
}

struct Accuracy {
  double fp32 = 0, int8 = 0, agreement = 0;
};

Accuracy OnTestSet(const CompiledModel& fp32, const CompiledModel& int8) {
  const core::Tensor& x = Fashion().test_images;
  const core::Tensor& y = Fashion().test_labels;
  int64_t c32 = 0, c8 = 0, agree = 0;
  const int64_t n = x.dims()[0];
  for (int64_t b = 0; b < n; b += 64) {
    auto view = testing::Rows(x, b, std::min<int64_t>(64, n - b));
    auto a = fp32.Run({view});
    auto q = int8.Run({view});
    EXPECT_TRUE(a.ok() && q.ok());
    if (!a.ok() || !q.ok()) return {};
    for (int64_t r = 0; r < view.dims[0]; ++r) {
      const int p32 = testing::ArgMax((*a)[0].span<float>().data() + r * 10, 10);
      const int p8 = testing::ArgMax((*q)[0].span<float>().data() + r * 10, 10);
      const int64_t label = y.span<int64_t>()[b + r];
      c32 += p32 == label;
      c8 += p8 == label;
      agree += p32 == p8;
    }
  }
  return {double(c32) / n, double(c8) / n, double(agree) / n};
}

QuantizationOptions StaticOptions(CalibrationMethod method) {
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  o.method = method;
  o.max_samples = 500;
  o.eval_fraction = 0.2;
  return o;
}

class FashionStaticTest : public ::testing::TestWithParam<CalibrationMethod> {};

TEST_P(FashionStaticTest, CnnLosesAtMostPointThreeOnTheFullTestSet) {
  CalibrationData data = Calibration(true);
  auto result = Quantize(ReadFile(DataPath("fashion_cnn.onnx")), {}, StaticOptions(GetParam()), &data);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->report.calibration_samples, 500);
  EXPECT_EQ(result->report.eval_samples, 125);
  Accuracy acc = OnTestSet(*result->fp32_model, *result->model);
  std::printf("fashion_cnn %s: fp32 %.4f int8 %.4f agreement %.4f (upload check: drop %.4f, sqnr %.1f dB)\n",
              ToString(GetParam()).c_str(), acc.fp32, acc.int8, acc.agreement, result->report.drop,
              result->report.output_sqnr_db);
  EXPECT_LE(acc.fp32 - acc.int8, 0.003);
  EXPECT_GE(acc.agreement, 0.99);
  // Every layer of this model should have stayed int8.
  int int8_layers = 0;
  for (const auto& l : result->report.layers) int8_layers += l.precision == "int8";
  EXPECT_EQ(int8_layers, 4);
  auto prims = result->model->Primitives(16);
  ASSERT_TRUE(prims.ok());
  for (const auto& p : *prims) {
    EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " " << p.impl;
    // Every layer is int8 here, so every conv/matmul must run a VNNI or AMX kernel.
    if (p.op == "Conv" || p.op == "Gemm") {
      const bool vnni_or_amx = p.impl.find("vnni") != std::string::npos || p.impl.find("amx") != std::string::npos;
      EXPECT_TRUE(vnni_or_amx) << p.node << " runs " << p.impl;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, FashionStaticTest,
                         ::testing::Values(CalibrationMethod::kMinMax, CalibrationMethod::kPercentile,
                                           CalibrationMethod::kEntropy, CalibrationMethod::kMse),
                         [](const auto& info) { return ToString(info.param); });

TEST(FashionDynamicTest, MlpLosesAtMostPointTwo) {
  QuantizationOptions o;
  o.mode = QuantMode::kDynamic;
  auto result = Quantize(ReadFile(DataPath("fashion_mlp.onnx")), {}, o, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  Accuracy acc = OnTestSet(*result->fp32_model, *result->model);
  std::printf("fashion_mlp dynamic: fp32 %.4f int8 %.4f agreement %.4f\n", acc.fp32, acc.int8, acc.agreement);
  EXPECT_LE(acc.fp32 - acc.int8, 0.002);
  for (const auto& l : result->report.layers) EXPECT_EQ(l.precision, "int8-dynamic") << l.node;
}

// Dynamic mode on the CNN: no calibration data; both convs and both Gemms
// run dynamic int8 (DynamicConvPays keeps only depthwise convs in fp32). Against fp32 on the full test set
// (a paired comparison): top-1 within 0.3 pt and >= 99 % agreement, like
// static; logits within the rounding a per-tensor 8-bit input grid allows:
// SQNR >= 30 dB (each layer's input keeps ~8 bits, ~48 dB, before the
// weights' rounding and four layers of accumulation).
TEST(FashionDynamicTest, CnnRunsConvsDynamicInt8WithinPointThree) {
  QuantizationOptions o;
  o.mode = QuantMode::kDynamic;
  auto result = Quantize(ReadFile(DataPath("fashion_cnn.onnx")), {}, o, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<std::string, std::string> precision;
  for (const auto& l : result->report.layers) precision[l.node] = l.precision;
  EXPECT_EQ(precision["/0/Conv"], "int8-dynamic");
  EXPECT_EQ(precision["/4/Conv"], "int8-dynamic");
  EXPECT_EQ(precision["/9/Gemm"], "int8-dynamic");
  EXPECT_EQ(precision["/11/Gemm"], "int8-dynamic");
  Accuracy acc = OnTestSet(*result->fp32_model, *result->model);
  std::printf("fashion_cnn dynamic: fp32 %.4f int8 %.4f agreement %.4f\n", acc.fp32, acc.int8, acc.agreement);
  EXPECT_LE(acc.fp32 - acc.int8, 0.003);
  EXPECT_GE(acc.agreement, 0.99);

  auto view = testing::Rows(Fashion().test_images, 0, 64);
  auto a = result->fp32_model->Run({view});
  auto q = result->model->Run({view});
  ASSERT_TRUE(a.ok() && q.ok());
  double signal = 0, noise = 0;
  for (size_t i = 0; i < (*a)[0].span<float>().size(); ++i) {
    const double s = (*a)[0].span<float>()[i], d = s - (*q)[0].span<float>()[i];
    signal += s * s;
    noise += d * d;
  }
  const double sqnr = 10 * std::log10(signal / noise);
  std::printf("fashion_cnn dynamic: logits SQNR %.1f dB\n", sqnr);
  EXPECT_GE(sqnr, 30.0);

  for (int64_t batch : {1, 16}) {
    auto prims = result->model->Primitives(batch);
    ASSERT_TRUE(prims.ok());
    int dynamic_convs = 0;
    for (const auto& p : *prims) {
      EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " " << p.impl;
      if (p.op == "Conv" && p.impl.rfind("dynamic_quant+", 0) == 0) ++dynamic_convs;
    }
    EXPECT_EQ(dynamic_convs, 2) << "batch " << batch;
  }
}

// The tiny ViT (tools/train_tiny_vit.py; opset 17 with LayerNormalization,
// opset 13 with LayerNorm written out, which fuse_layer_norm rebuilds) static
// int8 with SmoothQuant alpha 0.5, on the full test set against the fp32
// engine: within 0.5 pt (issue #13). The smoothing folds into each block's two
// LayerNorms (QKV and FFN-up inputs); the FFN-down (after GELU) and attention
// output projection inputs have no foldable producer and are reported with
// the reason. No fallback, so the int8 model is measured as built.
class FashionVitTest : public ::testing::TestWithParam<const char*> {};

TEST_P(FashionVitTest, StaticSmoothQuantWithinHalfAPoint) {
  CalibrationData data = Calibration(true);
  QuantizationOptions o = StaticOptions(CalibrationMethod::kPercentile);
  o.max_drop = 1.0;
  const std::string onnx = ReadFile(DataPath(GetParam()));
  auto plain = Quantize(onnx, {}, o, &data);
  ASSERT_TRUE(plain.ok()) << plain.status();
  o.smoothquant.enabled = true;
  auto result = Quantize(onnx, {}, o, &data);
  ASSERT_TRUE(result.ok()) << result.status();
  const Accuracy without = OnTestSet(*plain->fp32_model, *plain->model);
  const Accuracy acc = OnTestSet(*result->fp32_model, *result->model);
  std::printf(
      "%s static: fp32 %.4f int8 %.4f (agreement %.4f, upload sqnr %.1f dB); with SmoothQuant int8 %.4f "
      "(agreement %.4f, upload sqnr %.1f dB)\n",
      GetParam(), acc.fp32, without.int8, without.agreement, plain->report.output_sqnr_db, acc.int8, acc.agreement,
      result->report.output_sqnr_db);
  for (const SmoothingReport& s : result->report.smoothing) {
    std::printf("  smoothed %s (into %s): max|x| %.2f -> %.2f, median %.3f -> %.3f\n", s.tensor.c_str(),
                s.folded_into.c_str(), s.absmax_before, s.absmax_after, s.median_before, s.median_after);
  }
  for (const std::string& s : result->report.smoothing_skipped) std::printf("  not smoothed: %s\n", s.c_str());
  EXPECT_LE(acc.fp32 - acc.int8, 0.005);
  EXPECT_EQ(result->report.smoothing.size(), 4u) << result->report.ToJson(2);  // 2 LayerNorms x 2 blocks
  for (const SmoothingReport& s : result->report.smoothing) {
    EXPECT_NE(s.folded_into.find("LayerNormalization"), std::string::npos) << s.folded_into;
  }
  EXPECT_FALSE(result->report.smoothing_skipped.empty());
}

INSTANTIATE_TEST_SUITE_P(Exports, FashionVitTest, ::testing::Values("tiny_vit_op17.onnx", "tiny_vit_op13.onnx"),
                         [](const auto& info) { return std::string(info.param).substr(9, 4); });

TEST(FashionFallbackTest, TightTargetReturnsSensitiveLayersToFp32) {
  // A deliberately damaging calibration (clip every tensor at its 70th
  // percentile) and a zero tolerance on agreement: layers must go back to
  // fp32, most sensitive first, until int8 agrees with fp32 on every held-out row.
  QuantizationOptions o = StaticOptions(CalibrationMethod::kPercentile);
  o.percentile = 70;
  o.metric = AccuracyMetric::kAgreement;
  o.max_drop = 0.0;
  o.eval_fraction = 0.5;
  o.fallback = FallbackPrecision::kFp32;  // the fp32 rung itself (the bf16 one: fallback_ladder_test)
  CalibrationData data = Calibration(false);
  auto result = Quantize(ReadFile(DataPath("fashion_cnn.onnx")), {}, o, &data);
  ASSERT_TRUE(result.ok()) << result.status();
  const QuantizationReport& r = result->report;
  EXPECT_TRUE(r.target_met) << r.ToJson(2);
  EXPECT_DOUBLE_EQ(r.agreement, 1.0);
  ASSERT_FALSE(r.fallback_layers.empty()) << "expected at least one layer back in fp32: " << r.ToJson(2);
  for (const std::string& name : r.fallback_layers) {
    bool listed_fp32 = false;
    for (const auto& l : r.layers) listed_fp32 |= l.node == name && l.precision == "fp32";
    EXPECT_TRUE(listed_fp32) << name;
  }
}

// The MobileNet-style depthwise-separable CNN (tools/train_mobilenet_fashion.py).
struct MobileNetRun {
  Accuracy acc;
  QuantizationResult result;
};

MobileNetRun QuantizeMobileNet(Equalization equalization, bool per_channel) {
  QuantizationOptions o = StaticOptions(CalibrationMethod::kPercentile);
  o.equalization = equalization;
  o.per_channel = per_channel;
  o.max_drop = 1.0;  // measure the int8 model as calibrated, without fallback
  CalibrationData data = Calibration(true);
  auto result = Quantize(ReadFile(DataPath("fashion_mobilenet.onnx")), {}, o, &data);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  MobileNetRun run{OnTestSet(*result->fp32_model, *result->model), *std::move(result)};
  std::printf(
      "fashion_mobilenet static %s weights, equalization %s: fp32 %.4f int8 %.4f (drop %+.2f pt) "
      "agreement %.4f, logits SQNR on the held-out rows %.1f dB\n",
      per_channel ? "per-channel" : "per-tensor", ToString(equalization).c_str(), run.acc.fp32, run.acc.int8,
      100 * (run.acc.fp32 - run.acc.int8), run.acc.agreement, run.result.report.output_sqnr_db);
  return run;
}

TEST(FashionMobileNetTest, StaticWithEqualizationWithinHalfAPointAndReported) {
  MobileNetRun run = QuantizeMobileNet(Equalization::kOn, true);
  const QuantizationReport& r = run.result.report;
  EXPECT_LE(run.acc.fp32 - run.acc.int8, 0.005);
  for (const auto& l : r.layers) EXPECT_EQ(l.precision, "int8") << l.node;
  // stem -> dw, then per block dw -> pw, and pw -> next dw: 4 blocks, 8 pairs.
  EXPECT_TRUE(r.equalized);
  EXPECT_EQ(r.equalization, "on");
  ASSERT_EQ(r.equalized_pairs.size(), 8u) << r.ToJson(2);
  std::printf("  %zu pairs, %lld sweeps\n", r.equalized_pairs.size(), static_cast<long long>(r.equalization_sweeps));
  for (const EqualizedPairReport& p : r.equalized_pairs) {
    std::printf(
        "  %-10s -> %-10s s %.3g..%.3g  W1 spread %7.1f -> %5.1f  W2 spread %6.1f -> %5.1f  "
        "activation spread %7.1f -> %7.1f\n",
        p.first.c_str(), p.second.c_str(), p.scale_min, p.scale_max, p.first_weight_spread_before,
        p.first_weight_spread_after, p.second_weight_spread_before, p.second_weight_spread_after,
        p.activation_spread_before, p.activation_spread_after);
    EXPECT_TRUE(p.depthwise);
    EXPECT_LT(p.scale_min, p.scale_max);
    EXPECT_GT(p.activation_spread_before, 1.0);  // measured on the calibration samples
    // The report names layers the report lists.
    int named = 0;
    for (const auto& l : r.layers) named += (l.node == p.first) + (l.node == p.second);
    EXPECT_EQ(named, 2) << p.first << " -> " << p.second;
  }
  auto parsed = QuantizationReport::FromJson(r.ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->equalized_pairs.size(), r.equalized_pairs.size());
  EXPECT_EQ(parsed->equalized_pairs[3].second, r.equalized_pairs[3].second);
  EXPECT_DOUBLE_EQ(parsed->equalized_pairs[3].activation_spread_before, r.equalized_pairs[3].activation_spread_before);

  // A reload replays the equalization the stored scales were made for: the
  // same int8 model, bit for bit (without the replay the weights would differ).
  EXPECT_TRUE(ArtifactEqualized(run.result.artifact));
  auto reloaded = LoadQuantized(ReadFile(DataPath("fashion_mobilenet.onnx")), run.result.artifact, r.ToJson(), {});
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  auto view = testing::Rows(Fashion().test_images, 0, 64);
  auto a = run.result.model->Run({view});
  auto b = reloaded->model->Run({view});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(testing::MaxAbsDiff((*a)[0].span<float>(), (*b)[0].span<float>()), 0.0f);
}

// Without equalization, and with per-tensor weights (where the literature
// measures its gains): every variant within 0.5 pt on this model, whose
// channel ranges differ by at most ~7x (tools/train_mobilenet_fashion.py);
// the numbers go to RESULTS.md "Cross-layer equalization".
TEST(FashionMobileNetTest, EqualizationAgainstNoneAndPerTensorWeights) {
  MobileNetRun off = QuantizeMobileNet(Equalization::kOff, true);
  MobileNetRun on_tensor = QuantizeMobileNet(Equalization::kOn, false);
  MobileNetRun off_tensor = QuantizeMobileNet(Equalization::kOff, false);
  EXPECT_FALSE(off.result.report.equalized);
  EXPECT_TRUE(off.result.report.equalized_pairs.empty());
  EXPECT_FALSE(ArtifactEqualized(off.result.artifact));
  EXPECT_TRUE(on_tensor.result.report.equalized);
  for (const MobileNetRun* run : {&off, &on_tensor, &off_tensor}) {
    EXPECT_LE(run->acc.fp32 - run->acc.int8, 0.005);
    EXPECT_GE(run->acc.agreement, 0.98);
  }
}

// auto (the default) equalizes per-tensor weights with a depthwise conv pair only.
TEST(FashionMobileNetTest, AutoEqualizesPerTensorDepthwiseModelsOnly) {
  QuantizationOptions o;
  EXPECT_EQ(o.equalization, Equalization::kAuto);
  o.mode = QuantMode::kStatic;
  o.max_samples = 64;
  CalibrationData data = Calibration(false);
  auto quantize = [&](const char* model, bool per_channel) {
    o.per_channel = per_channel;
    auto r = Quantize(ReadFile(DataPath(model)), {}, o, &data);
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r.ok() ? r->report.equalization : "", "auto");
    return r.ok() && r->report.equalized;
  };
  EXPECT_FALSE(quantize("fashion_mobilenet.onnx", true));
  EXPECT_TRUE(quantize("fashion_mobilenet.onnx", false));
  // fashion_cnn has one pair (conv -> ReLU -> MaxPool -> conv) but no depthwise conv.
  EXPECT_FALSE(quantize("fashion_cnn.onnx", false));
}

// Every Conv/Gemm in bf16 agrees with fp32 on the full test set (bf16 keeps
// 8 significant bits; a flip needs a near-tie of two logits).
TEST(FashionBf16Test, AllLayersInBf16AgreeWithFp32) {
  if (!kernels::HasBf16Compute()) GTEST_SKIP() << "q8-skip: ISA " << kernels::CpuIsa() << " has no bf16 compute";
  auto prepared = PrepareGraph(ReadFile(DataPath("fashion_cnn.onnx")), {});
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  auto lowered = LowerGraph(*prepared->graph, prepared->opset);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  auto spec = std::make_shared<QuantSpec>();
  for (int i : QuantizableLayers(*lowered)) spec->bf16_layers.insert(i);
  ASSERT_EQ(spec->bf16_layers.size(), 4u);
  auto fp32 = BuildModel(*prepared, {});
  auto bf16 = BuildModel(*prepared, {}, spec);
  ASSERT_TRUE(fp32.ok() && bf16.ok());
  const Accuracy a = OnTestSet(**fp32, **bf16);
  std::printf("fp32 %.4f bf16 %.4f agreement %.4f\n", a.fp32, a.int8, a.agreement);
  EXPECT_GE(a.agreement, 0.995);
  // Value scales the quantizer leaves behind must not make a bf16 layer's neighbours int8.
  for (ValueId v = 0; v < prepared->graph->num_values(); ++v) spec->values[v] = {core::DataType::kUInt8, 0.05f};
  auto with_values = BuildModel(*prepared, {}, spec);
  ASSERT_TRUE(with_values.ok());
  const Accuracy b = OnTestSet(**fp32, **with_values);
  std::printf("with value scales: agreement %.4f\n", b.agreement);
  EXPECT_GE(b.agreement, 0.995);
}

// The same damaging calibration under the default `fallback: auto` on a bf16
// CPU, with the default max_drop (1 point at 95 % confidence): the sensitive
// layers stop at bf16, none needs fp32 for accuracy (only the 1.3 kMAC
// classifier head /11/Gemm goes to fp32 when it leaves int8: bf16 is slower
// at that size, engine/quant/bf16_speed.h), and the report lists each with its
// reason. (With max_drop 0, as above, one bf16 flip of a near-tie
// in 313 rows fails the check and the second pass moves layers on to fp32.)
TEST(FashionFallbackTest, ClippedRangesStopAtBf16UnderAuto) {
  if (!kernels::HasBf16Compute()) GTEST_SKIP() << "q8-skip: ISA " << kernels::CpuIsa() << " has no bf16 compute";
  QuantizationOptions o = StaticOptions(CalibrationMethod::kPercentile);
  o.percentile = 70;
  o.metric = AccuracyMetric::kAgreement;
  o.eval_fraction = 0.5;
  CalibrationData data = Calibration(false);
  auto result = Quantize(ReadFile(DataPath("fashion_cnn.onnx")), {}, o, &data);
  ASSERT_TRUE(result.ok()) << result.status();
  const QuantizationReport& r = result->report;
  EXPECT_TRUE(r.target_met) << r.ToJson(2);
  ASSERT_FALSE(r.bf16_layers.empty()) << r.ToJson(2);
  for (const std::string& name : r.bf16_layers) {
    bool listed = false;
    for (const auto& l : r.layers) listed |= l.node == name && l.precision == "bf16" && !l.reason.empty();
    EXPECT_TRUE(listed) << name;
  }
  for (const std::string& name : r.fallback_layers) {
    EXPECT_EQ(name, "/11/Gemm") << r.ToJson(2);
    for (const auto& l : r.layers) {
      if (l.node == name) {
        EXPECT_TRUE(absl::StrContains(l.reason, "bf16 slower than fp32 at this size")) << l.reason;
      }
    }
  }
  EXPECT_EQ(r.precision, "mixed");
  std::printf("bf16 layers %zu of %zu; latency b1 fp32 %.3f ms, mixed %.3f ms; weights fp32 %lld, mixed %lld bytes\n",
              r.bf16_layers.size(), r.layers.size(), r.latency_fp32_b1_ms, r.latency_int8_b1_ms,
              static_cast<long long>(r.weight_bytes_fp32), static_cast<long long>(r.weight_bytes_int8));
}

}  // namespace
}  // namespace q8::engine
