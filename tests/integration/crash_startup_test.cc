// Startup on a damaged repository (issue 16): one model's trouble stays that
// model's. The exact reproducer (`mkdir -p repo/m/1`), the leftovers a
// SIGKILL during an upload leaves, and an unreadable repository root (the
// only thing that stops startup).
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/server_process.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using Index = std::map<std::string, inference::RepositoryIndexResponse::ModelIndex>;

Index IndexOf(Stub& stub) {
  grpc::ClientContext ctx;
  inference::RepositoryIndexResponse resp;
  EXPECT_TRUE(stub.RepositoryIndex(&ctx, {}, &resp).ok());
  Index out;
  for (const auto& m : resp.models()) out[m.name() + ":" + m.version()] = m;
  return out;
}

void Place(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string LogitsOf(Stub& stub, const std::string& model, const std::string& version = "") {
  inference::ModelInferRequest req = ImageRequest(model, TestImages(), 0, 2, true);
  req.set_model_version(version);
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(stub, req, &resp);
  EXPECT_TRUE(s.ok()) << model << ":" << version << " " << s.error_message();
  return resp.raw_output_contents_size() > 0 ? resp.raw_output_contents(0) : "";
}

// Issue 16's reproducer: exited 1 with "cannot list model directory".
TEST(CrashStartupTest, EmptyVersionDirectoryDoesNotStopStartup) {
  const std::string repo = MakeTempDir("q8_mkdir_only");
  fs::create_directories(fs::path(repo) / "m" / "1");
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo));
  auto index = IndexOf(*server.Stub());
  EXPECT_EQ(index["m:"].state(), "UNAVAILABLE");
  EXPECT_THAT(index["m:"].reason(), HasSubstr("no version directory with a model.onnx"));
  EXPECT_THAT(server.Log(), HasSubstr("ignoring version directory 1 (no model.onnx)"));
  EXPECT_EQ(server.Stop(), 0);
}

TEST(CrashStartupTest, LeftoversAndBrokenModelsAreReportedGoodModelsServe) {
  TestImages();
  const fs::path repo = MakeTempDir("q8_damaged");
  const std::string mlp = ReadFileOrDie(TestDataPath("fashion_mlp.onnx"));
  const std::string cnn = ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
  fs::create_directories(repo / "empty_version" / "1");
  Place(repo / "temp_only" / "1" / ".model.onnx.tmp-4242-0", mlp.substr(0, 100));  // what the SIGKILL left
  Place(repo / "config_only" / "config.json", kFp32Config);
  Place(repo / "good" / "config.json", kFp32Config);
  Place(repo / "good" / "1" / "model.onnx", mlp);
  Place(repo / "newer_empty" / "config.json", kFp32Config);
  Place(repo / "newer_empty" / "1" / "model.onnx", cnn);
  fs::create_directories(repo / "newer_empty" / "2");
  fs::create_symlink(repo / "nowhere", repo / "dangling");
  Place(repo / "corrupt" / "config.json", kFp32Config);
  Place(repo / "corrupt" / "1" / "model.onnx", "not onnx");

  ServerProcess server;
  ASSERT_TRUE(server.Start(repo.string())) << "one damaged model directory must not stop the server";
  auto stub = server.Stub();
  auto index = IndexOf(*stub);
  EXPECT_EQ(index["good:1"].state(), "READY");
  EXPECT_EQ(index["newer_empty:1"].state(), "READY");
  EXPECT_EQ(index.count("newer_empty:2"), 0u);
  // The newest complete version serves an unversioned request.
  EXPECT_EQ(LogitsOf(*stub, "newer_empty"), LogitsOf(*stub, "newer_empty", "1"));
  EXPECT_EQ(LogitsOf(*stub, "good").size(), 2 * 10 * sizeof(float));
  for (const char* broken : {"empty_version", "temp_only", "config_only"}) {
    EXPECT_EQ(index[std::string(broken) + ":"].state(), "UNAVAILABLE") << broken;
    EXPECT_THAT(index[std::string(broken) + ":"].reason(), HasSubstr("no version directory with a model.onnx"));
  }
  EXPECT_EQ(index["dangling:"].state(), "UNAVAILABLE");
  EXPECT_THAT(index["dangling:"].reason(), HasSubstr("cannot read the model directory"));
  EXPECT_EQ(index["corrupt:1"].state(), "UNAVAILABLE");
  // A young temp file of unknown owner may be another replica's write: kept, and the log says so.
  EXPECT_TRUE(fs::exists(repo / "temp_only" / "1" / ".model.onnx.tmp-4242-0"));
  EXPECT_THAT(server.Log(), HasSubstr("ignoring temp file"));
  EXPECT_EQ(server.Stop(), 0);
}

TEST(CrashStartupTest, UnreadableRepositoryRootStopsStartupWithAMessage) {
  const fs::path dir = MakeTempDir("q8_root_file");
  Place(dir / "not_a_dir", "x");
  const std::string log = (dir / "server.log").string();
  pid_t pid = Spawn({ServerBinary(), "--model_repository=" + (dir / "not_a_dir").string(),
                     "--grpc_address=127.0.0.1:" + std::to_string(PickFreePort()), "--metrics_port=-1"},
                    log);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_THAT(ReadFileOrDie(log), HasSubstr("model repository"));
  EXPECT_THAT(ReadFileOrDie(log), HasSubstr("not_a_dir"));
}

}  // namespace
}  // namespace q8::testing
