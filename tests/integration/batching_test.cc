// Dynamic batching and execution streams through a real server: concurrent
// gRPC requests to a batching model are merged into fewer executions, each
// response equals the same request's result from a non-batching copy of the
// model (and the PyTorch golden logits), and a request whose deadline runs
// out in the queue gets DEADLINE_EXCEEDED while the others succeed.
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/onnx_fixtures.h"
#include "tests/integration/shared_server_suite.h"

namespace q8::testing {
namespace {

constexpr char kBatched[] = "cnn_batched";
constexpr char kAlone[] = "cnn_alone";
constexpr int kClients = 6;

class BatchingTest : public SharedServerSuite<BatchingTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_batching";
  static void PrepareServer(ServerProcess& server) {
    TestImages();
    GoldenLogits();
    const std::string onnx = ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
    // A long delay (not eager: always waited out) and a preferred size equal
    // to what the clients send in total make the grouping deterministic: all
    // requests form one batch.
    grpc::Status s = UploadModel(*server.Stub(), kBatched, onnx,
                                 R"({"max_batch_size":16,"quantization":{"mode":"none"},
                                     "execution":{"streams":1},
                                     "dynamic_batching":{"max_queue_delay_us":3000000,
                                                         "preferred_batch_sizes":[12], "eager":false}})");
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
    s = UploadModel(*server.Stub(), kAlone, onnx,
                    R"({"max_batch_size":16,"quantization":{"mode":"none"},"execution":{"preset":"throughput"}})");
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
  }

 protected:
  inference::ModelStatisticsResponse Stats(const std::string& model) {
    grpc::ClientContext ctx;
    inference::ModelStatisticsRequest req;
    req.set_name(model);
    inference::ModelStatisticsResponse resp;
    EXPECT_TRUE(stub_->ModelStatistics(&ctx, req, &resp).ok());
    return resp;
  }
};

TEST_F(BatchingTest, ConcurrentRequestsMergeAndEachGetsItsOwnResult) {
  const auto before = Stats(kBatched);
  // Clients send 1 or 3 images each (6 x 2 on average = 12), raw and typed mixed.
  std::vector<int> first(kClients), batch(kClients);
  for (int i = 0; i < kClients; ++i) {
    first[i] = 50 * i;
    batch[i] = i % 2 == 0 ? 1 : 3;
  }
  std::vector<inference::ModelInferResponse> responses(kClients);
  std::vector<grpc::Status> statuses(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto stub = server_->Stub();
      statuses[i] = Infer(*stub, ImageRequest(kBatched, TestImages(), first[i], batch[i], i % 3 != 0), &responses[i]);
    });
  }
  for (auto& c : clients) c.join();
  const auto after = Stats(kBatched);
  ASSERT_EQ(after.model_stats_size(), 1);
  const auto& a = after.model_stats(0);
  const auto& b = before.model_stats(0);
  EXPECT_EQ(a.inference_count() - b.inference_count(), 12u);
  EXPECT_EQ(a.execution_count() - b.execution_count(), 1u) << "the six requests should run as one batch of 12";
  // Queue time is what the requests spent waiting for the batch to fill.
  EXPECT_GT(a.inference_stats().queue().ns() - b.inference_stats().queue().ns(), 0u);

  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    inference::ModelInferResponse alone;
    ASSERT_TRUE(Infer(*stub_, ImageRequest(kAlone, TestImages(), first[i], batch[i], true), &alone).ok());
    const std::vector<float> got = Logits(responses[i]);
    const std::vector<float> want = Logits(alone);
    ASSERT_EQ(got.size(), want.size());
    ASSERT_EQ(got.size(), static_cast<size_t>(10 * batch[i]));
    for (size_t k = 0; k < got.size(); ++k) {
      // Same model, different batch size and stream layout: rounding-level differences only.
      EXPECT_NEAR(got[k], want[k], 1e-4) << "client " << i << " element " << k;
      EXPECT_NEAR(got[k], GoldenLogits().span<float>()[first[i] * 10 + k], 1e-4) << "client " << i;
    }
  }
}

TEST_F(BatchingTest, DeadlineExpiringInTheQueueIsDeadlineExceeded) {
  // Alone, the request waits the full 3 s delay for a batch of 12; its 200 ms
  // deadline passes first.
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, ImageRequest(kBatched, TestImages(), 0, 1, true), &resp, /*deadline_seconds=*/0.2);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  // The model still serves, and a request with time to wait gets its result.
  ASSERT_TRUE(Infer(*stub_, ImageRequest(kBatched, TestImages(), 7, 1, true), &resp).ok());
  EXPECT_NEAR(Logits(resp)[0], GoldenLogits().span<float>()[70], 1e-4);
}

TEST_F(BatchingTest, MetadataReportsTheExecutionLayout) {
  grpc::ClientContext ctx;
  inference::ModelMetadataRequest req;
  req.set_name(kBatched);
  inference::ModelMetadataResponse resp;
  ASSERT_TRUE(stub_->ModelMetadata(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.properties().at("execution_streams"), "1");
  EXPECT_EQ(resp.properties().at("dynamic_batching"), "true");
  EXPECT_EQ(resp.properties().at("max_queue_delay_us"), "3000000");
}

}  // namespace
}  // namespace q8::testing
