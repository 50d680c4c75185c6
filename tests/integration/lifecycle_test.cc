// Integration tests that each run their own q8serve process: restart on the
// same repository, unload persistence, startup with a broken model, upload
// size limit, graceful SIGTERM with in-flight requests and drain.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/server_process.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Health = grpc::health::v1::HealthCheckResponse;

std::map<std::string, inference::RepositoryIndexResponse::ModelIndex> IndexByName(Stub& stub) {
  grpc::ClientContext ctx;
  inference::RepositoryIndexResponse resp;
  EXPECT_TRUE(stub.RepositoryIndex(&ctx, {}, &resp).ok());
  std::map<std::string, inference::RepositoryIndexResponse::ModelIndex> out;
  for (const auto& m : resp.models()) out[m.name() + ":" + m.version()] = m;
  return out;
}

bool InferOk(Stub& stub, const std::string& model) {
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(stub, ImageRequest(model, TestImages(), 0, 1, true), &resp);
  if (!s.ok()) std::cerr << model << ": " << s.error_code() << " " << s.error_message() << "\n";
  return s.ok() && Logits(resp).size() == 10;
}

// A hand-populated model directory; the config serves it in fp32 (without
// calibration data the default static quantization would refuse it).
void PlaceModel(const std::string& repo, const std::string& name, const std::string& bytes,
                const std::string& config = kFp32Config) {
  fs::create_directories(fs::path(repo) / name / "1");
  std::ofstream(fs::path(repo) / name / "1" / "model.onnx", std::ios::binary) << bytes;
  std::ofstream(fs::path(repo) / name / "config.json") << config;
}

TEST(LifecycleTest, RestartServesUploadedModelsAndRemembersUnloads) {
  TestImages();
  const std::string repo = MakeTempDir("q8_restart");
  const std::string cnn = ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
  const std::string mlp = ReadFileOrDie(TestDataPath("fashion_mlp.onnx"));
  {
    ServerProcess server;
    ASSERT_TRUE(server.Start(repo));
    auto stub = server.Stub();
    ASSERT_TRUE(UploadModel(*stub, "cnn", cnn).ok());
    ASSERT_TRUE(UploadModel(*stub, "mlp", mlp).ok());
    ASSERT_TRUE(InferOk(*stub, "cnn"));
    ASSERT_TRUE(Unload(*stub, "mlp").ok());
    EXPECT_FALSE(InferOk(*stub, "mlp"));
    EXPECT_EQ(server.Stop(), 0) << server.Log();
  }
  // Files stay on disk; no temp files are left.
  EXPECT_TRUE(fs::exists(fs::path(repo) / "cnn" / "1" / "model.onnx"));
  EXPECT_TRUE(fs::exists(fs::path(repo) / "mlp" / "1" / "model.onnx"));
  for (const auto& e : fs::recursive_directory_iterator(repo)) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp-")));
  }
  {
    ServerProcess server;
    ASSERT_TRUE(server.Start(repo));
    auto stub = server.Stub();
    EXPECT_TRUE(InferOk(*stub, "cnn"));
    EXPECT_FALSE(InferOk(*stub, "mlp"));
    auto index = IndexByName(*stub);
    EXPECT_EQ(index["cnn:1"].state(), "READY");
    EXPECT_EQ(index["mlp:"].state(), "UNAVAILABLE");
    EXPECT_EQ(index["mlp:"].reason(), "unloaded");
    // Load without files reloads the unloaded model from the repository.
    inference::RepositoryModelLoadRequest req;
    req.set_model_name("mlp");
    inference::RepositoryModelLoadResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->RepositoryModelLoad(&ctx, req, &resp).ok());
    EXPECT_TRUE(InferOk(*stub, "mlp"));
    EXPECT_EQ(server.Stop(), 0) << server.Log();
  }
}

