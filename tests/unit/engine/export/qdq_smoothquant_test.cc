// The QDQ export of a SmoothQuant'd model: the folded constants (LayerNorm
// gamma/beta, the next MatMul's weights) are what the scales were calibrated
// on, so the export must carry them. Run by the numpy interpreter, it must
// reproduce the engine's int8 output (not the fp32 one); an export with the
// original constants and the smoothed scales would miss by the outlier size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/export/qdq_exporter.h"
#include "engine/quantize.h"
#include "tests/testing/onnx_builder.h"
#include "tests/testing/random_data.h"
#include "tests/unit/engine/export/export_test_util.h"

namespace q8::engine {
namespace {

// LayerNorm with three gamma channels x40 (their rows of w /40), then a
// Linear: the smoothing folds into gamma/beta and w.
std::string LayerNormLinear() {
  constexpr int kC = 16, kN = 10;
  q8::testing::OnnxBuilder b(17, 21);
  b.Input("x", {-1, 4, kC}).Output("y");
  std::vector<float> gamma(kC, 1.0f), w(kC * kN);
  std::mt19937 rng(22);
  std::uniform_real_distribution<float> u(-0.4f, 0.4f);
  for (float& v : w) v = u(rng);
  for (int j : {2, 9, 13}) {
    gamma[j] = 40.0f;
    for (int n = 0; n < kN; ++n) w[j * kN + n] /= 40.0f;
  }
  b.FloatInitializer("gamma", {kC}, gamma).RandomInitializer("beta", {kC}, -0.2f, 0.2f);
  b.FloatInitializer("w", {kC, kN}, w).RandomInitializer("b", {kN}, -0.1f, 0.1f);
  q8::testing::OnnxBuilder::AttrInt(b.Node("LayerNormalization", {"x", "gamma", "beta"}, {"ln"}, "ln"), "axis", -1);
  b.Node("MatMul", {"ln", "w"}, {"m"}, "fc");
  b.Node("Add", {"m", "b"}, {"y"});
  return b.Serialize();
}

using q8::testing::Normal;

double MeanAbsDiff(const core::Tensor& a, const core::Tensor& b) {
  double sum = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) sum += std::abs(a.span<float>()[i] - b.span<float>()[i]);
  return sum / double(a.num_elements());
}

TEST(QdqSmoothQuantTest, ExportCarriesTheFoldedConstants) {
  const std::string onnx = LayerNormLinear();
  CalibrationData data{Normal({120, 4, 16}, 1), std::nullopt};
  QuantizationOptions options;
  options.mode = QuantMode::kStatic;
  options.max_drop = 1.0;
  options.smoothquant.enabled = true;
  auto q = Quantize(onnx, {}, options, &data);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->report.smoothing.size(), 1u) << q->report.ToJson(2);
  auto qdq = ExportQdqOnnx(onnx, q->artifact);
  ASSERT_TRUE(qdq.ok()) << qdq.status();

  const core::Tensor x = Normal({16, 4, 16}, 2);
  auto ours = q->model->Run({x.view()});
  auto fp32 = q->fp32_model->Run({x.view()});
  ASSERT_TRUE(ours.ok() && fp32.ok());
  auto ref = testing::RunNumpyReference(*qdq, x);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ(ref->dims(), (*ours)[0].dims());
  const double vs_ref = MeanAbsDiff(*ref, (*ours)[0]), vs_fp32 = MeanAbsDiff((*fp32)[0], (*ours)[0]);
  std::printf("SmoothQuant'd int8 vs numpy QDQ: mean|diff| %.3g; vs the fp32 engine %.3g\n", vs_ref, vs_fp32);
  EXPECT_LT(vs_ref, 0.1 * vs_fp32);
}

}  // namespace
}  // namespace q8::engine
