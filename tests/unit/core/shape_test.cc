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

}  // namespace
}  // namespace q8::core
