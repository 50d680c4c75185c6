#include "server/model_loader.h"

#include <filesystem>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/server/fake_model.h"

namespace q8::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("q8loader_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    repo_ = std::make_unique<ModelRepository>(root_.string());
    ASSERT_TRUE(repo_->Init().ok());
    MakeLoader(testing::FakeCompile);
  }
  void TearDown() override { fs::remove_all(root_); }
  void MakeLoader(CompileFn compile) {
    LoaderOptions o;
    o.compile = std::move(compile);
    o.on_ready_changed = [this](const std::string& name, bool ready) { notified_[name] = ready; };
    loader_ = std::make_unique<ModelLoader>(std::move(o), repo_.get(), &registry_);
  }
  static LoadRequest Upload(const std::string& name, int64_t version, absl::string_view bytes) {
    LoadRequest r;
    r.name = name;
    r.files[version] = bytes;
    return r;
  }

  fs::path root_;
  std::unique_ptr<ModelRepository> repo_;
  ModelRegistry registry_;
  std::unique_ptr<ModelLoader> loader_;
  std::map<std::string, bool> notified_;
};

TEST_F(LoaderTest, UploadWritesPublishesAndNotifies) {
  LoadRequest r = Upload("m", 1, "good");
  r.config_json = R"({"max_batch_size":4})";
  ASSERT_TRUE(loader_->Load(r).ok());
  EXPECT_EQ(*repo_->ReadModel("m", 1), "good");
  EXPECT_TRUE(fs::exists(root_ / "m" / "config.json"));
  auto h = registry_.Get("m", "");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->model->max_batch_size(), 4);
  EXPECT_TRUE(notified_["m"]);
}

TEST_F(LoaderTest, CompileFailureWritesNothingAndOldKeepsServing) {
  ASSERT_TRUE(loader_->Load(Upload("m", 1, "good")).ok());
  auto before = registry_.Get("m", "1");
  absl::Status s = loader_->Load(Upload("m", 2, "bad"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("model 'm' version 2: unsupported op 'Erf'"));
  EXPECT_FALSE(fs::exists(root_ / "m" / "2"));
  auto after = registry_.Get("m", "");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, 1);
  EXPECT_EQ(after->model, before->model);  // not even recompiled
  // Replacing version 1 with a bad file keeps the old version 1.
  EXPECT_FALSE(loader_->Load(Upload("m", 1, "bad")).ok());
  EXPECT_EQ(*repo_->ReadModel("m", 1), "good");
  EXPECT_EQ(registry_.Get("m", "1")->model, before->model);
}

TEST_F(LoaderTest, BadConfigIsRejectedBeforeCompiling) {
  LoadRequest r = Upload("m", 1, "good");
  r.config_json = "{oops";
  EXPECT_EQ(loader_->Load(r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_ / "m"));
  EXPECT_FALSE(registry_.Contains("m"));
}

TEST_F(LoaderTest, ReloadWithoutFilesUsesDisk) {
  EXPECT_EQ(loader_->Load(LoadRequest{"ghost", std::nullopt, {}}).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(loader_->Load(Upload("m", 1, "good")).ok());
  ASSERT_TRUE(loader_->Unload("m").ok());
  EXPECT_FALSE(registry_.AnyReady("m"));
  EXPECT_FALSE(notified_["m"]);
  EXPECT_TRUE(repo_->ScanModel("m")->unloaded);
  ASSERT_TRUE(loader_->Load(LoadRequest{"m", std::nullopt, {}}).ok());
  EXPECT_TRUE(registry_.AnyReady("m"));
  EXPECT_FALSE(repo_->ScanModel("m")->unloaded);
}

TEST_F(LoaderTest, UnloadUnknownIsNotFound) {
  absl::Status s = loader_->Unload("ghost");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'ghost'"));
}

TEST_F(LoaderTest, ConcurrentLoadOfSameNameIsAborted) {
  absl::Notification compiling, release;
  MakeLoader([&](absl::string_view bytes, const engine::CompileOptions& o) {
    if (bytes == "slow") {
      compiling.Notify();
      release.WaitForNotification();
    }
    return testing::FakeCompile(bytes, o);
  });
  absl::Status first;
  std::thread t([&] { first = loader_->Load(Upload("m", 1, "slow")); });
  compiling.WaitForNotification();
  absl::Status second = loader_->Load(Upload("m", 2, "good"));
  EXPECT_EQ(second.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(second.message()), HasSubstr("already in progress"));
  EXPECT_EQ(loader_->Unload("m").code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(loader_->Load(Upload("other", 1, "good")).ok());  // other names proceed
  release.Notify();
  t.join();
  EXPECT_TRUE(first.ok()) << first;
  EXPECT_TRUE(loader_->Load(Upload("m", 2, "good")).ok());  // and afterwards it works
  EXPECT_EQ(registry_.Get("m", "")->version, 2);
}

TEST_F(LoaderTest, StartupLoadsRepositoryAndRecordsFailures) {
  ASSERT_TRUE(repo_->WriteModel("a", 1, "good").ok());
  ASSERT_TRUE(repo_->WriteModel("a", 2, "bad").ok());
  ASSERT_TRUE(repo_->WriteModel("b", 1, "good").ok());
  ASSERT_TRUE(repo_->SetUnloaded("b", true).ok());
  ASSERT_TRUE(repo_->WriteModel("c", 1, "good").ok());
  ASSERT_TRUE(repo_->WriteConfig("c", "not json").ok());
  ASSERT_TRUE(loader_->LoadAll().ok());
  EXPECT_EQ(registry_.Get("a", "")->version, 1);
  auto a2 = registry_.Get("a", "2");
  EXPECT_THAT(std::string(a2.status().message()), HasSubstr("UNAVAILABLE"));
  EXPECT_FALSE(registry_.AnyReady("b"));
  EXPECT_FALSE(registry_.AnyReady("c"));
  std::map<std::string, std::string> reasons;
  for (const auto& e : registry_.Index()) {
    reasons[e.name + ":" + std::to_string(e.version)] = std::string(ToString(e.state)) + " " + e.reason;
  }
  EXPECT_EQ(reasons["a:1"], "READY ");
  EXPECT_THAT(reasons["a:2"], HasSubstr("UNAVAILABLE model 'a' version 2: unsupported op"));
  EXPECT_EQ(reasons["b:0"], "UNAVAILABLE unloaded");
  EXPECT_THAT(reasons["c:0"], HasSubstr("not valid JSON"));
  EXPECT_TRUE(notified_["a"]);
}

// ---- RepositoryModelLoad parameter parsing ----

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
  EXPECT_EQ(p->files.at(1), "abc");
  EXPECT_EQ(p->files.at(12), "de");
}

void ExpectParseError(const inference::RepositoryModelLoadRequest& r, absl::StatusCode code,
                      absl::string_view needle, int64_t limit = 100) {
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
  ExpectParseError(r, absl::StatusCode::kInvalidArgument, "file:<version>/model.onnx");
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
}

}  // namespace
}  // namespace q8::server
