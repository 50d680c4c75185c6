// Upload parsing (server/load_request.cc): RepositoryModelLoad parameters
// and UploadFiles paths, shared and per-version calibration files, .npy vs
// .npz inputs, and every malformed request refused naming the parameter.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_loader.h"

namespace q8::server {
namespace {

using ::testing::HasSubstr;

inference::RepositoryModelLoadRequest LoadProto(const std::string& name) {
  inference::RepositoryModelLoadRequest r;
  r.set_model_name(name);
  return r;
}

TEST(ParseLoadRequestTest, ConfigAndFiles) {
  auto r = LoadProto("m");
  (*r.mutable_parameters())["config"].set_string_param("{}");
  (*r.mutable_parameters())["file:1/model.onnx"].set_bytes_param("abc");
  (*r.mutable_parameters())["file:12/model.onnx"].set_bytes_param("de");
  auto p = ParseLoadRequest(r, 100);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "m");
  EXPECT_EQ(*p->config_json, "{}");
  ASSERT_EQ(p->files.size(), 2u);
  EXPECT_EQ(p->files.at(1).model.bytes, "abc");
  EXPECT_EQ(p->files.at(12).model.bytes, "de");
  EXPECT_FALSE(p->files.at(1).calibration_inputs.has_value());
}

void ExpectParseError(const inference::RepositoryModelLoadRequest& r, absl::StatusCode code, absl::string_view needle,
                      int64_t limit = 100) {
  auto p = ParseLoadRequest(r, limit);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), code) << p.status();
  EXPECT_THAT(std::string(p.status().message()), HasSubstr(std::string(needle)));
}

TEST(ParseLoadRequestTest, Errors) {
  ExpectParseError(LoadProto("../x"), absl::StatusCode::kInvalidArgument, "invalid model name");
  auto r = LoadProto("m");
  (*r.mutable_parameters())["file:v1/model.onnx"].set_bytes_param("a");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "numeric version");
  r = LoadProto("m");
  (*r.mutable_parameters())["file:1/weights.bin"].set_bytes_param("a");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "unsupported file 'weights.bin'");
  r = LoadProto("m");
  (*r.mutable_parameters())["file:1"].set_bytes_param("a");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "expected <version>/model.onnx");
  r = LoadProto("m");
  (*r.mutable_parameters())["file:1/model.onnx"].set_string_param("a");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "must be a bytes_param");
  r = LoadProto("m");
  (*r.mutable_parameters())["config"].set_bytes_param("{}");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "'config' must be a string_param");
  r = LoadProto("m");
  (*r.mutable_parameters())["force"].set_bool_param(true);
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "unknown load parameter 'force'");
  r = LoadProto("m");
  (*r.mutable_parameters())["file:1/model.onnx"].set_bytes_param(std::string(101, 'x'));
  ExpectParseError(r, absl::StatusCode::kResourceExhausted, "101 bytes, over the server's upload limit of 100");
  r = LoadProto("m");
  (*r.mutable_parameters())["file:calibration/inputs.npy"].set_bytes_param("a");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "calibration data needs a model in the same upload");
  r = LoadProto("m");
  (*r.mutable_parameters())["file:1/model.onnx"].set_bytes_param("a");
  (*r.mutable_parameters())["file:2/calibration/inputs.npy"].set_bytes_param("a");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "version 2 has calibration data but no model.onnx");
  r = LoadProto("m");
  (*r.mutable_parameters())["file:1/model.onnx"].set_bytes_param("a");
  (*r.mutable_parameters())["file:calibration/labels.npy"].set_bytes_param("a");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument,
                   "'file:calibration/labels.npy': labels need calibration inputs");
  r = LoadProto("m");
  (*r.mutable_parameters())["file:1/model.onnx"].set_bytes_param("a");
  (*r.mutable_parameters())["file:1/calibration/data.csv"].set_bytes_param("a");
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "unsupported file 'calibration/data.csv'");
}

TEST(ParseLoadRequestTest, CalibrationFilesSharedOrPerVersion) {
  auto r = LoadProto("m");
  auto& p = *r.mutable_parameters();
  p["file:1/model.onnx"].set_bytes_param("m1");
  p["file:2/model.onnx"].set_bytes_param("m2");
  p["file:3/model.onnx"].set_bytes_param("m3");
  p["file:calibration/inputs.npy"].set_bytes_param("shared-x");
  p["file:calibration/labels.npy"].set_bytes_param("shared-y");
  p["file:2/calibration/inputs.npy"].set_bytes_param("own-x");
  auto parsed = ParseLoadRequest(r, 1000);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const auto& v1 = parsed->files.at(1);
  EXPECT_EQ(v1.calibration_inputs->bytes, "shared-x");
  EXPECT_EQ(v1.calibration_inputs->label, "file:calibration/inputs.npy");
  EXPECT_EQ(v1.calibration_labels->bytes, "shared-y");
  const auto& v2 = parsed->files.at(2);  // its own inputs, and no labels of its own
  EXPECT_EQ(v2.calibration_inputs->bytes, "own-x");
  EXPECT_EQ(v2.calibration_inputs->label, "file:2/calibration/inputs.npy");
  EXPECT_FALSE(v2.calibration_labels.has_value());
  EXPECT_EQ(parsed->files.at(3).calibration_inputs->bytes, "shared-x");
}

TEST(UploadFilesTest, NpzInputsTakeTheInputsSlotOnce) {
  UploadFiles files;
  ASSERT_TRUE(files.Add("1/model.onnx", "m", "model.onnx").ok());
  ASSERT_TRUE(files.Add("calibration/inputs.npz", "z", "file:calibration/inputs.npz").ok());
  absl::Status both = files.Add("calibration/inputs.npy", "x", "file:calibration/inputs.npy");
  EXPECT_EQ(both.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(both.message()), HasSubstr("give calibration inputs once, as .npy or as .npz"));
  auto done = files.Finish();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->at(1).calibration_inputs->label, "file:calibration/inputs.npz");
  EXPECT_EQ(done->at(1).calibration_inputs->bytes, "z");
}

TEST(UploadFilesTest, DuplicatesAndStreamedNames) {
  UploadFiles files;
  ASSERT_TRUE(files.Add("4/model.onnx", "m", "model.onnx").ok());
  ASSERT_TRUE(files.Add("4/calibration/inputs.npy", "x", "calibration/inputs.npy").ok());
  absl::Status twice = files.Add("4/model.onnx", "m", "model.onnx");
  EXPECT_EQ(twice.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(twice.message()), HasSubstr("'model.onnx' given twice"));
  auto done = files.Finish();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->at(4).calibration_inputs->label, "calibration/inputs.npy");
}

// Regression (found while writing upload_stream_fuzzer): a refused file used to
// leave an empty entry for its version, and Finish() then dereferenced the
// entry's missing file to name it in an error (undefined behaviour).
TEST(UploadFilesTest, RefusedFileLeavesNoVersionBehind) {
  UploadFiles files;
  EXPECT_EQ(files.Add("7/weights.bin", "w", "weights.bin").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(files.Add("8/calibration/other.npy", "o", "o").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(files.Add("2/model.onnx", "m", "model.onnx").ok());
  auto done = files.Finish();
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ(done->count(2), 1u);
}

}  // namespace
}  // namespace q8::server
