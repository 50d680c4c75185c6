// The significance check of the accuracy drop (engine/quant/accuracy_check.h)
// against values computed by hand from closed forms: Clopper-Pearson bounds
// at x = 0, 1 and n, where the binomial tail is one term; exact McNemar
// p-values as sums of binomial(m, 1/2) terms; and the fallback decision on
// one flip in a small evaluation set versus a real drop.
#include "engine/quant/accuracy_check.h"

#include <cmath>

#include "gtest/gtest.h"

namespace q8::engine {
namespace {

TEST(BinomialTest, TailMatchesClosedForms) {
  // P(X >= 1) = 1 - (1 - p)^n; P(X >= n) = p^n; P(X >= 0) = 1.
  EXPECT_NEAR(BinomialTailAtLeast(1, 60, 0.01), 1 - std::pow(0.99, 60), 1e-12);
  EXPECT_NEAR(BinomialTailAtLeast(10, 10, 0.3), std::pow(0.3, 10), 1e-15);
  EXPECT_EQ(BinomialTailAtLeast(0, 10, 0.3), 1.0);
  EXPECT_EQ(BinomialTailAtLeast(11, 10, 0.3), 0.0);
  // P(X >= 2 | 4, 1/2) = (6 + 4 + 1) / 16.
  EXPECT_NEAR(BinomialTailAtLeast(2, 4, 0.5), 11.0 / 16, 1e-12);
}

TEST(BinomialTest, ClopperPearsonBoundsMatchClosedForms) {
  // x = 1: 1 - (1 - p)^n = 0.05  ->  p = 1 - 0.95^(1/n); for n = 60: 0.00085452.
  EXPECT_NEAR(BinomialLowerBound(1, 60, 0.95), 1 - std::pow(0.95, 1.0 / 60), 1e-9);
  EXPECT_NEAR(BinomialLowerBound(1, 60, 0.95), 0.00085452, 1e-7);
  // x = 0: (1 - p)^n = 0.05  ->  p = 1 - 0.05^(1/n); for n = 10: 0.258866 ("rule of three" ~ 3/n).
  EXPECT_NEAR(BinomialUpperBound(0, 10, 0.95), 0.258866, 1e-6);
  EXPECT_NEAR(BinomialUpperBound(0, 1000, 0.95), 1 - std::pow(0.05, 1.0 / 1000), 1e-9);
  // x = n: p^n = 0.05  ->  p = 0.05^(1/n); for n = 10: 0.741134.
  EXPECT_NEAR(BinomialLowerBound(10, 10, 0.95), 0.741134, 1e-6);
  EXPECT_EQ(BinomialLowerBound(0, 10, 0.95), 0.0);
  EXPECT_EQ(BinomialUpperBound(10, 10, 0.95), 1.0);
  // Higher confidence, wider bounds.
  EXPECT_LT(BinomialLowerBound(5, 100, 0.99), BinomialLowerBound(5, 100, 0.95));
  EXPECT_GT(BinomialUpperBound(5, 100, 0.99), BinomialUpperBound(5, 100, 0.95));
}

TEST(DropTestTest, McNemarPValueIsTheExactBinomialTail) {
  // 5 discordant rows, all worse: (1/2)^5.
  EXPECT_NEAR(TestDrop(5, 0, 100, true, 0.01, 0.95).p_value, 1.0 / 32, 1e-12);
  // 4 worse, 1 better: P(X >= 4 | 5, 1/2) = (5 + 1) / 32.
  EXPECT_NEAR(TestDrop(4, 1, 100, true, 0.01, 0.95).p_value, 6.0 / 32, 1e-12);
  EXPECT_EQ(TestDrop(0, 0, 100, true, 0.01, 0.95).p_value, 1.0);
}

// issue #13's demo: 60 held-out rows, one flipped prediction is an observed
// drop of 1.67 points against max_drop 1 point, but nowhere near significant.
TEST(DropTestTest, OneFlipInASmallSetDoesNotFallBackAndAsksForMoreSamples) {
  const DropTest t = TestDrop(1, 0, 60, /*better_possible=*/false, 0.01, 0.95);
  EXPECT_NEAR(t.observed, 1.0 / 60, 1e-12);
  EXPECT_NEAR(t.low, 1 - std::pow(0.95, 1.0 / 60), 1e-9);
  EXPECT_GT(t.high, 0.01);
  EXPECT_FALSE(t.exceeds);
  EXPECT_FALSE(t.within);
  EXPECT_TRUE(t.more_samples_needed);
}

TEST(DropTestTest, ARealDropFallsBack) {
  // 20 of 100 rows disagree: the lower bound alone is far above 1 point.
  const DropTest t = TestDrop(20, 0, 100, /*better_possible=*/false, 0.01, 0.95);
  EXPECT_GT(t.low, 0.1);
  EXPECT_TRUE(t.exceeds);
  EXPECT_FALSE(t.more_samples_needed);
  // Paired top-1: 20 rows worse, 1 better of 200; the drop is real beyond 1 point
  // (bounds at 97.5 % each: 0.0622 - 0.0275 = 0.035 > 0.01; 12 worse would give 0.004, not enough).
  const DropTest top1 = TestDrop(20, 1, 200, /*better_possible=*/true, 0.01, 0.95);
  EXPECT_NEAR(top1.observed, 19.0 / 200, 1e-12);
  EXPECT_NEAR(top1.low, 0.0346, 0.001);
  EXPECT_TRUE(top1.exceeds);
  EXPECT_FALSE(TestDrop(12, 1, 200, /*better_possible=*/true, 0.01, 0.95).exceeds);
}

TEST(DropTestTest, NoFlipsInManyRowsShowsTheTargetMet) {
  const DropTest t = TestDrop(0, 0, 1000, /*better_possible=*/false, 0.01, 0.95);
  EXPECT_NEAR(t.high, 1 - std::pow(0.05, 1.0 / 1000), 1e-9);  // 0.0030
  EXPECT_TRUE(t.within);
  EXPECT_FALSE(t.exceeds);
  EXPECT_FALSE(t.more_samples_needed);
}

TEST(DropTestTest, GainsOffsetLossesInPairedTop1) {
  // 3 worse, 3 better: no drop observed; the bounds straddle 0.
  const DropTest t = TestDrop(3, 3, 100, /*better_possible=*/true, 0.0, 0.95);
  EXPECT_EQ(t.observed, 0.0);
  EXPECT_LT(t.low, 0.0);
  EXPECT_GT(t.high, 0.0);
  EXPECT_FALSE(t.exceeds);
  EXPECT_NEAR(t.p_value, 42.0 / 64, 1e-12);  // P(X >= 3 | 6, 1/2) = (20 + 15 + 6 + 1) / 64
}

}  // namespace
}  // namespace q8::engine
