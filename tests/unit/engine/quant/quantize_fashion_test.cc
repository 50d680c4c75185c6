// Quantize-on-upload accuracy on real data: the committed Fashion-MNIST
// models, calibrated on 500 training images (125 more held out for the
// upload-time check), measured on the full 10 000-image test set against
// the fp32 model on the same images (a paired comparison).
// Targets (issue #3): static CNN drop <= 0.3 pt with >= 99% agreement;
// dynamic MLP drop <= 0.2 pt.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/npy.h"
#include "engine/model_builder.h"
#include "engine/plan/planner.h"
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
// layers stop at bf16, none needs fp32, and the report lists each as bf16
// with its reason. (With max_drop 0, as above, one bf16 flip of a near-tie
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
  EXPECT_TRUE(r.fallback_layers.empty()) << r.ToJson(2);
  for (const std::string& name : r.bf16_layers) {
    bool listed = false;
    for (const auto& l : r.layers) listed |= l.node == name && l.precision == "bf16" && !l.reason.empty();
    EXPECT_TRUE(listed) << name;
  }
  std::printf("bf16 layers %zu of %zu; latency b1 fp32 %.3f ms, mixed %.3f ms; weights fp32 %lld, mixed %lld bytes\n",
              r.bf16_layers.size(), r.layers.size(), r.latency_fp32_b1_ms, r.latency_int8_b1_ms,
              static_cast<long long>(r.weight_bytes_fp32), static_cast<long long>(r.weight_bytes_int8));
}

}  // namespace
}  // namespace q8::engine
