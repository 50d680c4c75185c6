#include "server/model_repository.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("q8repo_" + std::to_string(::getpid()) + "_" +
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

// Runs `body` in a child process that then dies without any cleanup (as a
// SIGKILL would leave things); the child's pid is gone when this returns.
void InDeadChild(const std::function<void()>& body) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
}

std::vector<std::string> Hidden(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string()[0] == '.') out.push_back(e.path().filename().string());
  }
  return out;
}

// Issue 16's reproducer: `mkdir -p repo/m/1` made the scan (and startup) fail.
TEST_F(RepositoryTest, EmptyVersionDirectoriesAndTempOnlyVersionsDoNotFailTheScan) {
  fs::create_directories(root_ / "m" / "1");
  Touch(root_ / "m5" / "1" / ".model.onnx.tmp-123-0");  // what the SIGKILL left
  Touch(root_ / "good" / "1" / "model.onnx");
  fs::create_directories(root_ / "good" / "2");  // a newer version being copied in by hand
  auto models = repo_->Scan();
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 3u);
  EXPECT_EQ((*models)[0].name, "good");
  EXPECT_THAT((*models)[0].versions, ElementsAre(1));
  EXPECT_EQ((*models)[1].name, "m");
  EXPECT_THAT((*models)[1].versions, IsEmpty());
  EXPECT_EQ((*models)[1].error, "");
  EXPECT_THAT((*models)[2].versions, IsEmpty());
  // Ignored, not deleted: a young temp file of unknown owner may be another
  // replica's write; a version directory may be filling by hand.
  EXPECT_TRUE(fs::exists(root_ / "m5" / "1" / ".model.onnx.tmp-123-0"));
  EXPECT_TRUE(fs::is_directory(root_ / "good" / "2"));
  auto one = repo_->ScanModel("m5");
  ASSERT_TRUE(one.ok()) << one.status();
}

TEST_F(RepositoryTest, UnreadableEntriesStayTheirModelsTrouble) {
  Touch(root_ / "good" / "1" / "model.onnx");
  fs::create_symlink(root_ / "nowhere", root_ / "dangling");
  fs::create_directories(root_ / "loop" / "1");
  fs::create_symlink(root_ / "loop" / "1" / "model.onnx", root_ / "loop" / "1" / "model.onnx");
  Touch(root_ / "loop" / "2" / "model.onnx");
  auto models = repo_->Scan();
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 3u);
  EXPECT_EQ((*models)[0].name, "dangling");
  EXPECT_THAT((*models)[0].error, ::testing::HasSubstr("No such file or directory"));
  EXPECT_THAT((*models)[1].versions, ElementsAre(1));
  EXPECT_EQ((*models)[2].name, "loop");
  EXPECT_THAT((*models)[2].versions, ElementsAre(2));
  ASSERT_EQ((*models)[2].version_errors.count(1), 1u);
  EXPECT_THAT((*models)[2].version_errors.at(1), ::testing::HasSubstr("symbolic links"));
}

TEST_F(RepositoryTest, UnreadableRootFailsInitAndScan) {
  Touch(root_ / "file");
  ModelRepository on_file((root_ / "file").string());
  EXPECT_FALSE(on_file.Init().ok());
  EXPECT_FALSE(on_file.Scan().ok());
}

