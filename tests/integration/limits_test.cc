// Resource limits against the real q8serve binary (server/resource_limits.h):
// each RPC-facing limit is hit over a real socket, answered with its exact
// status and a message naming the flag and value, and the server keeps
// serving afterwards.
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/prometheus_server.h"
#include "tests/integration/server_process.h"
#include "tests/integration/shared_server_suite.h"
#include "tests/testing/onnx_builder.h"

namespace q8::testing {
namespace {

using ::testing::HasSubstr;
namespace pb = q8serve::v1;

constexpr char kCnn[] = "fashion_cnn";

const std::string& CnnBytes() {
  static const std::string* bytes = new std::string(ReadFileOrDie(TestDataPath("fashion_cnn.onnx")));
  return *bytes;
}

// x [N,1024] -> 16 x MatMul by one shared 1024x1024 weight -> y: ~0.8 GFLOP
// per 24 rows, slow enough on one thread that concurrent requests queue.
std::string SlowMatMulModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 1024}).Output("y");
  b.RandomInitializer("w", {1024, 1024}, -0.03f, 0.03f);
  std::string in = "x";
  for (int i = 0; i < 16; ++i) {
    const std::string out = i == 15 ? "y" : absl::StrCat("h", i);
    b.Node("MatMul", {in, "w"}, {out});
    in = out;
  }
  return b.Serialize();
}

inference::ModelInferRequest MatMulRequest(const std::string& model, int batch) {
  inference::ModelInferRequest req;
  req.set_model_name(model);
  auto* in = req.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(batch);
  in->add_shape(1024);
  req.add_raw_input_contents(std::string(static_cast<size_t>(batch) * 1024 * sizeof(float), '\0'));
  return req;
}

// The value of an unlabelled series in a /metrics scrape (-1 if absent).
double MetricValue(const std::string& text, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, name + " ")) continue;
    double v = 0;
    if (absl::SimpleAtod(line, &v)) return v;
  }
  return -1;
}

std::map<std::string, std::string> Properties(Stub& stub, const std::string& model) {
  grpc::ClientContext ctx;
  inference::ModelMetadataRequest req;
  req.set_name(model);
  inference::ModelMetadataResponse resp;
  grpc::Status s = stub.ModelMetadata(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {resp.properties().begin(), resp.properties().end()};
}

// One server with small limits shared by the suite; models per test.
class LimitsTest : public SharedServerSuite<LimitsTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_limits";
  static constexpr int64_t kMaxRequestBytes = 100'000;  // < one fashion_cnn.onnx upload (829 KB)
  static constexpr int64_t kMaxTensorBytes = 8 << 20;   // > SlowMatMulModel's 4 MiB weight

  static std::vector<std::string> ServerFlags() {
    return {absl::StrCat("--max_request_bytes=", kMaxRequestBytes), "--max_concurrent_loads=1", "--cpus=2",
            "--max_threads_per_cpu=4", absl::StrCat("--max_tensor_bytes=", kMaxTensorBytes)};
  }
  static void PrepareServer(ServerProcess& server) {
    TestImages();
    GoldenLogits();
    grpc::Status s = UploadModel(*server.Stub(), kCnn, CnnBytes());
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
  }

 protected:
  void ExpectStillServes() {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, ImageRequest(kCnn, TestImages(), 3, 1, true), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    std::vector<float> logits = Logits(resp);
    ASSERT_EQ(logits.size(), 10u);
    EXPECT_NEAR(logits[4], GoldenLogits().span<float>()[34], 1e-4);
  }
};

