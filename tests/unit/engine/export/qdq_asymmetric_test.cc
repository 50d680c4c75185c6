// Asymmetric activations end to end (QuantizationOptions::activations) on a
// feed-forward block x -> MatMul -> Gelu -> MatMul -> y, the shape of a
// transformer's FFN: the GELU output (min ~ -0.17, max several units) is
// skewed, the N(0, 1) input is centred.
//  - under `auto` the GELU output becomes u8 with a zero point and the input
//    stays symmetric s8; `symmetric` keeps both s8; the report says so;
//  - asymmetric int8 is closer to fp32 than symmetric int8 (the grid is
//    ~2x finer on the skewed tensor);
//  - the QDQ export carries the UINT8 zero point, and the numpy interpreter
//    running it reproduces the engine's int8 output (tolerance as in
//    qdq_numerics_test.cc: kFlips one-step flips of the last layer's input,
//    s_a * max|w| each, plus 1e-4), not the fp32 one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/export/qdq_exporter.h"
#include "engine/quant/quantizer.h"
#include "engine/quantize.h"
#include "onnx/onnx_pb.h"
#include "tests/testing/onnx_builder.h"
#include "tests/testing/random_data.h"
#include "tests/unit/engine/export/export_test_util.h"

namespace q8::engine {
namespace {

constexpr int kD = 24, kHidden = 64;
constexpr double kFlips = 4;

std::string FeedForward() {
  q8::testing::OnnxBuilder b(17, 31);
  b.Input("x", {-1, 6, kD}).Output("y");
  b.RandomInitializer("w1", {kD, kHidden}, -0.5f, 0.5f).RandomInitializer("b1", {kHidden}, -0.2f, 0.2f);
  b.RandomInitializer("w2", {kHidden, kD}, -0.3f, 0.3f).RandomInitializer("b2", {kD}, -0.1f, 0.1f);
  b.Node("MatMul", {"x", "w1"}, {"m1"}, "fc1");
  b.Node("Add", {"m1", "b1"}, {"a1"});
  b.Node("Gelu", {"a1"}, {"g"});
  b.Node("MatMul", {"g", "w2"}, {"m2"}, "fc2");
  b.Node("Add", {"m2", "b2"}, {"y"});
  return b.Serialize();
}

const LayerReport* Layer(const QuantizationReport& r, const std::string& node) {
  for (const LayerReport& l : r.layers) {
    if (l.node == node) return &l;
  }
  return nullptr;
}

double MeanAbsDiff(const core::Tensor& a, const core::Tensor& b) {
  double sum = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) sum += std::abs(a.span<float>()[i] - b.span<float>()[i]);
  return sum / double(a.num_elements());
}

double MaxAbsDiff(const core::Tensor& a, const core::Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i)
    m = std::max(m, double(std::abs(a.span<float>()[i] - b.span<float>()[i])));
  return m;
}

absl::StatusOr<QuantizationResult> QuantizeWith(ActivationScheme scheme) {
  CalibrationData data{q8::testing::Normal({200, 6, kD}, 5), std::nullopt};
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  o.method = CalibrationMethod::kMinMax;
  o.max_drop = 1.0;  // no fallback: compare the schemes as quantized
  o.activations = scheme;
  return Quantize(FeedForward(), {}, o, &data);
}

TEST(AsymmetricActivationsTest, AutoPicksTheSkewedTensorOnlyAndIsCloserToFp32) {
  auto sym = QuantizeWith(ActivationScheme::kSymmetric);
  auto autom = QuantizeWith(ActivationScheme::kAuto);
  ASSERT_TRUE(sym.ok()) << sym.status();
  ASSERT_TRUE(autom.ok()) << autom.status();
  for (const auto* r : {&sym->report, &autom->report}) {
    ASSERT_NE(Layer(*r, "fc1"), nullptr) << r->ToJson(2);
    ASSERT_NE(Layer(*r, "fc2"), nullptr) << r->ToJson(2);
    EXPECT_EQ(Layer(*r, "fc1")->precision, "int8");
    EXPECT_EQ(Layer(*r, "fc2")->precision, "int8");
  }
  EXPECT_EQ(sym->report.activations, "symmetric");
  EXPECT_EQ(autom->report.activations, "auto");
  // The centred input: symmetric under both.
  EXPECT_EQ(Layer(autom->report, "fc1")->input_scheme, "symmetric");
  EXPECT_EQ(Layer(autom->report, "fc1")->input_dtype, "INT8");
  EXPECT_EQ(Layer(sym->report, "fc2")->input_scheme, "symmetric");
  // The GELU output: asymmetric u8 under auto; min ~ -0.17 of a range of a
  // few units puts the zero point a little above 0 (-lo / step).
  const LayerReport& fc2 = *Layer(autom->report, "fc2");
  EXPECT_EQ(fc2.input_scheme, "asymmetric");
  EXPECT_EQ(fc2.input_dtype, "UINT8");
  EXPECT_GE(fc2.input_zero_point, 2);
  EXPECT_LE(fc2.input_zero_point, 40);
  const double zp_real = fc2.input_zero_point * fc2.input_scale;
  EXPECT_NEAR(zp_real, 0.17, 0.03);  // the zero point sits at GELU's minimum

  const core::Tensor x = q8::testing::Normal({64, 6, kD}, 9);
  auto fp = sym->fp32_model->Run({x.view()});
  auto ys = sym->model->Run({x.view()});
  auto ya = autom->model->Run({x.view()});
  ASSERT_TRUE(fp.ok() && ys.ok() && ya.ok());
  const double err_sym = MeanAbsDiff((*ys)[0], (*fp)[0]), err_asym = MeanAbsDiff((*ya)[0], (*fp)[0]);
  std::printf("mean |int8 - fp32|: symmetric %.3g, auto (fc2 asymmetric, zp %d) %.3g\n", err_sym, fc2.input_zero_point,
              err_asym);
  EXPECT_LT(err_asym, 0.85 * err_sym);
}

