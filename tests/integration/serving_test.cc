// Integration tests against one shared q8serve process: upload, inference
// against PyTorch golden logits, metadata, health, and every bad-input path
// (each checks the status code, the message, and that the server still
// serves afterwards).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/onnx_fixtures.h"
#include "tests/integration/server_process.h"
#include "tests/integration/shared_server_suite.h"

namespace q8::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Health = grpc::health::v1::HealthCheckResponse;

constexpr char kCnn[] = "fashion_cnn";

class ServingTest : public SharedServerSuite<ServingTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_serving";
  static void PrepareServer(ServerProcess& server) {
    TestImages();
    TestLabels();
    GoldenLogits();
    grpc::Status s = UploadModel(*server.Stub(), kCnn, ReadFileOrDie(TestDataPath("fashion_cnn.onnx")),
                                 R"({"max_batch_size":64,"warmup_batch_sizes":[1,8],"quantization":{"mode":"none"}})");
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
  }

 protected:
  // The shared model still answers correctly (after an error elsewhere).
  void UnloadWhileRequestsInFlight(const std::string& config);
  void ExpectStillServes() {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, ImageRequest(kCnn, TestImages(), 0, 1, true), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    std::vector<float> logits = Logits(resp);
    ASSERT_EQ(logits.size(), 10u);
    EXPECT_NEAR(logits[3], GoldenLogits().span<float>()[3], 1e-4);
  }
  void ExpectInferError(const inference::ModelInferRequest& req, grpc::StatusCode code, const std::string& needle) {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, req, &resp);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(needle));
    ExpectStillServes();
  }
  void CompareWithGolden(int first, int batch, bool raw) {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, ImageRequest(kCnn, TestImages(), first, batch, raw), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.model_name(), kCnn);
    EXPECT_EQ(resp.model_version(), "1");
    EXPECT_EQ(resp.id(), "req-" + std::to_string(first));
    ASSERT_EQ(resp.outputs_size(), 1);
    EXPECT_EQ(resp.outputs(0).name(), "logits");
    EXPECT_EQ(resp.outputs(0).datatype(), "FP32");
    EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(batch, 10));
    EXPECT_EQ(resp.raw_output_contents_size(), raw ? 1 : 0);
    std::vector<float> logits = Logits(resp);
    ASSERT_EQ(logits.size(), static_cast<size_t>(batch) * 10);
    const float* golden = GoldenLogits().span<float>().data() + static_cast<size_t>(first) * 10;
    float max_diff = 0;
    for (size_t i = 0; i < logits.size(); ++i) max_diff = std::max(max_diff, std::abs(logits[i] - golden[i]));
    EXPECT_LE(max_diff, 1e-4f) << "batch " << batch << (raw ? " raw" : " typed");
  }
};

