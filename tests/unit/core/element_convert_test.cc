// Element conversions: 16-bit float encodings against known bit patterns,
// saturation instead of undefined behaviour, and every type pair round-tripping.
#include "core/element_convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace q8::core {
namespace {

TEST(ElementConvertTest, HalfKnownBitPatterns) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);            // rounds up to infinity
  EXPECT_EQ(FloatToHalf(5.9604645e-8f), 0x0001);       // smallest subnormal
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3c00);  // tie rounds to even
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  EXPECT_EQ(HalfToFloat(0x3555), 0.33325195f);
  EXPECT_EQ(HalfToFloat(0x0001), 5.9604645e-8f);
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  for (uint32_t h = 0; h < 0x10000; ++h) {  // every finite half survives a round trip
    if ((h & 0x7c00) == 0x7c00) continue;
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << h;
  }
}

TEST(ElementConvertTest, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(FloatToBFloat16(1.00390625f), 0x3f80);  // exactly half an ulp: to even
  EXPECT_EQ(FloatToBFloat16(1.01171875f), 0x3f82);  // 1.5 ulp: up to even
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
}

TEST(ElementConvertTest, FloatToIntegerSaturatesAndNanIsZero) {
  Tensor src = Tensor::FromFloats({5}, {1e10f, -1e10f, std::nanf(""), -3.7f, 200.5f});
  Tensor i8(DataType::kInt8, {5});
  ASSERT_TRUE(ConvertElements(src.view(), i8.mutable_view()).ok());
  EXPECT_EQ(std::vector<int8_t>(i8.span<int8_t>().begin(), i8.span<int8_t>().end()),
            (std::vector<int8_t>{127, -128, 0, -3, 127}));
  Tensor u64(DataType::kUInt64, {5});
  ASSERT_TRUE(ConvertElements(src.view(), u64.mutable_view()).ok());
  EXPECT_EQ(u64.span<uint64_t>()[0], 10000000000u);
  EXPECT_EQ(u64.span<uint64_t>()[1], 0u);
  Tensor b(DataType::kBool, {5});
  ASSERT_TRUE(ConvertElements(src.view(), b.mutable_view()).ok());
  EXPECT_EQ(std::vector<uint8_t>(b.span<uint8_t>().begin(), b.span<uint8_t>().end()),
            (std::vector<uint8_t>{1, 1, 1, 1, 1}));
}

TEST(ElementConvertTest, LargeInt64SurvivesWithoutGoingThroughDouble) {
  Tensor src(DataType::kInt64, {1}), dst(DataType::kUInt64, {1}), back(DataType::kInt64, {1});
  src.span<int64_t>()[0] = (int64_t{1} << 62) + 1;
  ASSERT_TRUE(ConvertElements(src.view(), dst.mutable_view()).ok());
  ASSERT_TRUE(ConvertElements(dst.view(), back.mutable_view()).ok());
  EXPECT_EQ(back.span<int64_t>()[0], (int64_t{1} << 62) + 1);
}

TEST(ElementConvertTest, EveryTypePairCarriesSmallIntegers) {
  const std::vector<float> values = {0, 1, 2, 100};
  const Tensor f = Tensor::FromFloats({4}, values);
  for (int a = 1; a < static_cast<int>(DataType::kCount); ++a) {
    for (int b = 1; b < static_cast<int>(DataType::kCount); ++b) {
      const auto ta = static_cast<DataType>(a), tb = static_cast<DataType>(b);
      if (ta == DataType::kBool || tb == DataType::kBool) continue;
      Tensor x(ta, {4}), y(tb, {4}), back(DataType::kFloat32, {4});
      ASSERT_TRUE(ConvertElements(f.view(), x.mutable_view()).ok());
      ASSERT_TRUE(ConvertElements(x.view(), y.mutable_view()).ok());
      ASSERT_TRUE(ConvertElements(y.view(), back.mutable_view()).ok());
      for (int i = 0; i < 4; ++i) EXPECT_EQ(back.span<float>()[i], values[i]) << OipName(ta) << "->" << OipName(tb);
    }
  }
}

TEST(ElementConvertTest, RejectsCountMismatchAndUndefined) {
  Tensor a(DataType::kFloat32, {3}), b(DataType::kInt32, {4});
  EXPECT_EQ(ConvertElements(a.view(), b.mutable_view()).code(), absl::StatusCode::kInvalidArgument);
  TensorView undefined{DataType::kUndefined, {3}, a.data()};
  Tensor c(DataType::kInt32, {3});
  EXPECT_EQ(ConvertElements(undefined, c.mutable_view()).code(), absl::StatusCode::kInvalidArgument);
}

// An empty tensor from an empty (null) span: no memcpy from null (UBSan in
// the asan stage flagged it through the data-op conformance cases).
TEST(TensorTest, FromFloatsAcceptsAnEmptySpan) {
  const Tensor t = Tensor::FromFloats({0, 3}, {});
  EXPECT_EQ(t.num_elements(), 0);
  const Tensor c = t.Clone();
  EXPECT_EQ(c.num_elements(), 0);
}

}  // namespace
}  // namespace q8::core
