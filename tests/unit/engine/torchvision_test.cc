// torchvision ResNet-18, ResNet-50 and MobileNetV2 topologies (seeded random
// weights, exported at test time by tools/export_torchvision.py as a ctest
// fixture) against PyTorch's logits. Tolerance: max |ours - torch| <=
// 1e-3 * max |torch| over the logits of 4 inputs — relative to the logit
// scale, since element-wise relative error is meaningless near zero.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/compiler.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

class TorchvisionTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchvisionTest, MatchesPyTorchWithinRelativeTolerance) {
  const std::string dir = Q8_TORCHVISION_DIR;
  const std::string name = GetParam();
  ASSERT_TRUE(std::filesystem::exists(dir + "/" + name + ".onnx"))
      << "missing " << dir << "/" << name << ".onnx: the export_torchvision fixture did not run";
  auto model = Compile(testing::ReadFile(dir + "/" + name + ".onnx"), {.warmup_batch_sizes = {}});
  ASSERT_TRUE(model.ok()) << model.status();
  core::Tensor input = testing::LoadNpy(dir + "/" + name + "_input.npy");
  core::Tensor golden = testing::LoadNpy(dir + "/" + name + "_golden.npy");
  auto out = (*model)->Run({input.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  auto g = golden.span<float>();
  float scale = 0;
  for (float v : g) scale = std::max(scale, std::abs(v));
  ASSERT_GT(scale, 0);
  const float diff = testing::MaxAbsDiff((*out)[0].span<float>(), g);
  EXPECT_LE(diff, 1e-3f * scale) << name << ": max abs diff " << diff << " vs logit scale " << scale;

  auto prims = (*model)->Primitives(input.dims()[0]);
  ASSERT_TRUE(prims.ok());
  for (const PrimitiveInfo& p : *prims) {
    EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " (" << p.op << ") runs " << p.impl;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionTest, ::testing::Values("resnet18", "resnet50", "mobilenet_v2"));

}  // namespace
}  // namespace q8::engine
