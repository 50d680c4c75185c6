// Quantize() on torchvision ResNet-18, ResNet-50 and MobileNetV2 topologies
// (seeded random weights, exported by the export_torchvision fixture),
// calibrated on random normal inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/quantize.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

core::Tensor Normal(core::Dims dims, uint32_t seed) {
  core::Tensor t(core::DataType::kFloat32, std::move(dims));
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0, 1);
  for (float& v : t.span<float>()) v = d(rng);
  return t;
}

// torchvision topologies with seeded random weights, calibrated on random
// normal inputs: SQNR >= 25 dB and top-1 agreement >= 98% on 64 held-out
// inputs from the same distribution (issue #3 targets).
class TorchvisionQuantTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchvisionQuantTest, SqnrAndAgreementOnHeldOutInputs) {
  const std::string path = std::string(Q8_TORCHVISION_DIR) + "/" + GetParam() + ".onnx";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing: the export_torchvision fixture did not run";
  CalibrationData data{Normal({96, 3, 224, 224}, 11), std::nullopt};
  QuantizationOptions o;
  o.method = CalibrationMethod::kPercentile;
  o.eval_fraction = 64.0 / 96.0;  // 32 to calibrate, 64 held out
  o.max_drop = 0.02;
  auto r = Quantize(testing::ReadFile(path), {.max_batch_size = 32, .warmup_batch_sizes = {1}}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  std::printf("%s: sqnr %.1f dB, agreement %.3f, fallback %zu layers, int8/fp32 b1 %.2f/%.2f ms, b16 %.1f/%.1f ms\n",
              GetParam(), r->report.output_sqnr_db, r->report.agreement, r->report.fallback_layers.size(),
              r->report.latency_int8_b1_ms, r->report.latency_fp32_b1_ms, r->report.latency_int8_b16_ms,
              r->report.latency_fp32_b16_ms);
  EXPECT_EQ(r->report.eval_samples, 64);
  EXPECT_GE(r->report.output_sqnr_db, 25.0);
  EXPECT_GE(r->report.agreement, 0.98);
  EXPECT_LE(r->report.weight_bytes_int8, 0.27 * r->report.weight_bytes_fp32);
  auto prims = r->model->Primitives(1);
  ASSERT_TRUE(prims.ok());
  for (const auto& p : *prims) EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " " << p.impl;
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionQuantTest, ::testing::Values("resnet18", "resnet50", "mobilenet_v2"));

}  // namespace
}  // namespace q8::engine