TEST_F(ServingTest, ReadinessAndHealth) {
  grpc::ClientContext c1;
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(&c1, {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  grpc::ClientContext c2;
  inference::ModelReadyRequest mr;
  mr.set_name(kCnn);
  inference::ModelReadyResponse mready;
  ASSERT_TRUE(stub_->ModelReady(&c2, mr, &mready).ok());
  EXPECT_TRUE(mready.ready());
  mr.set_name("nope");
  grpc::ClientContext c3;
  ASSERT_TRUE(stub_->ModelReady(&c3, mr, &mready).ok());
  EXPECT_FALSE(mready.ready());

  Health::ServingStatus status{};
  ASSERT_TRUE(server_->HealthCheck("", &status).ok());
  EXPECT_EQ(status, Health::SERVING);
  ASSERT_TRUE(server_->HealthCheck(kCnn, &status).ok());
  EXPECT_EQ(status, Health::SERVING);
  EXPECT_EQ(server_->HealthCheck("nope", &status).error_code(), grpc::StatusCode::NOT_FOUND);
}

// ModelInfer is received, run (small model) and answered by q8serve's own
// completion-queue thread; no gRPC callback service runs, because its two
// "nexting" threads would poll every connection and hand each request's
// events across threads (server/infer_queues.h, server/health.h).
TEST_F(ServingTest, ModelInferRunsOnItsOwnThreadWithoutCallbackPollers) {
  for (int i = 0; i < 20; ++i) ExpectStillServes();
  std::map<std::string, int> threads;
  const std::string tasks = "/proc/" + std::to_string(server_->pid()) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(tasks)) {
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    std::getline(comm, name);
    ++threads[name];
  }
  EXPECT_EQ(threads["q8_infer_rpc"], 1);  // --infer_threads default
  EXPECT_EQ(threads.count("nexting_thread"), 0u);
  Health::ServingStatus status{};
  ASSERT_TRUE(server_->HealthCheck("", &status).ok());  // health is still served (sync)
  EXPECT_EQ(status, Health::SERVING);
}

TEST_F(ServingTest, ServerAndModelMetadata) {
  grpc::ClientContext c1;
  inference::ServerMetadataResponse sm;
  ASSERT_TRUE(stub_->ServerMetadata(&c1, {}, &sm).ok());
  EXPECT_EQ(sm.name(), "q8serve");
  EXPECT_FALSE(sm.version().empty());
  EXPECT_THAT(sm.extensions(), ::testing::Contains("model_repository"));

  grpc::ClientContext c2;
  inference::ModelMetadataRequest req;
  req.set_name(kCnn);
  inference::ModelMetadataResponse md;
  ASSERT_TRUE(stub_->ModelMetadata(&c2, req, &md).ok());
  EXPECT_EQ(md.name(), kCnn);
  EXPECT_EQ(md.platform(), "q8serve_onnx_fp32");
  EXPECT_EQ(md.properties().at("precision"), "fp32");
  EXPECT_EQ(md.properties().at("quantization_mode"), "none");
  EXPECT_THAT(md.versions(), ElementsAre("1"));
  ASSERT_EQ(md.inputs_size(), 1);
  EXPECT_EQ(md.inputs(0).name(), "input");
  EXPECT_EQ(md.inputs(0).datatype(), "FP32");
  EXPECT_THAT(md.inputs(0).shape(), ElementsAre(-1, 1, 28, 28));
  ASSERT_EQ(md.outputs_size(), 1);
  EXPECT_EQ(md.outputs(0).name(), "logits");
  EXPECT_THAT(md.outputs(0).shape(), ElementsAre(-1, 10));
  EXPECT_EQ(md.properties().at("max_batch_size"), "64");

  grpc::ClientContext c3;
  req.set_name("nope");
  grpc::Status s = stub_->ModelMetadata(&c3, req, &md);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("'nope'"));
}

TEST_F(ServingTest, RawInferenceMatchesGolden) {
  CompareWithGolden(0, 1, true);
  CompareWithGolden(8, 8, true);
}

TEST_F(ServingTest, TypedInferenceMatchesGolden) {
  CompareWithGolden(3, 1, false);
  CompareWithGolden(16, 8, false);
}

TEST_F(ServingTest, Top1AccuracyEqualsPyTorch) {
  const auto golden = GoldenLogits().span<float>();
  const auto labels = TestLabels().span<int64_t>();
  const int n = static_cast<int>(labels.size());
  ASSERT_EQ(n, 1000);
  int ours = 0, theirs = 0, agree = 0;
  constexpr int kBatch = 50;
  for (int first = 0; first < n; first += kBatch) {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, ImageRequest(kCnn, TestImages(), first, kBatch, true), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    std::vector<float> logits = Logits(resp);
    ASSERT_EQ(logits.size(), static_cast<size_t>(kBatch) * 10);
    for (int b = 0; b < kBatch; ++b) {
      const float* mine = logits.data() + b * 10;
      const float* ref = golden.data() + (first + b) * 10;
      int64_t p = std::max_element(mine, mine + 10) - mine;
      int64_t q = std::max_element(ref, ref + 10) - ref;
      ours += p == labels[first + b];
      theirs += q == labels[first + b];
      agree += p == q;
    }
  }
  std::cout << "top-1: q8serve " << ours / 10.0 << "%, PyTorch " << theirs / 10.0 << "%, agreement " << agree
            << "/1000\n";
  EXPECT_EQ(ours, theirs);
}