TEST(AsymmetricActivationsTest, QdqExportCarriesTheZeroPointAndReproducesTheEngine) {
  auto q = QuantizeWith(ActivationScheme::kAuto);
  ASSERT_TRUE(q.ok()) << q.status();
  const LayerReport* fc2 = Layer(q->report, "fc2");
  ASSERT_NE(fc2, nullptr);
  ASSERT_EQ(fc2->input_scheme, "asymmetric") << q->report.ToJson(2);
  auto bytes = ExportQdqOnnx(FeedForward(), q->artifact);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(*bytes));
  // A scalar UINT8 zero point holding fc2's input zero point feeds a
  // QuantizeLinear and its DequantizeLinear.
  std::string zp_name;
  for (const auto& t : m.graph().initializer()) {
    if (t.data_type() == onnx::TensorProto::UINT8 && t.dims_size() == 0 && t.raw_data().size() == 1 &&
        static_cast<uint8_t>(t.raw_data()[0]) == fc2->input_zero_point) {
      zp_name = t.name();
    }
  }
  ASSERT_FALSE(zp_name.empty()) << "no UINT8 zero point " << fc2->input_zero_point;
  int q_uses = 0, dq_uses = 0;
  for (const auto& n : m.graph().node()) {
    if (n.input_size() == 3 && n.input(2) == zp_name) {
      q_uses += n.op_type() == "QuantizeLinear";
      dq_uses += n.op_type() == "DequantizeLinear";
    }
  }
  EXPECT_EQ(q_uses, 1);
  EXPECT_EQ(dq_uses, 1);

  const core::Tensor x = q8::testing::Normal({32, 6, kD}, 11);
  auto ours = q->model->Run({x.view()});
  auto fp = q->fp32_model->Run({x.view()});
  ASSERT_TRUE(ours.ok() && fp.ok());
  auto ref = testing::RunNumpyReference(*bytes, x);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ(ref->dims(), (*ours)[0].dims());
  // One input step of fc2 moves an output by at most s_a * max|w| <= s_a * 127 * max s_w.
  const double step = fc2->input_scale * 127.0 * fc2->weight_scale_max;
  const double tolerance = kFlips * step + 1e-4;
  const double vs_ref = MaxAbsDiff(*ref, (*ours)[0]);
  std::printf("asymmetric int8 vs numpy QDQ: max|diff| %.3g (tolerance %.3g); mean|diff| %.3g vs ref, %.3g vs fp32\n",
              vs_ref, tolerance, MeanAbsDiff(*ref, (*ours)[0]), MeanAbsDiff((*fp)[0], (*ours)[0]));
  EXPECT_LE(vs_ref, tolerance);
  EXPECT_LT(MeanAbsDiff(*ref, (*ours)[0]), 0.1 * MeanAbsDiff((*fp)[0], (*ours)[0]));
}

TEST(AsymmetricActivationsTest, GridOfSkewedAndCentredRanges) {
  // GELU of N(0, 1) (BENCHMARKS.md): min -0.17, max 4.73 -> 1 bit finer.
  auto gelu = AsymmetricGrid(-0.17f, 4.73f, 4.73f);
  ASSERT_TRUE(gelu.has_value());
  EXPECT_NEAR(gelu->scale, 4.90f / 255.0f, 1e-6f);
  EXPECT_EQ(gelu->zero_point, 9);  // 0.17 / 0.0192 = 8.85
  EXPECT_NEAR(gelu->gain_db, 5.7, 0.1);
  EXPECT_GE(gelu->gain_db, kMinAsymmetricGainDb);
  // Centred N(0, 1): no gain, below the auto threshold.
  auto centred = AsymmetricGrid(-4.68f, 4.61f, 4.68f);
  ASSERT_TRUE(centred.has_value());
  EXPECT_LT(centred->gain_db, kMinAsymmetricGainDb);
  EXPECT_NEAR(centred->gain_db, 0.1, 0.1);
  // Clipping: the symmetric threshold bounds both sides.
  auto clipped = AsymmetricGrid(-0.5f, 10.0f, 3.0f);
  ASSERT_TRUE(clipped.has_value());
  EXPECT_NEAR(clipped->scale, 3.5f / 255.0f, 1e-6f);
  // A tensor that does not change sign has no asymmetric grid.
  EXPECT_FALSE(AsymmetricGrid(0.0f, 3.0f, 3.0f).has_value());
  EXPECT_FALSE(AsymmetricGrid(-3.0f, -1.0f, 3.0f).has_value());
}

}  // namespace
}  // namespace q8::engine
