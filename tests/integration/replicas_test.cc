// Replicas sharing one model repository (--repository_poll_seconds), with
// two real q8serve processes on one directory: an upload with static
// quantization to A is served by B from the persisted artifact (bit-identical
// outputs, the same report, no calibration on B); an unload on A reaches B; a
// half-written upload is never picked up by either. Also `q8serve
// --health_probe` against a live server and a dead port.
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/server_process.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using Health = grpc::health::v1::HealthCheckResponse;

constexpr double kPollSeconds = 1.0;
constexpr char kPollFlag[] = "--repository_poll_seconds=1";
constexpr char kStaticConfig[] = R"({"max_batch_size":64,"quantization":{"mode":"static"}})";

Health::ServingStatus ModelHealth(const ServerProcess& server, const std::string& model) {
  Health::ServingStatus status = Health::UNKNOWN;
  grpc::Status s = server.HealthCheck(model, &status);
  return s.ok() ? status : Health::SERVICE_UNKNOWN;
}

// Seconds until `model`'s health on `server` is `want`; -1 if not within `limit`.
double SecondsUntil(const ServerProcess& server, const std::string& model, Health::ServingStatus want,
                    double limit) {
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (ModelHealth(server, model) == want) return waited;
    if (waited > limit) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = MakeTempDir("q8_replicas");
    a_.set_log_suffix(".a.log");
    b_.set_log_suffix(".b.log");
    ASSERT_TRUE(a_.Start(repo_, {kPollFlag}));
    ASSERT_TRUE(b_.Start(repo_, {kPollFlag}));
    TestImages();
  }
  void TearDown() override {
    if (a_.running()) {
      EXPECT_EQ(a_.Stop(), 0) << a_.Log();
    }
    if (b_.running()) {
      EXPECT_EQ(b_.Stop(), 0) << b_.Log();
    }
  }

  std::string repo_;
  ServerProcess a_, b_;
};