TEST_F(ServingTest, RequestedOutputsAndStatistics) {
  auto req = ImageRequest(kCnn, TestImages(), 0, 2, true);
  req.add_outputs()->set_name("logits");
  inference::ModelInferResponse resp;
  ASSERT_TRUE(Infer(*stub_, req, &resp).ok());
  EXPECT_EQ(resp.outputs_size(), 1);
  req.mutable_outputs(0)->set_name("probs");
  ExpectInferError(req, grpc::StatusCode::INVALID_ARGUMENT, "unknown requested output 'probs'");

  grpc::ClientContext ctx;
  inference::ModelStatisticsRequest sreq;
  sreq.set_name(kCnn);
  inference::ModelStatisticsResponse stats;
  ASSERT_TRUE(stub_->ModelStatistics(&ctx, sreq, &stats).ok());
  ASSERT_EQ(stats.model_stats_size(), 1);
  EXPECT_GT(stats.model_stats(0).execution_count(), 0u);
  EXPECT_GT(stats.model_stats(0).inference_stats().success().count(), 0u);
  EXPECT_GT(stats.model_stats(0).inference_stats().fail().count(), 0u);
  EXPECT_GT(stats.model_stats(0).memory_usage(0).byte_size(), 0u);
}

TEST_F(ServingTest, RepositoryIndexListsReadyModel) {
  grpc::ClientContext ctx;
  inference::RepositoryIndexRequest req;
  inference::RepositoryIndexResponse resp;
  ASSERT_TRUE(stub_->RepositoryIndex(&ctx, req, &resp).ok());
  bool found = false;
  for (const auto& m : resp.models()) {
    if (m.name() == kCnn) {
      found = true;
      EXPECT_EQ(m.version(), "1");
      EXPECT_EQ(m.state(), "READY");
    }
  }
  EXPECT_TRUE(found);
}

// ---- Bad uploads ----

TEST_F(ServingTest, UploadNotOnnx) {
  grpc::Status s = UploadModel(*stub_, "junk", "this is not an onnx model");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("model 'junk' version 1"));
  ExpectStillServes();
}

TEST_F(ServingTest, UploadTruncatedOnnx) {
  std::string bytes = ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
  bytes.resize(bytes.size() / 2);
  grpc::Status s = UploadModel(*stub_, "truncated", bytes);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("model 'truncated' version 1"));
  ExpectStillServes();
}

TEST_F(ServingTest, UploadUnsupportedOp) {
  grpc::Status s = UploadModel(*stub_, "nms", MakeUnsupportedOpModel());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("unsupported op 'NonMaxSuppression' (node 'nms0')"));
  ExpectStillServes();
}

TEST_F(ServingTest, FailedReplaceKeepsOldVersionServing) {
  grpc::Status s = UploadModel(*stub_, kCnn, "garbage", kFp32Config, "1");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ExpectStillServes();
  CompareWithGolden(0, 8, true);
}

TEST_F(ServingTest, UploadBadParameters) {
  inference::RepositoryModelLoadRequest req;
  req.set_model_name("p");
  (*req.mutable_parameters())["file:one/model.onnx"].set_bytes_param("x");
  inference::RepositoryModelLoadResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = stub_->RepositoryModelLoad(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("numeric version"));
  s = UploadModel(*stub_, "cfg", ReadFileOrDie(TestDataPath("fashion_cnn.onnx")), R"({"max_batch_size":"big"})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("'max_batch_size' must be an integer"));
  ExpectStillServes();
}

// ---- Bad inference requests ----

TEST_F(ServingTest, UnknownInputName) {
  auto req = ImageRequest(kCnn, TestImages(), 0, 1, true);
  req.mutable_inputs(0)->set_name("image");
  ExpectInferError(req, grpc::StatusCode::INVALID_ARGUMENT, "unknown input 'image'");
}

TEST_F(ServingTest, WrongShape) {
  auto req = ImageRequest(kCnn, TestImages(), 0, 1, true);
  req.mutable_inputs(0)->set_shape(2, 27);
  ExpectInferError(req, grpc::StatusCode::INVALID_ARGUMENT, "axis 2 is 27 but the model expects 28");
}

TEST_F(ServingTest, BatchOverMax) {
  auto req = ImageRequest(kCnn, TestImages(), 0, 65, true);
  ExpectInferError(req, grpc::StatusCode::INVALID_ARGUMENT, "batch size 65");
}

TEST_F(ServingTest, WrongDatatype) {
  auto req = ImageRequest(kCnn, TestImages(), 0, 1, true);
  req.mutable_inputs(0)->set_datatype("FP64");
  ExpectInferError(req, grpc::StatusCode::INVALID_ARGUMENT, "datatype FP64 does not match the model's FP32");
}

TEST_F(ServingTest, RawLengthMismatch) {
  auto req = ImageRequest(kCnn, TestImages(), 0, 1, true);
  req.mutable_raw_input_contents(0)->resize(3000);
  ExpectInferError(req, grpc::StatusCode::INVALID_ARGUMENT, "raw_input_contents has 3000 bytes");
}

TEST_F(ServingTest, RawAndTypedTogether) {
  auto req = ImageRequest(kCnn, TestImages(), 0, 1, true);
  req.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  ExpectInferError(req, grpc::StatusCode::INVALID_ARGUMENT, "also has raw_input_contents");
}

TEST_F(ServingTest, UnknownModel) {
  auto req = ImageRequest("no_such_model", TestImages(), 0, 1, true);
  ExpectInferError(req, grpc::StatusCode::NOT_FOUND, "model 'no_such_model' not found");
}

TEST_F(ServingTest, UnknownVersion) {
  auto req = ImageRequest(kCnn, TestImages(), 0, 1, true);
  req.set_model_version("7");
  ExpectInferError(req, grpc::StatusCode::NOT_FOUND, "has no version '7'");
}

TEST_F(ServingTest, UnloadUnknownModel) {
  grpc::Status s = Unload(*stub_, "no_such_model");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("'no_such_model'"));
  ExpectStillServes();
}

