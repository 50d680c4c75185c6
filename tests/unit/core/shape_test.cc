// Shape helpers.
#include "core/shape.h"

#include <gtest/gtest.h>

namespace q8::core {
namespace {

TEST(ShapeTest, NumElementsAndBatch) {
  EXPECT_EQ(NumElements({}), 1);
  EXPECT_EQ(NumElements({2, 3, 4}), 24);
  EXPECT_FALSE(IsStatic({kDynamicDim, 3}));
  EXPECT_EQ(WithBatch({kDynamicDim, 3}, 8), (Dims{8, 3}));
  EXPECT_EQ(DimsToString({-1, 1, 28, 28}), "[-1,1,28,28]");
}

// Found by the fuzzers: an empty shape whose dims before the zero overflow
// when multiplied left to right (UBSan: signed overflow in NumElements).
TEST(ShapeTest, ZeroDimWinsOverEarlierHugeDims) {
  EXPECT_EQ(NumElements({412, int64_t{1} << 60, 0, 44}), 0);
  EXPECT_EQ(NumElements({int64_t{1} << 62, 8, 0}), 0);
}

}  // namespace
}  // namespace q8::core
