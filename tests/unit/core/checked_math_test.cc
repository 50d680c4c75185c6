// Overflow-checked shape arithmetic: exact boundaries, negatives, the
// overflowing shapes from issue 11, and the per-tensor byte ceiling.
#include "core/checked_math.h"

#include <gtest/gtest.h>

#include <limits>

#include "core/quote.h"
#include "core/tensor.h"

namespace q8::core {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(CheckedMathTest, MulAddSubAtTheBoundaries) {
  EXPECT_EQ(CheckedMul(int64_t{1} << 31, int64_t{1} << 31), int64_t{1} << 62);
  EXPECT_FALSE(CheckedMul(int64_t{1} << 32, int64_t{1} << 31).has_value());
  EXPECT_FALSE(CheckedMul(kMax, 2).has_value());
  EXPECT_FALSE(CheckedMul(kMin, -1).has_value());
  EXPECT_EQ(CheckedMul(kMax, 1), kMax);
  EXPECT_EQ(CheckedAdd(kMax - 1, 1), kMax);
  EXPECT_FALSE(CheckedAdd(kMax, 1).has_value());
  EXPECT_FALSE(CheckedAdd(kMin, -1).has_value());
  EXPECT_EQ(CheckedSub(0, kMax), -kMax);
  EXPECT_FALSE(CheckedSub(kMin, 1).has_value());
}

TEST(CheckedMathTest, NumElementsOfOrdinaryShapes) {
  EXPECT_EQ(*CheckedNumElements({}), 1);
  EXPECT_EQ(*CheckedNumElements({2, 3, 4}), 24);
  EXPECT_EQ(*CheckedNumElements({5, 0, 7}), 0);
}

TEST(CheckedMathTest, NpyShapeFromTheIssueOverflows) {
  // (2**60, 1, 28, 28): the product wraps to 0 in plain int64 arithmetic.
  auto n = CheckedNumElements({int64_t{1} << 60, 1, 28, 28}, "calibration");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(n.status().message().find("overflows"), std::string::npos) << n.status();
}

TEST(CheckedMathTest, ZeroDimAfterOverflowIsZeroElements) {
  EXPECT_EQ(*CheckedNumElements({int64_t{1} << 62, 16, 0}), 0);
}

TEST(CheckedMathTest, NegativeDimsAreRefusedEvenAfterOverflow) {
  for (const Dims& d : {Dims{-1}, Dims{3, -2}, Dims{int64_t{1} << 62, 16, -1}, Dims{kMin}}) {
    auto n = CheckedNumElements(d);
    ASSERT_FALSE(n.ok()) << DimsToString(d);
    EXPECT_NE(n.status().message().find("negative"), std::string::npos) << n.status();
  }
}

TEST(CheckedMathTest, ByteSizeRefusesThe2To40ElementInitializer) {
  auto b = CheckedByteSize(DataType::kFloat32, {int64_t{1} << 20, int64_t{1} << 20}, "initializer 'w'");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(b.status().message().find("per-tensor limit"), std::string::npos) << b.status();
  EXPECT_NE(b.status().message().find("initializer 'w'"), std::string::npos) << b.status();
}

TEST(CheckedMathTest, ByteSizeLimitIsInclusiveAndOverflowOfTheByteCountIsCaught) {
  EXPECT_EQ(*CheckedByteSize(DataType::kFloat32, {kMaxTensorBytes / 4}), kMaxTensorBytes);
  EXPECT_FALSE(CheckedByteSize(DataType::kFloat32, {kMaxTensorBytes / 4 + 1}).ok());
  // Element count fits int64, bytes do not.
  EXPECT_FALSE(CheckedByteSize(DataType::kFloat64, {int64_t{1} << 61}, "t", kMax).ok());
  EXPECT_EQ(*CheckedByteSize(DataType::kInt8, {100}, "t", 100), 100);
  EXPECT_FALSE(CheckedByteSize(DataType::kInt8, {101}, "t", 100).ok());
  EXPECT_FALSE(CheckedByteSize(DataType::kUndefined, {1}).ok());
}

TEST(CheckedMathTest, TensorConstructorRefusesWrappedSizesInsteadOfAllocatingShort) {
  EXPECT_THROW(Tensor(DataType::kFloat32, Dims{int64_t{1} << 60, 1, 28, 28}), std::bad_alloc);
  EXPECT_THROW(Tensor(DataType::kFloat32, Dims{-4}), std::bad_alloc);
  EXPECT_THROW(Tensor(DataType::kFloat32, Dims{int64_t{1} << 28, 2}), std::bad_alloc);
  Tensor ok(DataType::kFloat32, Dims{2, 2});
  EXPECT_EQ(ok.byte_size(), 16);
}

TEST(QuoteTest, ShortStringsAreVerbatimLongOnesTruncatedWithAMarker) {
  EXPECT_EQ(Quote("fashion_cnn"), "fashion_cnn");
  EXPECT_EQ(Quote(std::string(kMaxQuotedChars, 'a')), std::string(kMaxQuotedChars, 'a'));
  const std::string huge(1 << 20, 'x');
  const std::string q = Quote(huge);
  EXPECT_LT(q.size(), 200u);
  EXPECT_EQ(q.substr(0, kMaxQuotedChars), huge.substr(0, kMaxQuotedChars));
  EXPECT_NE(q.find("...[" + std::to_string(huge.size() - kMaxQuotedChars) + " more bytes]"), std::string::npos);
  EXPECT_EQ(Quote("abcdef", 3), "abc...[3 more bytes]");
}

}  // namespace
}  // namespace q8::core
