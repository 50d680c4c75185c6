// DataType table: names, sizes and ONNX codes round-trip.
#include "core/dtype.h"

#include <gtest/gtest.h>

namespace q8::core {
namespace {

TEST(DataTypeTest, OipNamesRoundTrip) {
  for (int i = 1; i < static_cast<int>(DataType::kCount); ++i) {
    auto t = static_cast<DataType>(i);
    auto back = FromOipName(OipName(t));
    ASSERT_TRUE(back.has_value()) << OipName(t);
    EXPECT_EQ(*back, t);
  }
  EXPECT_FALSE(FromOipName("BYTES").has_value());
  EXPECT_FALSE(FromOipName("fp32").has_value());  // names are case-sensitive in the spec
}

TEST(DataTypeTest, SizesAndOnnxCodes) {
  EXPECT_EQ(SizeOf(DataType::kFloat32), 4);
  EXPECT_EQ(SizeOf(DataType::kInt64), 8);
  EXPECT_EQ(SizeOf(DataType::kUInt8), 1);
  EXPECT_EQ(OnnxCode(DataType::kFloat32), 1);
  EXPECT_EQ(FromOnnxCode(7), DataType::kInt64);
  EXPECT_FALSE(FromOnnxCode(8).has_value());  // ONNX STRING is not a tensor type we serve
}

}  // namespace
}  // namespace q8::core