TEST_F(RepositoryTest, ModelWriteIsInvisibleUntilCommitAndKeepsOtherFiles) {
  Touch(root_ / "m" / "1" / "model.onnx", "v1");
  Touch(root_ / "m" / "1" / "calibration" / "inputs.npy", "npy");
  Touch(root_ / "m" / "config.json", "{}");
  {
    auto write = repo_->BeginWrite("m");
    ASSERT_TRUE(write.ok()) << write.status();
    ASSERT_TRUE((*write)->WriteFile("1/model.onnx", "v1-new").ok());
    ASSERT_TRUE((*write)->WriteFile("2/model.onnx", "v2").ok());
    ASSERT_TRUE((*write)->RemoveFile("config.json").ok());
    ASSERT_TRUE((*write)->RemoveFile("UNLOADED").ok());
    EXPECT_THAT(FilesIn(root_ / "m"), ElementsAre("1/calibration/inputs.npy", "1/model.onnx", "config.json"));
    EXPECT_EQ(*ReadFile((root_ / "m" / "1" / "model.onnx").string()), "v1");  // a link, not written through
    ASSERT_TRUE((*write)->Commit().ok());
  }
  EXPECT_THAT(FilesIn(root_ / "m"), ElementsAre("1/calibration/inputs.npy", "1/model.onnx", "2/model.onnx"));
  EXPECT_EQ(*ReadFile((root_ / "m" / "1" / "model.onnx").string()), "v1-new");
  EXPECT_THAT(Hidden(root_), IsEmpty());
  {
    auto write = repo_->BeginWrite("m");
    ASSERT_TRUE(write.ok());
    ASSERT_TRUE((*write)->WriteFile("3/model.onnx", "v3").ok());
  }  // not committed: nothing changes, nothing is left behind
  EXPECT_THAT(FilesIn(root_ / "m"), ElementsAre("1/calibration/inputs.npy", "1/model.onnx", "2/model.onnx"));
  EXPECT_THAT(Hidden(root_), IsEmpty());
  auto fresh = repo_->BeginWrite("n");
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->WriteFile("1/model.onnx", "n1").ok());
  ASSERT_TRUE((*fresh)->Commit().ok());
  EXPECT_THAT(FilesIn(root_ / "n"), ElementsAre("1/model.onnx"));
  EXPECT_EQ((*fresh)->WriteFile("../x", "").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RepositoryTest, LeftoversOfADeadWriterAreRemovedAtOnce) {
  Touch(root_ / "m" / "1" / "model.onnx", "v1");
  InDeadChild([&] {
    auto write = repo_->BeginWrite("m");
    if (write.ok()) (void)(*write)->WriteFile("2/model.onnx", "v2");
    (void)AtomicWriteFile((root_ / "m" / "1" / "x").string(), "temp");  // completes
    ::_exit(0);                                                         // no destructors of `write`: like a kill
  });
  // Plant a temp file of the same dead writer, as a kill before a rename leaves.
  std::string staging = Hidden(root_).at(0);
  const std::string owner = staging.substr(staging.find(".tmp-") + 5);
  Touch(root_ / "m" / "1" / (".model.onnx.tmp-" + owner), "half");
  ASSERT_THAT(Hidden(root_), ::testing::SizeIs(1));
  auto models = repo_->Scan();
  ASSERT_TRUE(models.ok());
  EXPECT_THAT(Hidden(root_), IsEmpty());
  EXPECT_THAT(FilesIn(root_), ElementsAre("m/1/model.onnx", "m/1/x"));
}

TEST_F(RepositoryTest, OwnWritesInProgressAreKept) {
  Touch(root_ / "m" / "1" / "model.onnx", "v1");
  auto write = repo_->BeginWrite("m");
  ASSERT_TRUE(write.ok());
  ASSERT_TRUE((*write)->WriteFile("2/model.onnx", "v2").ok());
  ASSERT_TRUE(repo_->Scan().ok());
  ASSERT_TRUE(repo_->ScanModel("m").ok());
  EXPECT_THAT(Hidden(root_), ::testing::SizeIs(1));
  ASSERT_TRUE((*write)->Commit().ok());
  EXPECT_THAT(FilesIn(root_ / "m"), ElementsAre("1/model.onnx", "2/model.onnx"));
}

// A commit without RENAME_EXCHANGE killed between its two renames: the model
// directory is missing, the staging directory complete. The next scan
// finishes the commit instead of losing the model.
TEST_F(RepositoryTest, InterruptedTwoRenameCommitIsFinished) {
  Touch(root_ / "m" / "1" / "model.onnx", "v1");
  InDeadChild([&] {
    auto write = repo_->BeginWrite("m");
    if (write.ok()) (void)(*write)->WriteFile("1/model.onnx", "v1-new");
    ::_exit(0);
  });
  const std::string staging = Hidden(root_).at(0);
  const std::string owner = staging.substr(staging.find(".tmp-") + 5);
  const std::string old_name = ".m.old-" + owner;
  fs::rename(root_ / "m", root_ / old_name);
  EXPECT_EQ(RetiredTreeModel(old_name), "m");
  ASSERT_TRUE(repo_->Scan().ok());
  EXPECT_THAT(Hidden(root_), IsEmpty());
  EXPECT_EQ(*ReadFile((root_ / "m" / "1" / "model.onnx").string()), "v1-new");
}

TEST_F(RepositoryTest, StepHookSeesEveryChangeInOrder) {
  std::vector<std::string> steps;
  SetRepositoryStepHookForTesting(
      [&](absl::string_view step) { steps.push_back(std::string(step.substr(0, step.find(' ')))); });
  auto write = repo_->BeginWrite("m");
  ASSERT_TRUE(write.ok());
  ASSERT_TRUE((*write)->WriteFile("1/model.onnx", "v1").ok());
  ASSERT_TRUE((*write)->Commit().ok());
  SetRepositoryStepHookForTesting(nullptr);
  EXPECT_THAT(steps, ElementsAre("mkdir", "mkdir", "create", "write", "rename"));
}

}  // namespace
}  // namespace q8::server