// ---- Concurrency ----

TEST_F(ServingTest, ConcurrentUploadsOfSameName) {
  const std::string bytes = ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
  constexpr int kThreads = 4;
  std::vector<grpc::Status> results(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = server_->Stub();
      ++ready;
      while (ready < kThreads) std::this_thread::yield();
      results[t] =
          UploadModel(*stub, "race", bytes, R"({"warmup_batch_sizes":[1,8,16,32],"quantization":{"mode":"none"}})");
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0, aborted = 0;
  for (const auto& s : results) {
    if (s.ok()) {
      ++ok;
    } else {
      // The name is checked before a load slot is taken, so duplicates are
      // refused for the name (ABORTED), never by --max_concurrent_loads (a
      // duplicate holding the second slot once made a third upload
      // RESOURCE_EXHAUSTED, seen under ASan). No refusal replaces the winner.
      EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
      EXPECT_THAT(s.error_message(), HasSubstr("already in progress"));
      ++aborted;
    }
  }
  std::cout << "concurrent uploads: " << ok << " OK, " << aborted << " refused\n";
  EXPECT_GE(ok, 1);
  auto req = ImageRequest("race", TestImages(), 0, 1, true);
  inference::ModelInferResponse resp;
  EXPECT_TRUE(Infer(*stub_, req, &resp).ok());
  ExpectStillServes();
}

// Four clients hammer "victim" (uploaded with `config`) while it is unloaded:
// every call either succeeds or is NOT_FOUND, and the server keeps serving.
void ServingTest::UnloadWhileRequestsInFlight(const std::string& config) {
  ASSERT_TRUE(UploadModel(*stub_, "victim", ReadFileOrDie(TestDataPath("fashion_cnn.onnx")), config).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, not_found{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      auto stub = server_->Stub();
      auto req = ImageRequest("victim", TestImages(), 0, 16, true);
      while (!stop) {
        inference::ModelInferResponse resp;
        grpc::Status s = Infer(*stub, req, &resp);
        if (s.ok() && Logits(resp).size() == 160) {
          ++ok;
        } else if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
          ++not_found;
          return;
        } else {
          ++other;
          std::cerr << "unexpected: " << s.error_code() << " " << s.error_message() << "\n";
          return;
        }
      }
    });
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ok < 20 && other == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  grpc::Status s = Unload(*stub_, "victim");
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(other, 0);
  EXPECT_EQ(not_found, 4);  // every client eventually sees the unload
  Health::ServingStatus status{};
  ASSERT_TRUE(server_->HealthCheck("victim", &status).ok());
  EXPECT_EQ(status, Health::NOT_SERVING);
  ExpectStillServes();
}

// Small model: requests mostly run on the gRPC thread that received them.
TEST_F(ServingTest, UnloadWhileRequestsInFlight) { UnloadWhileRequestsInFlight(kFp32Config); }

// Batching that always waits: every request queues and completes on a stream
// thread, which may drop the unloaded version's last reference (the executor
// must then be destroyed off that thread).
TEST_F(ServingTest, UnloadWhileRequestsQueuedOnStreams) {
  UnloadWhileRequestsInFlight(
      R"({"quantization":{"mode":"none"},"dynamic_batching":{"max_queue_delay_us":2000,"eager":false}})");
}

}  // namespace
}  // namespace q8::testing
