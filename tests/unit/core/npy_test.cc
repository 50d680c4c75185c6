// .npy round trips, and each malformed file gets INVALID_ARGUMENT naming the problem.
#include "core/npy.h"

#include <gtest/gtest.h>

namespace q8::core {
namespace {

TEST(NpyTest, RoundTripFloat) {
  Tensor t = Tensor::FromFloats({2, 3}, {1, 2, 3, 4, 5, 6.5f});
  std::string bytes = SerializeNpy(t.view());
  EXPECT_EQ((10 + static_cast<unsigned char>(bytes[8])) % 64, 0u);  // header padded to 64
  auto back = ParseNpy(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->dims(), (Dims{2, 3}));
  EXPECT_EQ(back->dtype(), DataType::kFloat32);
  EXPECT_FLOAT_EQ(back->span<float>()[5], 6.5f);
}

TEST(NpyTest, RoundTripOneDimInt64) {
  Tensor t(DataType::kInt64, {3});
  t.span<int64_t>()[2] = -7;
  auto back = ParseNpy(SerializeNpy(t.view()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->dims(), (Dims{3}));
  EXPECT_EQ(back->span<int64_t>()[2], -7);
}

TEST(NpyTest, ParsesNumpyWrittenHeader) {
  // Header exactly as numpy 1.24 writes it for np.zeros((1,2), np.float32).
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  header.push_back('\n');
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(header.size()));
  bytes.push_back('\0');
  bytes += header;
  bytes.append(8, '\0');
  auto t = ParseNpy(bytes);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dims(), (Dims{1, 2}));
}

TEST(NpyTest, RejectsBadInput) {
  EXPECT_EQ(ParseNpy("hello world").status().code(), absl::StatusCode::kInvalidArgument);
  Tensor t = Tensor::FromFloats({4}, {1, 2, 3, 4});
  std::string bytes = SerializeNpy(t.view());
  auto truncated = ParseNpy(bytes.substr(0, bytes.size() - 3));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);

  std::string fortran = bytes;
  fortran.replace(fortran.find("False"), 5, "True ");
  auto f = ParseNpy(fortran);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("Fortran"), std::string::npos);

  std::string big_endian = bytes;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  EXPECT_NE(ParseNpy(big_endian).status().message().find(">f4"), std::string::npos);
}

}  // namespace
}  // namespace q8::core

namespace q8::core {
namespace {

// A .npy v1.0 file with `header_dict` and `data_bytes` zero bytes of data.
std::string NpyWithHeader(const std::string& header_dict, size_t data_bytes) {
  std::string header = header_dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  bytes += header;
  bytes.append(data_bytes, '\0');
  return bytes;
}

TEST(NpyHostileTest, ShapeWhoseProductOverflowsIsRefused) {
  // Issue 11: (2**60, 1, 28, 28) wrapped to 0 bytes and passed the size check.
  auto t = ParseNpy(
      NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976, 1, 28, 28), }", 16));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("overflows"), std::string::npos) << t.status();
}

TEST(NpyHostileTest, LabelShapeWhoseByteCountOverflowsIsRefused) {
  // 2^61 int64 labels: the element count fits, the byte count (x8) wraps to 0.
  auto t = ParseNpy(NpyWithHeader("{'descr': '<i8', 'fortran_order': False, 'shape': (2305843009213693952,), }", 0));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NpyHostileTest, HugeDeclaredShapeInATinyFileIsRefusedBeforeAllocating) {
  // 2^28 floats (1 GiB) declared, 16 bytes present: refused as truncated.
  auto t = ParseNpy(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (268435456,), }", 16));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("truncated"), std::string::npos) << t.status();
}

TEST(NpyHostileTest, ShapeAboveThePerTensorLimitIsRefused) {
  auto t = ParseNpy(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }", 0));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("per-tensor limit"), std::string::npos) << t.status();
}

TEST(NpyHostileTest, LongBadDimensionIsQuotedTruncated) {
  const std::string junk(100000, '9');
  auto t = ParseNpy(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (" + junk + ",), }", 0));
  ASSERT_FALSE(t.ok());
  EXPECT_LT(t.status().message().size(), 400u);
}

}  // namespace
}  // namespace q8::core
