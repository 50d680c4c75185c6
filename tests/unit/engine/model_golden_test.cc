// End-to-end numerics of the committed Fashion-MNIST models: q8serve's fp32
// engine against logits PyTorch saved at export time. Tolerance: max abs
// difference <= 1e-4 on logits (values are O(10); fp32 reassociation in
// oneDNN vs PyTorch accounts for ~1e-5).
#include <gtest/gtest.h>

#include "engine/compiler.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using testing::DataPath;
using testing::LoadNpy;
using testing::ReadFile;
using testing::Rows;

struct GoldenCase {
  const char* model;
  const char* golden;
};

class FashionGoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(FashionGoldenTest, MatchesPyTorchLogitsAndAccuracy) {
  auto model = Compile(ReadFile(DataPath(GetParam().model)), {.max_batch_size = 256, .warmup_batch_sizes = {1}});
  ASSERT_TRUE(model.ok()) << model.status();
  core::Tensor images = LoadNpy(DataPath("fashion_test_images.npy"));
  core::Tensor labels = LoadNpy(DataPath("fashion_test_labels.npy"));
  core::Tensor golden = LoadNpy(DataPath(GetParam().golden));
  ASSERT_EQ(images.dims()[0], 1000);
  ASSERT_EQ(golden.dims(), (core::Dims{1000, 10}));

  // Batches of 250 (and a batch-1 pass over the first rows below).
  auto run = testing::RunInBatchesOf(**model, {&images}, 1000, 250);
  ASSERT_TRUE(run.ok()) << run.status();
  const std::vector<float>& logits = *run;
  EXPECT_LE(testing::MaxAbsDiff(logits, golden.span<float>()), 1e-4f);

  int ours = 0, torch = 0;
  for (int i = 0; i < 1000; ++i) {
    const int64_t label = labels.span<int64_t>()[i];
    ours += testing::ArgMax(&logits[i * 10], 10) == label;
    torch += testing::ArgMax(golden.span<float>().data() + i * 10, 10) == label;
  }
  EXPECT_EQ(ours, torch) << "top-1 correct: q8serve " << ours << ", PyTorch " << torch;
  EXPECT_GT(ours, 850);  // the committed models are ~90% accurate; anything far lower is a bug

  for (int64_t i = 0; i < 3; ++i) {
    auto one = (*model)->Run({Rows(images, i, 1)});
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_LE(testing::MaxAbsDiff((*one)[0].span<float>(), absl::MakeSpan(&logits[i * 10], 10)), 1e-5f)
        << "batch-1 result differs from the batched one for image " << i;
  }
}

TEST_P(FashionGoldenTest, NoReferenceKernelOnTheHotPath) {
  auto model = Compile(ReadFile(DataPath(GetParam().model)));
  ASSERT_TRUE(model.ok()) << model.status();
  for (int64_t batch : {1, 16}) {
    auto prims = (*model)->Primitives(batch);
    ASSERT_TRUE(prims.ok()) << prims.status();
    ASSERT_FALSE(prims->empty());
    for (const PrimitiveInfo& p : *prims) {
      EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.node << " (" << p.op << ") runs " << p.impl;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, FashionGoldenTest,
                         ::testing::Values(GoldenCase{"fashion_cnn.onnx", "fashion_cnn_golden.npy"},
                                           GoldenCase{"fashion_mlp.onnx", "fashion_mlp_golden.npy"}),
                         [](const auto& info) { return std::string(info.param.model).substr(0, 11); });

TEST(FashionCnnTest, PassesFoldBatchNormAndFuseRelu) {
  auto model = Compile(ReadFile(DataPath("fashion_cnn.onnx")));
  ASSERT_TRUE(model.ok()) << model.status();
  const CompileReport& r = (*model)->report();
  EXPECT_LT(r.optimized_nodes, r.onnx_nodes);
  std::string applied;
  for (const auto& p : r.passes_applied) applied += p + ";";
  EXPECT_NE(applied.find("fuse_activation"), std::string::npos) << applied;
  auto prims = (*model)->Primitives(1);
  ASSERT_TRUE(prims.ok());
  for (const PrimitiveInfo& p : *prims) EXPECT_NE(p.op, "Relu") << "Relu should be fused into " << p.node;
}

}  // namespace
}  // namespace q8::engine