TEST(LifecycleTest, BrokenModelAtStartupIsUnavailableAndServerStillServes) {
  const std::string repo = MakeTempDir("q8_broken");
  PlaceModel(repo, "good", ReadFileOrDie(TestDataPath("fashion_cnn.onnx")));
  PlaceModel(repo, "broken", "not an onnx model");
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo));
  auto stub = server.Stub();
  EXPECT_TRUE(InferOk(*stub, "good"));
  auto index = IndexByName(*stub);
  EXPECT_EQ(index["broken:1"].state(), "UNAVAILABLE");
  EXPECT_THAT(index["broken:1"].reason(), HasSubstr("model 'broken' version 1"));
  Health::ServingStatus status{};
  ASSERT_TRUE(server.HealthCheck("good", &status).ok());
  EXPECT_EQ(status, Health::SERVING);
  ASSERT_TRUE(server.HealthCheck("broken", &status).ok());
  EXPECT_EQ(status, Health::NOT_SERVING);
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

TEST(LifecycleTest, UploadOverSizeLimitIsResourceExhausted) {
  const std::string repo = MakeTempDir("q8_limit");
  PlaceModel(repo, "preloaded", ReadFileOrDie(TestDataPath("fashion_cnn.onnx")));
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo, {"--max_upload_bytes=100000"}));
  auto stub = server.Stub();
  grpc::Status s = UploadModel(*stub, "big", ReadFileOrDie(TestDataPath("fashion_mlp.onnx")));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("upload limit of 100000 bytes"));
  EXPECT_FALSE(fs::exists(fs::path(repo) / "big"));
  EXPECT_TRUE(InferOk(*stub, "preloaded"));
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

TEST(LifecycleTest, SigtermDrainsThenExitsCleanlyWithRequestsInFlight) {
  TestImages();
  const std::string repo = MakeTempDir("q8_sigterm");
  PlaceModel(repo, "cnn", ReadFileOrDie(TestDataPath("fashion_cnn.onnx")));
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo, {"--drain_seconds=1.5", "--shutdown_grace_seconds=10"}));
  {
    auto stub = server.Stub();
    ASSERT_TRUE(InferOk(*stub, "cnn")) << server.Log();
  }

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      auto stub = server.Stub();
      auto req = ImageRequest("cnn", TestImages(), 0, 32, true);
      while (!stop) {
        inference::ModelInferResponse resp;
        grpc::Status s = Infer(*stub, req, &resp, 10);
        if (s.ok()) {
          ++ok;
        } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::CANCELLED) {
          // After the drain: refused ("server is shutting down", connection
          // refused) or, for a call racing grpc's final stop, cancelled.
          ++refused;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else {
          ++other;
          std::cerr << "unexpected: " << s.error_code() << " " << s.error_message() << "\n";
          return;
        }
      }
    });
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ok < 10 && other == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (ok < 10) {
    stop = true;
    for (auto& t : clients) t.join();
    FAIL() << "inference did not work before SIGTERM\n" << server.Log();
  }
  server.Signal(SIGTERM);
  // During the drain window: health says NOT_SERVING, inference still works.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Health::ServingStatus status{};
  ASSERT_TRUE(server.HealthCheck("", &status).ok());
  EXPECT_EQ(status, Health::NOT_SERVING);
  ASSERT_TRUE(server.HealthCheck("cnn", &status).ok());
  EXPECT_EQ(status, Health::NOT_SERVING);
  const int ok_at_drain = ok;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(ok.load(), ok_at_drain) << "inference must keep working while draining";
  auto stub = server.Stub();
  grpc::Status load = UploadModel(*stub, "late", "x");
  EXPECT_EQ(load.error_code(), grpc::StatusCode::UNAVAILABLE);

  EXPECT_EQ(server.WaitForExit(30), 0) << server.Log();
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(other, 0);
  EXPECT_GT(ok, 10);
}

// Regression: gRPC's default SO_REUSEPORT let a second q8serve bind a port
// already serving and take part of its connections (seen as cross-talk
// between parallel test servers). Now the second one fails to start.
TEST(LifecycleTest, GrpcPortInUseIsAStartupError) {
  ServerProcess first;
  ASSERT_TRUE(first.Start(MakeTempDir("q8_port_first")));
  ServerProcess second;
  EXPECT_FALSE(second.Start(MakeTempDir("q8_port_second"), {"--grpc_address=" + first.address()}, 20));
  EXPECT_THAT(second.Log(), HasSubstr("cannot listen on " + first.address()));
  grpc::health::v1::HealthCheckResponse::ServingStatus serving{};
  EXPECT_TRUE(first.HealthCheck("", &serving).ok());
  EXPECT_EQ(first.Stop(), 0) << first.Log();
}

}  // namespace
}  // namespace q8::testing