TEST_F(ReplicasTest, UploadToOneReplicaIsServedByTheOtherFromThePersistedQuantization) {
  auto model_a = a_.ModelStub();
  StreamedUpload up = StreamUpload(*model_a, "cnn", 1, kStaticConfig,
                                   {{"model.onnx", ReadFileOrDie(TestDataPath("fashion_cnn.onnx"))},
                                    {"calibration/inputs.npy", CalibrationInputsNpy()},
                                    {"calibration/labels.npy", CalibrationLabelsNpy()}});
  ASSERT_TRUE(up.status.ok()) << up.status.error_message() << a_.Log();
  // B needs one poll interval to notice plus the time to rebuild the int8
  // model from quantization.json (no calibration); the bound leaves room for
  // a loaded CI machine.
  const double seconds = SecondsUntil(b_, "cnn", Health::SERVING, kPollSeconds + 60);
  ASSERT_GE(seconds, 0) << "B never served the model\n" << b_.Log();
  std::printf("replica B served the upload %.2f s after A finished it (poll interval %.1f s)\n", seconds,
              kPollSeconds);

  // The same quantized model: bit-identical outputs on 3 batches, the same report.
  for (int first : {0, 64, 500}) {
    EXPECT_EQ(RawLogits(*b_.Stub(), "cnn", first, 64), RawLogits(*a_.Stub(), "cnn", first, 64)) << first;
  }
  std::string report_a, report_b;
  ASSERT_TRUE(GetReport(*model_a, "cnn", 1, &report_a).ok());
  ASSERT_TRUE(GetReport(*b_.ModelStub(), "cnn", 1, &report_b).ok());
  EXPECT_EQ(report_b, report_a);
  EXPECT_EQ(report_b, ReadFileOrDie((fs::path(repo_) / "cnn" / "1" / "report.json").string()));
  // B loaded the artifact and never calibrated; A did not reload its own upload.
  EXPECT_THAT(b_.Log(), HasSubstr("model 'cnn' version 1: loaded from quantization.json"));
  EXPECT_THAT(b_.Log(), Not(HasSubstr("quantizing")));
  EXPECT_THAT(a_.Log(), Not(HasSubstr("model 'cnn': adopted from the shared repository")));

  // Unload on A: B stops serving it within a poll interval.
  ASSERT_TRUE(Unload(*a_.Stub(), "cnn").ok());
  ASSERT_GE(SecondsUntil(b_, "cnn", Health::NOT_SERVING, kPollSeconds + 30), 0) << b_.Log();
  inference::ModelInferResponse resp;
  EXPECT_EQ(Infer(*b_.Stub(), ImageRequest("cnn", TestImages(), 0, 1, true), &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Deleting the model directory is an unload too; a new upload then reaches B again.
  ASSERT_TRUE(UploadModel(*a_.Stub(), "mlp", ReadFileOrDie(TestDataPath("fashion_mlp.onnx"))).ok());
  ASSERT_GE(SecondsUntil(b_, "mlp", Health::SERVING, kPollSeconds + 60), 0) << b_.Log();
  EXPECT_EQ(RawLogits(*b_.Stub(), "mlp", 0, 8), RawLogits(*a_.Stub(), "mlp", 0, 8));
  fs::remove_all(fs::path(repo_) / "mlp");
  ASSERT_GE(SecondsUntil(b_, "mlp", Health::NOT_SERVING, kPollSeconds + 30), 0) << b_.Log();
}

TEST_F(ReplicasTest, HalfWrittenUploadIsNeverPickedUp) {
  // What a writer leaves between renaming model.onnx and quantization.json
  // into place: a version directory with the float model, a static config,
  // and the artifact still in its temp file (the loader's temp naming).
  const fs::path dir = fs::path(repo_) / "half";
  WriteFile(dir / "config.json", kStaticConfig);
  WriteFile(dir / "1" / "model.onnx", ReadFileOrDie(TestDataPath("fashion_cnn.onnx")));
  WriteFile(dir / "1" / ".quantization.json.tmp-4242-0", "{\"format\": \"q8serve-quant");
  // And a model whose model.onnx itself is still being written.
  WriteFile(fs::path(repo_) / "partial" / "1" / ".model.onnx.tmp-4242-1", "\x08\x07");
  // A marker upload after them: once B serves it, B has polled past them.
  ASSERT_TRUE(UploadModel(*a_.Stub(), "marker", ReadFileOrDie(TestDataPath("fashion_mlp.onnx"))).ok());
  ASSERT_GE(SecondsUntil(b_, "marker", Health::SERVING, kPollSeconds + 60), 0) << b_.Log();
  std::this_thread::sleep_for(std::chrono::duration<double>(3 * kPollSeconds));
  for (const ServerProcess* server : {&a_, &b_}) {
    EXPECT_EQ(ModelHealth(*server, "half"), Health::SERVICE_UNKNOWN) << server->Log();
    EXPECT_EQ(ModelHealth(*server, "partial"), Health::SERVICE_UNKNOWN);
    EXPECT_THAT(server->Log(), Not(HasSubstr("'half'")));
  }
  // Nobody wrote to it or removed the writer's temp files.
  EXPECT_FALSE(fs::exists(dir / "1" / "quantization.json"));
  EXPECT_TRUE(fs::exists(dir / "1" / ".quantization.json.tmp-4242-0"));
  EXPECT_TRUE(fs::exists(fs::path(repo_) / "partial" / "1" / ".model.onnx.tmp-4242-1"));
}

// ---- q8serve --health_probe ----

int RunProbe(const std::string& address) {
  const std::string cmd = std::string(ServerBinary()) + " --health_probe --grpc_address=" + address + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) std::printf("  probe: %s", buf);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(HealthProbeTest, ZeroForAServingServerNonZeroForADeadPort) {
  const std::string repo = MakeTempDir("q8_probe");
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo));
  const std::string port = server.address().substr(server.address().rfind(':') + 1);
  EXPECT_EQ(RunProbe(server.address()), 0);
  EXPECT_EQ(RunProbe("0.0.0.0:" + port), 0);  // a listen address: probed on loopback
  ASSERT_EQ(server.Stop(), 0);
  EXPECT_EQ(RunProbe("127.0.0.1:" + port), 1);  // nothing listens there any more
}

}  // namespace
}  // namespace q8::testing
