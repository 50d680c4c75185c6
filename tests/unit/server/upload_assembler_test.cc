#include "server/upload_assembler.h"

#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

namespace pb = q8serve::v1;
using ::testing::HasSubstr;

pb::UploadHeader Header(const std::string& name, int64_t version, int64_t total_bytes) {
  pb::UploadHeader h;
  h.set_model_name(name);
  h.set_version(version);
  h.set_total_bytes(total_bytes);
  return h;
}

pb::FileChunk Chunk(const std::string& path, const std::string& data) {
  pb::FileChunk c;
  c.set_path(path);
  c.set_data(data);
  return c;
}

TEST(UploadAssemblerTest, JoinsChunksPerFileIntoOneVersion) {
  pb::UploadHeader h = Header("m", 3, 10);
  h.set_config_json("{}");
  auto upload = UploadAssembler::Start(h, 100);
  ASSERT_TRUE(upload.ok()) << upload.status();
  for (auto [path, data] : {std::pair{"model.onnx", "abc"},
                            {"calibration/inputs.npy", "xy"},
                            {"model.onnx", "def"},
                            {"calibration/labels.npy", "zz"}}) {
    pb::FileChunk c = Chunk(path, data);
    ASSERT_TRUE(upload->Add(&c).ok());
  }
  EXPECT_EQ(upload->received(), 10);
  auto request = upload->Finish();
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->name, "m");
  EXPECT_EQ(request->config_json, "{}");
  ASSERT_EQ(request->files.size(), 1u);
  const UploadedVersion& v = request->files.at(3);
  EXPECT_EQ(v.model.bytes, "abcdef");
  EXPECT_EQ(v.calibration_inputs->bytes, "xy");
  EXPECT_EQ(v.calibration_labels->bytes, "zz");
}

// Regression: total_bytes + config size used to be added unchecked, so a
// header announcing ~2^63 bytes overflowed (UB) instead of being refused.
TEST(UploadAssemblerTest, HugeAnnouncedSizeIsResourceExhaustedNotOverflow) {
  pb::UploadHeader h = Header("m", 1, std::numeric_limits<int64_t>::max());
  h.set_config_json("{\"max_batch_size\": 4}");
  auto upload = UploadAssembler::Start(h, 1 << 20);
  ASSERT_EQ(upload.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(upload.status().message()), HasSubstr("--max_upload_bytes"));
}

TEST(UploadAssemblerTest, HeaderErrors) {
  EXPECT_EQ(UploadAssembler::Start(Header("m", -1, 0), 100).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UploadAssembler::Start(Header("m", 1, -5), 100).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UploadAssembler::Start(Header("../m", 1, 0), 100).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UploadAssembler::Start(Header("m", 1, 101), 100).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(UploadAssemblerTest, ChunkErrorsStopTheUpload) {
  auto upload = UploadAssembler::Start(Header("m", 1, 0), 8);
  ASSERT_TRUE(upload.ok());
  pb::FileChunk bad = Chunk("../model.onnx", "x");
  absl::Status s = upload->Add(&bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("unsupported file '../model.onnx'"));
  pb::FileChunk big = Chunk("model.onnx", "123456789");
  EXPECT_EQ(upload->Add(&big).code(), absl::StatusCode::kResourceExhausted);
}

TEST(UploadAssemblerTest, FinishNeedsTheAnnouncedBytesAndAModel) {
  auto short_upload = UploadAssembler::Start(Header("m", 1, 5), 100);
  ASSERT_TRUE(short_upload.ok());
  pb::FileChunk c = Chunk("model.onnx", "abc");
  ASSERT_TRUE(short_upload->Add(&c).ok());
  EXPECT_THAT(std::string(short_upload->Finish().status().message()), HasSubstr("ended after 3 bytes"));

  auto no_model = UploadAssembler::Start(Header("m", 1, 0), 100);
  ASSERT_TRUE(no_model.ok());
  pb::FileChunk x = Chunk("calibration/inputs.npy", "x");
  ASSERT_TRUE(no_model->Add(&x).ok());
  EXPECT_THAT(std::string(no_model->Finish().status().message()), HasSubstr("has no model.onnx"));
}

}  // namespace
}  // namespace q8::server
