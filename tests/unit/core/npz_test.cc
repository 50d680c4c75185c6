// .npz reading: numpy-written stored and deflate archives parse to the arrays
// numpy saved; every hostile archive gets INVALID_ARGUMENT naming the key or
// the reason (fixtures: tests/data/npz/README.md).
#include "core/npz.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "core/npy.h"

namespace q8::core {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(Q8_TEST_DATA_DIR) + "/npz/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ExpectIdsAndMask(const std::vector<NamedTensor>& arrays) {
  ASSERT_GE(arrays.size(), 2u);
  EXPECT_EQ(arrays[0].name, "ids");
  EXPECT_EQ(arrays[0].tensor.dtype(), DataType::kInt64);
  EXPECT_EQ(arrays[0].tensor.dims(), (Dims{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(arrays[0].tensor.span<int64_t>()[i], i);
  EXPECT_EQ(arrays[1].name, "mask");
  EXPECT_EQ(arrays[1].tensor.dtype(), DataType::kBool);
  const bool want[] = {true, false, true, false, true, true};
  auto mask = arrays[1].tensor.span<uint8_t>();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(mask[i] != 0, want[i]) << i;
}

// Expects INVALID_ARGUMENT whose message contains `needle`.
void ExpectRefused(const absl::StatusOr<std::vector<NamedTensor>>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), needle)) << r.status();
}

TEST(NpzTest, ReadsNumpySavezStored) {
  auto r = ParseNpz(Fixture("stored.npz"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  ExpectIdsAndMask(*r);
}

TEST(NpzTest, ReadsNumpySavezCompressed) {
  auto r = ParseNpz(Fixture("deflate.npz"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  ExpectIdsAndMask(*r);
  EXPECT_EQ((*r)[2].name, "x");
  EXPECT_EQ((*r)[2].tensor.dims(), (Dims{2, 4}));
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ((*r)[2].tensor.span<float>()[i], i / 4.0f);
}

TEST(NpzTest, RoundTripsOwnWriter) {
  Tensor a = Tensor::FromFloats({1, 2}, {1.5f, -2});
  auto r = ParseNpz(SerializeNpz({{"a", a.view()}, {"group/b", a.view()}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].name, "group/b");
  EXPECT_FLOAT_EQ((*r)[1].tensor.span<float>()[1], -2);
}

TEST(NpzTest, RefusesZipBomb) {
  // Declares 1000 bytes, inflates to 4 MiB: stops at the declared size.
  ExpectRefused(ParseNpz(Fixture("bomb.npz")), "inflates past its declared 1000 bytes");
}

TEST(NpzTest, RefusesArchivesOverTheByteLimit) {
  ZipLimits limits;
  limits.max_total_bytes = 100;  // stored.npz holds 2 x 176-byte .npy entries
  ExpectRefused(ParseNpz(Fixture("stored.npz"), limits), "limit of 100 bytes");
}

TEST(NpzTest, RefusesTooManyEntries) {
  ZipLimits limits;
  limits.max_entries = 1;
  ExpectRefused(ParseNpz(Fixture("stored.npz"), limits), "2 entries, more than the limit of 1");
}

TEST(NpzTest, RefusesDuplicateKeys) {
  const std::string npy = SerializeNpy(Tensor::FromFloats({1}, {1}).view());
  ExpectRefused(ParseNpz(WriteStoredZip({{"x.npy", npy}, {"x.npy", npy}})), "key 'x' is given twice");
}

TEST(NpzTest, RefusesEntriesThatAreNotNpy) {
  ExpectRefused(ParseNpz(WriteStoredZip({{"notes.txt", "hi"}})), "entry 'notes.txt' is not a .npy array");
}

TEST(NpzTest, RefusesBadNpyInsideNamingTheKey) {
  ExpectRefused(ParseNpz(WriteStoredZip({{"ids.npy", "garbage"}})), "key 'ids': not a .npy file");
}

TEST(NpzTest, RefusesEmptyArchiveAndNonZip) {
  ExpectRefused(ParseNpz(WriteStoredZip({})), "holds no arrays");
  ExpectRefused(ParseNpz(SerializeNpy(Tensor::FromFloats({1}, {1}).view())), "end of central directory");
  ExpectRefused(ParseNpz(""), "too short");
}

TEST(NpzTest, RefusesCorruptData) {
  std::string bytes = Fixture("stored.npz");
  bytes[200] ^= 0x55;  // inside the first entry's data
  ExpectRefused(ParseNpz(bytes), "CRC mismatch");
  std::string deflated = Fixture("deflate.npz");
  for (size_t i = 60; i < 120; ++i) deflated[i] = 0;  // the first entry's deflate stream
  EXPECT_FALSE(ParseNpz(deflated).ok());
}

TEST(NpzTest, RefusesTruncatedArchives) {
  const std::string bytes = Fixture("deflate.npz");
  for (size_t keep = 0; keep < bytes.size(); keep += 7) {
    EXPECT_FALSE(ParseNpz(bytes.substr(0, keep)).ok()) << keep;
  }
}

// Central directory header of the first entry (after the local data).
size_t Central(const std::string& zip) { return zip.find("PK\x01\x02"); }

TEST(NpzTest, RefusesSizesBeyondTheArchive) {
  std::string bytes = WriteStoredZip({{"x.npy", SerializeNpy(Tensor::FromFloats({1}, {1}).view())}});
  const size_t c = Central(bytes);
  for (int i = 0; i < 4; ++i) bytes[c + 20 + i] = bytes[c + 24 + i] = static_cast<char>(0xfe);  // ~4 GiB
  ExpectRefused(ParseNpz(bytes), "declares sizes beyond the archive");
}

TEST(NpzTest, RefusesLocalHeaderOutOfRange) {
  std::string bytes = WriteStoredZip({{"x.npy", SerializeNpy(Tensor::FromFloats({1}, {1}).view())}});
  bytes[Central(bytes) + 42] = 0x7f;  // local header offset
  ExpectRefused(ParseNpz(bytes), "");
}

TEST(NpzTest, RefusesEncryptedAndUnknownMethods) {
  const std::string base = WriteStoredZip({{"x.npy", SerializeNpy(Tensor::FromFloats({1}, {1}).view())}});
  std::string encrypted = base;
  encrypted[Central(encrypted) + 8] = 1;
  ExpectRefused(ParseNpz(encrypted), "entry 'x.npy' is encrypted");
  std::string bzip2 = base;
  bzip2[Central(bzip2) + 10] = 12;
  ExpectRefused(ParseNpz(bzip2), "compression method 12");
}

}  // namespace
}  // namespace q8::core