// --max_request_bytes: a ModelInfer over it is RESOURCE_EXHAUSTED naming the
// flag, before the model is even looked up (an unknown model gets the same
// answer, not NOT_FOUND); uploads larger than it still work (separate limit).
TEST_F(LimitsTest, OversizeInferRequestIsRefusedBeforeDecoding) {
  const inference::ModelInferRequest big = ImageRequest(kCnn, TestImages(), 0, 32, true);  // 100 352 raw bytes
  ASSERT_GT(big.ByteSizeLong(), static_cast<size_t>(kMaxRequestBytes));
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, big, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("ModelInfer request of ", big.ByteSizeLong(),
                                                        " bytes exceeds --max_request_bytes=", kMaxRequestBytes)));
  inference::ModelInferRequest unknown = big;
  unknown.set_model_name("no_such_model");
  s = Infer(*stub_, unknown, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // Just under the limit is served (typed contents: same bytes, other encoding).
  inference::ModelInferResponse ok;
  s = Infer(*stub_, ImageRequest(kCnn, TestImages(), 0, 31, true), &ok);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Logits(ok).size(), 310u);
  ASSERT_TRUE(UploadModel(*stub_, "cnn_upload_over_request_limit", CnnBytes()).ok());
  ExpectStillServes();
}

// --max_tensor_bytes: a model with one initializer over it is refused with
// INVALID_ARGUMENT naming the flag (before the weight is copied anywhere);
// one just under it loads.
TEST_F(LimitsTest, InitializerOverTheTensorLimitIsRefused) {
  auto model = [](int64_t rows) {
    OnnxBuilder b;
    b.Input("x", {-1, 1024}).Output("y");
    b.RandomInitializer("w", {1024, rows}, -0.03f, 0.03f);
    b.Node("MatMul", {"x", "w"}, {"y"});
    return b.Serialize();
  };
  grpc::Status s =
      UploadModel(*stub_, "too_big_tensor", model(kMaxTensorBytes / 4096 + 1), R"({"quantization":{"mode":"none"}})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("--max_tensor_bytes"));
  s = UploadModel(*stub_, "fits_tensor", model(kMaxTensorBytes / 4096), R"({"quantization":{"mode":"none"}})");
  EXPECT_TRUE(s.ok()) << s.error_message();
  ExpectStillServes();
}

// --max_concurrent_loads=1: while a streamed upload holds the only slot,
// another model's upload is RESOURCE_EXHAUSTED with retry advice
// and a second upload of the same name ABORTED (either RPC); the
// first completes, and the slot is free again afterwards.
TEST_F(LimitsTest, ConcurrentUploadsBeyondTheLimitAreRefused) {
  auto model_stub = server_->ModelStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = model_stub->Upload(&ctx);
  pb::UploadRequest header;
  header.mutable_header()->set_model_name("held_upload");
  header.mutable_header()->set_version(1);
  header.mutable_header()->set_total_bytes(static_cast<int64_t>(CnnBytes().size()));
  header.mutable_header()->set_config_json(kFp32Config);
  ASSERT_TRUE(stream->Write(header));
  const size_t half = CnnBytes().size() / 2;
  pb::UploadRequest chunk;
  chunk.mutable_chunk()->set_path("model.onnx");
  chunk.mutable_chunk()->set_data(CnnBytes().substr(0, half));
  ASSERT_TRUE(stream->Write(chunk));
  pb::UploadEvent event;
  ASSERT_TRUE(stream->Read(&event));  // the server took the slot and received the chunk
  ASSERT_TRUE(event.has_received());

  grpc::Status s = UploadModel(*stub_, "second_upload", CnnBytes());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("1 uploads/quantizations are already in progress "
                                           "(--max_concurrent_loads=1); retry in a few seconds"));
  ExpectStillServes();

  // A second upload of the held name is refused for the name, not the slot:
  // the name is checked before a slot is taken, so a duplicate never holds
  // a slot another model's upload could have used (before, both RPCs here
  // got RESOURCE_EXHAUSTED, and with free slots a duplicate held one while
  // its files arrived). Both RPCs: RepositoryModelLoad and a streamed Upload.
  s = UploadModel(*stub_, "held_upload", CnnBytes());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("model 'held_upload': a load of this model is already in progress"));
  {
    grpc::ClientContext dup_ctx;
    dup_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto dup = model_stub->Upload(&dup_ctx);
    dup->Write(header);  // may fail once the server has answered; Finish says why
    dup->WritesDone();
    pb::UploadEvent ignored;
    while (dup->Read(&ignored)) {
    }
    s = dup->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("a load of this model is already in progress"));
  }
  ExpectStillServes();

  chunk.mutable_chunk()->set_data(CnnBytes().substr(half));
  ASSERT_TRUE(stream->Write(chunk));
  stream->WritesDone();
  bool result = false;
  while (stream->Read(&event)) result = result || event.has_result();
  grpc::Status first = stream->Finish();
  ASSERT_TRUE(first.ok()) << first.error_message();
  EXPECT_TRUE(result);
  s = UploadModel(*stub_, "second_upload", CnnBytes());
  EXPECT_TRUE(s.ok()) << s.error_message();
  inference::ModelInferResponse resp;
  EXPECT_TRUE(Infer(*stub_, ImageRequest("second_upload", TestImages(), 0, 1, true), &resp).ok());
}

