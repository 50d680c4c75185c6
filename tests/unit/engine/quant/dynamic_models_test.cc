// mode: dynamic on the torchvision topologies (ResNet-50, MobileNetV2; the
// export_torchvision fixture): which layers run dynamic int8, no reference
// kernel in any plan (batch 1 and 16), and logits no further from the fp32
// plan's than static int8's when calibrated on the very inputs compared
// (within 1 dB). These topologies carry seeded random weights: their logits
// amplify any rounding (static int8 itself keeps only ~0-2 dB SQNR here), so
// an absolute SQNR bound would be meaningless; the layer-level numerics are
// checked in tests/unit/kernels/dynamic_conv_test.cc and on the trained
// Fashion CNN in quantize_fashion_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/quantize.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

struct DynamicModelCase {
  const char* name;
  int min_dynamic_convs;  // Conv layers expected in dynamic int8
  int fp32_convs;         // depthwise convs, kept in fp32 by DynamicConvPays
};

class DynamicModelsTest : public ::testing::TestWithParam<DynamicModelCase> {};

TEST_P(DynamicModelsTest, ConvsRunDynamicInt8CloseToFp32WithoutReferenceKernels) {
  const DynamicModelCase& c = GetParam();
  const std::string dir = Q8_TORCHVISION_DIR;
  const std::string path = dir + "/" + c.name + ".onnx";
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing " << path << ": the export_torchvision fixture did not run";
  QuantizationOptions o;
  o.mode = QuantMode::kDynamic;
  auto result = Quantize(testing::ReadFile(path), {}, o, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  int dynamic_convs = 0, fp32_convs = 0, dynamic_gemms = 0;
  for (const LayerReport& l : result->report.layers) {
    if (l.op == "Conv") (l.precision == "int8-dynamic" ? dynamic_convs : fp32_convs)++;
    if (l.op == "Gemm" || l.op == "MatMul") dynamic_gemms += l.precision == "int8-dynamic";
  }
  std::printf("%s dynamic: %d convs int8-dynamic, %d fp32, %d gemm/matmul int8-dynamic\n", c.name, dynamic_convs,
              fp32_convs, dynamic_gemms);
  EXPECT_GE(dynamic_convs, c.min_dynamic_convs);
  EXPECT_EQ(fp32_convs, c.fp32_convs);
  EXPECT_EQ(dynamic_gemms, 1);

  core::Tensor input = testing::LoadNpy(dir + "/" + c.name + "_input.npy");
  auto a = result->fp32_model->Run({input.view()});
  auto q = result->model->Run({input.view()});
  ASSERT_TRUE(a.ok() && q.ok());
  auto fa = (*a)[0].span<float>(), fq = (*q)[0].span<float>();
  double signal = 0, noise = 0;
  for (size_t i = 0; i < fa.size(); ++i) {
    signal += double(fa[i]) * fa[i];
    noise += (double(fa[i]) - fq[i]) * (double(fa[i]) - fq[i]);
  }
  const double sqnr = 10 * std::log10(signal / noise);
  // The reference point: static int8 calibrated (min/max) on these very
  // inputs, the best case of calibration.
  QuantizationOptions so;
  so.eval_fraction = 0;
  so.max_drop = 1.0;
  so.method = CalibrationMethod::kMinMax;
  CalibrationData data{input.Clone(), std::nullopt};
  auto st = Quantize(testing::ReadFile(path), {}, so, &data);
  ASSERT_TRUE(st.ok()) << st.status();
  auto s8 = st->model->Run({input.view()});
  ASSERT_TRUE(s8.ok()) << s8.status();
  auto fs = (*s8)[0].span<float>();
  double static_noise = 0;
  for (size_t i = 0; i < fa.size(); ++i) static_noise += (double(fa[i]) - fs[i]) * (double(fa[i]) - fs[i]);
  const double static_sqnr = 10 * std::log10(signal / static_noise);
  std::printf("%s: logits SQNR vs fp32: dynamic %.1f dB, static (min/max on these inputs) %.1f dB\n", c.name, sqnr,
              static_sqnr);
  EXPECT_GE(sqnr, static_sqnr - 1.0);

  for (int64_t batch : {1, 16}) {
    auto prims = result->model->Primitives(batch);
    ASSERT_TRUE(prims.ok()) << prims.status();
    for (const PrimitiveInfo& p : *prims) {
      EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " (" << p.op << ") runs " << p.impl;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, DynamicModelsTest,
                         ::testing::Values(DynamicModelCase{"resnet50", 53, 0},
                                           DynamicModelCase{"mobilenet_v2", 35, 17}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace q8::engine
