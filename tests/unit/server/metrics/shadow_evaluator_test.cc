#include "server/metrics/shadow_evaluator.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/server/fake_model.h"
#include "tests/unit/server/metrics/scrape_text.h"

namespace q8::server::metrics {
namespace {

using testing::Sample;
using testing::ScrapeModels;

core::Tensor Floats(core::Dims dims, std::vector<float> values) { return core::Tensor::FromFloats(dims, values); }

TEST(ShadowCompareTest, Top1AgreementAndRelativeErrorPerSample) {
  std::vector<core::Tensor> served, reference;
  served.push_back(Floats({2, 3}, {1, 2, 3, 3, 2, 1}));
  reference.push_back(Floats({2, 3}, {1, 2, 4, 1, 2, 3}));
  ShadowResult r = ShadowEvaluator::Compare(served, reference);
  EXPECT_EQ(r.compared, 2);
  EXPECT_EQ(r.agreed, 1);  // sample 0: class 2 both; sample 1: 0 vs 2
  ASSERT_EQ(r.relative_errors.size(), 2u);
  EXPECT_NEAR(r.relative_errors[0], 1.0 / std::sqrt(21.0), 1e-9);             // |(0,0,-1)| / |(1,2,4)|
  EXPECT_NEAR(r.relative_errors[1], std::sqrt(8.0) / std::sqrt(14.0), 1e-9);  // |(2,0,-2)| / |(1,2,3)|
}

TEST(ShadowCompareTest, OutputsWithoutClassDimensionGiveErrorButNoComparison) {
  std::vector<core::Tensor> served, reference;
  served.push_back(Floats({3, 1}, {1, 2, 0}));
  reference.push_back(Floats({3, 1}, {1, 2.5f, 0}));
  served.push_back(core::Tensor(core::DataType::kInt8, {3, 1}));  // not FP32: ignored
  reference.push_back(core::Tensor(core::DataType::kInt8, {3, 1}));
  ShadowResult r = ShadowEvaluator::Compare(served, reference);
  EXPECT_EQ(r.compared, 0);
  EXPECT_EQ(r.agreed, 0);
  ASSERT_EQ(r.relative_errors.size(), 3u);
  EXPECT_DOUBLE_EQ(r.relative_errors[0], 0);
  EXPECT_DOUBLE_EQ(r.relative_errors[1], 0.2);
  EXPECT_DOUBLE_EQ(r.relative_errors[2], 0);  // zero reference, zero output: exact
}

class ShadowEvaluatorTest : public ::testing::Test {
 protected:
  ShadowEvaluatorTest()
      : served_(std::make_shared<server::testing::FakeModel>()),
        reference_(std::make_shared<server::testing::FakeModel>()) {}

  std::shared_ptr<ModelMetrics> Metrics(ShadowEvaluator* shadow, double fraction) {
    ModelDescription d;
    d.model = "q";
    d.version = 1;
    d.precision = "int8";
    d.served = served_;
    d.reference = reference_;
    d.shadow_fraction = fraction;
    return std::make_shared<ModelMetrics>(d, shadow);
  }
  // A request of 2 samples: x = [[1, 2], [3, -1]] -> fp32 sum = [3, 2]. The
  // "int8" outputs given to the shadow are sum = [3.2, 2] (0.2 / 3 = 6.7 %
  // off on the first sample) and sign.
  void Request(ModelMetrics& m) {
    inputs_ = Floats({2, 2}, {1, 2, 3, -1});
    sum_ = Floats({2, 1}, {3.2f, 2});
    sign_ = core::Tensor(core::DataType::kInt8, {2, 1});
    std::vector<core::TensorView> in = {inputs_.view()};
    std::vector<core::MutableTensorView> out = {sum_.mutable_view(), sign_.mutable_view()};
    m.MaybeShadow(in, out);
  }

  std::shared_ptr<const engine::CompiledModel> served_, reference_;
  core::Tensor inputs_, sum_, sign_;
};

TEST_F(ShadowEvaluatorTest, FullQueueDropsAndCounts) {
  ShadowEvaluator shadow(/*capacity=*/2, /*start_worker=*/false);
  auto m = Metrics(&shadow, 1.0);
  for (int i = 0; i < 5; ++i) Request(*m);
  EXPECT_EQ(shadow.queued(), 2u);
  std::string text = ScrapeModels({m.get()});
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_dropped_total{model="q",version="1"})"), 3);
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_relative_error_count{model="q",version="1"})"), 0);

  shadow.Start();
  shadow.WaitIdle();
  EXPECT_EQ(shadow.queued(), 0u);
  text = ScrapeModels({m.get()});
  // 2 queued requests x 2 samples, errors 0.0667 and 0; FakeModel's outputs have
  // no class dimension, so nothing is top-1 compared.
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_relative_error_count{model="q",version="1"})"), 4);
  EXPECT_NEAR(*Sample(text, R"(q8serve_shadow_relative_error_sum{model="q",version="1"})"), 0.4 / 3, 1e-6);
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_relative_error_bucket{model="q",version="1",le="0.0001"})"), 2);
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_relative_error_bucket{model="q",version="1",le="0.05"})"), 2);
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_relative_error_bucket{model="q",version="1",le="0.1"})"), 4);
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_comparisons_total{model="q",version="1"})"), 0);
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_dropped_total{model="q",version="1"})"), 3);

  // With room again, a new request is evaluated, not dropped.
  Request(*m);
  shadow.WaitIdle();
  text = ScrapeModels({m.get()});
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_relative_error_count{model="q",version="1"})"), 6);
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_dropped_total{model="q",version="1"})"), 3);
}

TEST_F(ShadowEvaluatorTest, FractionSelectsRequests) {
  ShadowEvaluator shadow(/*capacity=*/100);
  auto m = Metrics(&shadow, 0.5);
  for (int i = 0; i < 10; ++i) Request(*m);
  shadow.WaitIdle();
  const std::string text = ScrapeModels({m.get()});
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_relative_error_count{model="q",version="1"})"), 10);  // 5 x 2 samples
  EXPECT_EQ(Sample(text, R"(q8serve_shadow_dropped_total{model="q",version="1"})"), 0);
}

TEST_F(ShadowEvaluatorTest, Fp32VersionsAreNeverShadowed) {
  ShadowEvaluator shadow(/*capacity=*/100, /*start_worker=*/false);
  ModelDescription d;
  d.model = "f";
  d.precision = "fp32";
  d.served = served_;
  d.reference = reference_;  // a reference exists: only the precision stops the shadow
  d.shadow_fraction = 1;
  auto m = std::make_shared<ModelMetrics>(d, &shadow);
  Request(*m);
  EXPECT_EQ(shadow.queued(), 0u);
}

}  // namespace
}  // namespace q8::server::metrics
