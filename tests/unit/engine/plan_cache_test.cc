// The per-model plan cache is bounded: beyond max_cached_plans the least
// recently used plan is evicted (and rebuilt if needed again), every run
// stays correct, and plan builds are counted.
#include <gtest/gtest.h>

#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/compile_or_die.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

std::shared_ptr<const CompiledModel> ReluModel(int64_t max_cached_plans) {
  OnnxBuilder b;
  b.Input("x", {-1, 3}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  return testing::CompileOrDie(b, max_cached_plans);
}

// Runs a batch of `batch` rows [-1, 2, -3] and checks Relu's answer.
void RunBatch(const CompiledModel& m, int64_t batch) {
  std::vector<float> x, want;
  for (int64_t r = 0; r < batch; ++r) {
    x.insert(x.end(), {-1.f, 2.f + r, -3.f});
    want.insert(want.end(), {0.f, 2.f + r, 0.f});
  }
  const core::Tensor in = core::Tensor::FromFloats({batch, 3}, x);
  auto out = m.Run({in.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  const auto y = (*out)[0].span<float>();
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()), want) << "batch " << batch;
}

TEST(PlanCacheTest, EvictsLeastRecentlyUsedBeyondTheBound) {
  auto m = ReluModel(2);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->plan_builds(), 0);
  RunBatch(*m, 1);
  RunBatch(*m, 2);
  EXPECT_EQ(m->plan_builds(), 2);
  RunBatch(*m, 1);  // cached; batch 1 is now the most recently used
  EXPECT_EQ(m->plan_builds(), 2);
  RunBatch(*m, 3);  // evicts batch 2's plan
  EXPECT_EQ(m->plan_builds(), 3);
  RunBatch(*m, 1);  // still cached
  EXPECT_EQ(m->plan_builds(), 3);
  RunBatch(*m, 2);  // evicted earlier: built again
  EXPECT_EQ(m->plan_builds(), 4);
}

TEST(PlanCacheTest, ZeroMeansUnbounded) {
  auto m = ReluModel(0);
  ASSERT_NE(m, nullptr);
  for (int64_t b : {1, 2, 3, 4, 5, 1, 2, 3, 4, 5}) RunBatch(*m, b);
  EXPECT_EQ(m->plan_builds(), 5);
}

TEST(PlanCacheTest, NegativeBoundIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, 3}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  CompileOptions o;
  o.max_cached_plans = -1;
  EXPECT_EQ(Compile(b.Serialize(), o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace q8::engine
