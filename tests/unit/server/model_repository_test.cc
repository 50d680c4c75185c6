#include "server/model_repository.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("q8repo_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    repo_ = std::make_unique<ModelRepository>(root_.string());
    ASSERT_TRUE(repo_->Init().ok());
  }
  void TearDown() override { fs::remove_all(root_); }
  static void Touch(const fs::path& p, const std::string& text = "x") {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  static std::vector<std::string> FilesIn(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path root_;
  std::unique_ptr<ModelRepository> repo_;
};

TEST(ModelNameTest, Validation) {
  EXPECT_TRUE(ValidateModelName("fashion_cnn").ok());
  EXPECT_TRUE(ValidateModelName("a.b-c_1").ok());
  for (const char* bad : {"", ".", "..", ".hidden", "a/b", "../x", "a b", "ü"}) {
    absl::Status s = ValidateModelName(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ValidateModelName(std::string(129, 'a')).ok());
}

TEST(ParseVersionTest, NumericOnly) {
  EXPECT_EQ(ParseVersion("1"), 1);
  EXPECT_EQ(ParseVersion("42"), 42);
  EXPECT_EQ(ParseVersion("0"), std::nullopt);
  EXPECT_EQ(ParseVersion("01"), std::nullopt);
  EXPECT_EQ(ParseVersion("-1"), std::nullopt);
  EXPECT_EQ(ParseVersion("1a"), std::nullopt);
  EXPECT_EQ(ParseVersion(""), std::nullopt);
  EXPECT_EQ(ParseVersion("99999999999999999999"), std::nullopt);
}

TEST_F(RepositoryTest, AtomicWriteLeavesNoTempFiles) {
  const std::string path = (root_ / "f.bin").string();
  ASSERT_TRUE(AtomicWriteFile(path, "first").ok());
  ASSERT_TRUE(AtomicWriteFile(path, "second, longer").ok());
  EXPECT_EQ(*ReadFile(path), "second, longer");
  EXPECT_THAT(FilesIn(root_), ElementsAre("f.bin"));
}

TEST_F(RepositoryTest, AtomicWriteIntoMissingDirFailsCleanly) {
  absl::Status s = AtomicWriteFile((root_ / "nope" / "f").string(), "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(FilesIn(root_), ElementsAre());
}

TEST_F(RepositoryTest, WriteAndReadModel) {
  ASSERT_TRUE(repo_->WriteModel("m", 3, "onnx-bytes").ok());
  ASSERT_TRUE(repo_->WriteConfig("m", R"({"max_batch_size":4})").ok());
  EXPECT_EQ(*repo_->ReadModel("m", 3), "onnx-bytes");
  auto config = repo_->ReadConfig("m");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(**config, R"({"max_batch_size":4})");
  EXPECT_THAT(FilesIn(root_), ElementsAre("m/3/model.onnx", "m/config.json"));
  EXPECT_EQ(repo_->ReadModel("m", 4).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RepositoryTest, MissingConfigIsNullopt) {
  ASSERT_TRUE(repo_->WriteModel("m", 1, "b").ok());
  auto config = repo_->ReadConfig("m");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->has_value());
}

TEST_F(RepositoryTest, ScanFindsNumericVersionsWithModelFile) {
  Touch(root_ / "m" / "1" / "model.onnx");
  Touch(root_ / "m" / "10" / "model.onnx");
  Touch(root_ / "m" / "2" / "model.onnx");
  Touch(root_ / "m" / "3" / "other.bin");     // no model.onnx
  Touch(root_ / "m" / "abc" / "model.onnx");  // not numeric
  Touch(root_ / "m" / "007" / "model.onnx");  // not canonical
  Touch(root_ / "n" / "config.json", "{}");
  Touch(root_ / ".trash" / "1" / "model.onnx");  // invalid model name
  Touch(root_ / "file.txt");
  auto models = repo_->Scan();
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[0].name, "m");
  EXPECT_THAT((*models)[0].versions, ElementsAre(1, 2, 10));
  EXPECT_FALSE((*models)[0].has_config);
  EXPECT_EQ((*models)[1].name, "n");
  EXPECT_TRUE((*models)[1].versions.empty());
  EXPECT_TRUE((*models)[1].has_config);
}

TEST_F(RepositoryTest, ScanRemovesStaleTempFiles) {
  Touch(root_ / "m" / "1" / "model.onnx");
  Touch(root_ / "m" / "1" / ".model.onnx.tmp-123-0");
  Touch(root_ / "m" / ".config.json.tmp-123-1");
  // Only temp files older than kStaleTempFileAgeSeconds are a crash's leftovers.
  for (const char* f : {"1/.model.onnx.tmp-123-0", ".config.json.tmp-123-1"}) {
    fs::last_write_time(root_ / "m" / f, fs::file_time_type::clock::now() - std::chrono::hours(1));
  }
  auto model = repo_->ScanModel("m");
  ASSERT_TRUE(model.ok());
  EXPECT_THAT(FilesIn(root_), ElementsAre("m/1/model.onnx"));
}

TEST_F(RepositoryTest, UnloadedMarker) {
  ASSERT_TRUE(repo_->WriteModel("m", 1, "b").ok());
  EXPECT_FALSE(repo_->ScanModel("m")->unloaded);
  ASSERT_TRUE(repo_->SetUnloaded("m", true).ok());
  EXPECT_TRUE(repo_->ScanModel("m")->unloaded);
  ASSERT_TRUE(repo_->SetUnloaded("m", false).ok());
  ASSERT_TRUE(repo_->SetUnloaded("m", false).ok());  // idempotent
  EXPECT_FALSE(repo_->ScanModel("m")->unloaded);
  EXPECT_THAT(FilesIn(root_), ElementsAre("m/1/model.onnx"));
}

TEST_F(RepositoryTest, ScanModelUnknownIsNotFound) {
  EXPECT_EQ(repo_->ScanModel("ghost").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo_->ScanModel("../etc").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace q8::server