// Regression: a header announcing INT64_MAX bytes plus a config wrapped the
// total negative and passed the upload limit check; it is refused at once.
TEST_F(LimitsTest, UploadAnnouncingInt64MaxBytesIsRefusedAtOnce) {
  auto model_stub = server_->ModelStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = model_stub->Upload(&ctx);
  pb::UploadRequest header;
  header.mutable_header()->set_model_name("int64_max");
  header.mutable_header()->set_total_bytes(std::numeric_limits<int64_t>::max());
  header.mutable_header()->set_config_json(kFp32Config);
  ASSERT_TRUE(stream->Write(header));
  stream->WritesDone();
  pb::UploadEvent event;
  while (stream->Read(&event)) {
  }
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("is ", std::numeric_limits<int64_t>::max(),
                                                        " bytes, over the server's upload limit")));
  ExpectStillServes();
}

// execution.max_queue_size=2 on one single-threaded stream: of 12 concurrent
// slow requests, one runs, two wait, the rest are RESOURCE_EXHAUSTED at once
// naming the limit; nothing else fails and the model serves afterwards.
TEST_F(LimitsTest, FullQueueIsResourceExhausted) {
  ASSERT_TRUE(UploadModel(*stub_, "slow", SlowMatMulModel(),
                          R"({"quantization":{"mode":"none"},"max_batch_size":64,
                              "execution":{"streams":1,"threads_per_stream":1,"max_queue_size":2}})")
                  .ok());
  EXPECT_EQ(Properties(*stub_, "slow")["max_queue_size"], "2");
  EXPECT_EQ(Properties(*stub_, kCnn)["max_queue_size"], "512");  // --max_queue_size default
  constexpr int kRequests = 12;
  std::vector<grpc::Status> statuses(kRequests);
  std::vector<std::thread> threads;
  const inference::ModelInferRequest req = MatMulRequest("slow", 24);  // 98 KB < --max_request_bytes
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      auto stub = server_->Stub();
      inference::ModelInferResponse resp;
      statuses[i] = Infer(*stub, req, &resp);
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0, exhausted = 0;
  for (const grpc::Status& s : statuses) {
    if (s.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      EXPECT_THAT(s.error_message(), HasSubstr("execution queue full: 2 requests already wait for a stream "
                                               "(max_queue_size=2"));
      ++exhausted;
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(exhausted, 1);
  EXPECT_EQ(ok + exhausted, kRequests);
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, MatMulRequest("slow", 1), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  ExpectStillServes();
}

// streams x threads_per_stream beyond --max_threads_per_cpu x --cpus (4 x 2)
// is clamped: 32 x 32 asks for 1024 threads and gets 8 x 1; the process'
// thread count stays far from a thousand.
TEST_F(LimitsTest, StreamsTimesThreadsAreClampedToTheCpuBudget) {
  grpc::Status s =
      UploadModel(*stub_, "many_streams", CnnBytes(),
                  R"({"quantization":{"mode":"none"},"execution":{"streams":32,"threads_per_stream":32}})");
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto props = Properties(*stub_, "many_streams");
  EXPECT_EQ(props["execution_streams"], "8");
  EXPECT_EQ(props["threads_per_stream"], "1");
  std::string metrics;
  ASSERT_EQ(HttpGet(server_->MetricsPort(), "/metrics", &metrics), 200);
  const double threads = MetricValue(metrics, "process_threads");
  EXPECT_GT(threads, 0);
  EXPECT_LT(threads, 200) << "a 32 x 32 layout started its threads";
  EXPECT_THAT(server_->Log(),
              HasSubstr("execution layout 32 x 32 clamped to 8 x 1 (--max_threads_per_cpu=4 x 2 CPUs)"));
  inference::ModelInferResponse resp;
  EXPECT_TRUE(Infer(*stub_, ImageRequest("many_streams", TestImages(), 0, 1, true), &resp).ok());
}

// config.json limits reach the client as INVALID_ARGUMENT naming the limit.
TEST_F(LimitsTest, WarmupAndBatchLimitsInConfig) {
  grpc::Status s = UploadModel(*stub_, "too_many_warmups", CnnBytes(),
                               R"({"quantization":{"mode":"none"},"warmup_batch_sizes":[1,2,3,4,5,6,7,8,9]})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("at most 8 are allowed"));
  s = UploadModel(*stub_, "huge_batch", CnnBytes(), R"({"quantization":{"mode":"none"},"max_batch_size":65536})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("'max_batch_size' must be in [1, 1024], got 65536"));
  ExpectStillServes();
}

// --max_model_memory_bytes: measured on a first server (fashion_cnn's memory
// after warm-up), then a second one gets room for 1.5 models: the second
// model is RESOURCE_EXHAUSTED with both numbers, the first keeps serving,
// replacing the first fits (it frees its own memory), and unloading makes room.
constexpr const char* kFixedLayout = "--execution_preset=latency";

TEST(LimitsMemoryTest, LoadsBeyondTheMemoryBudgetAreRefused) {
  int64_t model_bytes = 0;
  {
    ServerProcess probe;
    // One stream: `auto` times the model and may choose differently on the
    // second server (ASan makes run times vary), and with several streams
    // warming up at once the number of workspaces they create varies.
    ASSERT_TRUE(probe.Start(MakeTempDir("q8_limits_probe"), {"--max_model_memory_bytes=0", kFixedLayout}));
    ASSERT_TRUE(UploadModel(*probe.Stub(), kCnn, CnnBytes()).ok());
    ASSERT_TRUE(absl::SimpleAtoi(Properties(*probe.Stub(), kCnn)["memory_bytes"], &model_bytes));
    EXPECT_EQ(probe.Stop(), 0);
  }
  ASSERT_GT(model_bytes, 0);
  const int64_t budget = model_bytes + model_bytes / 2;
  ServerProcess server;
  ASSERT_TRUE(
      server.Start(MakeTempDir("q8_limits_memory"), {absl::StrCat("--max_model_memory_bytes=", budget), kFixedLayout}));
  auto stub = server.Stub();
  ASSERT_TRUE(UploadModel(*stub, "a", CnnBytes()).ok()) << server.Log();
  grpc::Status s = UploadModel(*stub, "b", CnnBytes());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("model 'b' needs ", model_bytes)));
  EXPECT_THAT(s.error_message(),
              HasSubstr(absl::StrCat("already hold ", model_bytes, " of --max_model_memory_bytes=", budget)));
  inference::ModelInferResponse resp;
  EXPECT_EQ(Infer(*stub, ImageRequest("b", TestImages(), 0, 1, true), &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Infer(*stub, ImageRequest("a", TestImages(), 0, 1, true), &resp).ok());
  EXPECT_TRUE(UploadModel(*stub, "a", CnnBytes()).ok()) << "replacing a version frees what it held";
  ASSERT_TRUE(Unload(*stub, "a").ok());
  s = UploadModel(*stub, "b", CnnBytes());
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(Infer(*stub, ImageRequest("b", TestImages(), 0, 1, true), &resp).ok());
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

}  // namespace
}  // namespace q8::testing
