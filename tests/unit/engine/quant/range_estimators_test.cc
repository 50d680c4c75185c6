// Calibration methods on distributions with known answers.
#include "engine/quant/range_estimators.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace q8::engine {
namespace {

// 99.5% standard normal, 0.5% outliers at +-50: a heavy tail that min/max
// calibration would chase, wasting most of the int8 grid.
std::vector<float> HeavyTailed(int n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = (i % 200 == 0) ? (i % 400 == 0 ? 50.0f : -50.0f) : normal(rng);
  return v;
}

AbsHistogram Histogram(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::abs(x));
  AbsHistogram h(m);
  h.Add(v);
  return h;
}

// Regression (the zoo transformer's static calibration crashed): attention
// scores plus a -inf padding mask reached the histogram, whose bin index
// for inf (inf * 0 = NaN, cast to int) was undefined and out of range.
TEST(RangeEstimatorsTest, NonFiniteValuesAreSkipped) {
  AbsHistogram h(4.0f, 8);
  h.Add(std::vector<float>{1.0f, -INFINITY, NAN, INFINITY, -3.0f});
  EXPECT_EQ(h.total(), 2);
  double counted = 0;
  for (double c : h.counts()) counted += c;
  EXPECT_EQ(counted, 2);
  AbsHistogram unbounded(INFINITY, 8);  // a range from a -inf minimum
  unbounded.Add(std::vector<float>{1.0f, -INFINITY});
  EXPECT_EQ(unbounded.total(), 1);
}

TEST(RangeEstimatorsTest, PercentileClipsTheHeavyTail) {
  AbsHistogram h = Histogram(HeavyTailed(200000));
  EXPECT_NEAR(h.total(), 200000, 0);
  // 99% of |x| lies below the normal's 99.25% two-sided quantile (~2.67).
  const float t99 = PercentileThreshold(h, 99.0);
  EXPECT_GT(t99, 2.3f);
  EXPECT_LT(t99, 3.0f);
  // 99.9% reaches into the outliers (0.5% of samples are at 50).
  EXPECT_GT(PercentileThreshold(h, 99.9), 45.0f);
  EXPECT_FLOAT_EQ(PercentileThreshold(h, 100.0), 50.0f);
}

TEST(RangeEstimatorsTest, EntropyKeepsTheBulkAndClipsOutliers) {
  AbsHistogram h = Histogram(HeavyTailed(200000));
  const float entropy = EntropyThreshold(h, 127);
  // The normal bulk (|x| < 3 covers 99.7%) keeps its resolution; the outliers are clipped.
  EXPECT_GT(entropy, 2.0f);
  EXPECT_LT(entropy, 20.0f);
}

TEST(RangeEstimatorsTest, MseTradesClippingAgainstRounding) {
  // Clipping outliers at T costs p*(50-T)^2 per sample; keeping them costs a
  // rounding error of (50/127)^2/12 ~ 0.013 everywhere. With 0.5% outliers
  // clipping is dearer, so MSE keeps the full range...
  EXPECT_GT(MseThreshold(Histogram(HeavyTailed(200000)), 127), 45.0f);
  // ...with 2 outliers in a million it is cheaper, so MSE clips them.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> v(1000000);
  for (float& x : v) x = normal(rng);
  v[10] = 50.0f;
  v[20] = -50.0f;
  const float t = MseThreshold(Histogram(v), 127);
  EXPECT_GT(t, 2.0f);
  EXPECT_LT(t, 20.0f);  // optimum ~14: rounding T^2/193548 vs 2e-6*(50-T)^2
}

TEST(RangeEstimatorsTest, UniformDataIsNotClipped) {
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(100000);
  for (float& x : v) x = u(rng);
  AbsHistogram h = Histogram(v);
  // For a uniform distribution clipping only adds error: thresholds stay near the max.
  EXPECT_GT(MseThreshold(h, 127), 0.95f);
  EXPECT_GT(EntropyThreshold(h, 127), 0.9f);
  EXPECT_GT(PercentileThreshold(h, 99.99), 0.99f);
}

}  // namespace
}  // namespace q8::engine
