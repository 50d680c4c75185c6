// The real q8bench binary against a real q8serve serving the Fashion CNN:
// a short closed-loop sweep (CSV and JSON parse, agree with each other and
// with the server's ModelStatistics counts, percentiles ordered), an
// open-loop request-rate run, .npy input, and the errors: bad arguments
// (exit 2 with the problem named) and an unknown model (exit 1, NOT_FOUND).
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/shared_server_suite.h"
#include "tests/integration/tool_runner.h"

namespace q8::testing {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

class Q8benchTest : public SharedServerSuite<Q8benchTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_bench";
  static void PrepareServer(ServerProcess& server) {
    auto stub = server.Stub();
    ASSERT_TRUE(UploadModel(*stub, "cnn", ReadFileOrDie(TestDataPath("fashion_cnn.onnx"))).ok());
    tmp_ = new std::string(MakeTempDir("q8_bench_files"));
  }

 protected:
  ToolResult Bench(std::vector<std::string> args) {
    args.push_back("--server=" + server_->address());
    return RunTool(Q8BENCH_BINARY, std::move(args), *tmp_);
  }
  uint64_t InferenceCount(const std::string& model) {
    inference::ModelStatisticsRequest request;
    request.set_name(model);
    inference::ModelStatisticsResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub_->ModelStatistics(&context, request, &response).ok());
    return response.model_stats_size() == 1 ? response.model_stats(0).inference_count() : 0;
  }

  static inline std::string* tmp_ = nullptr;
};

// CSV text -> rows of column -> value.
std::vector<std::map<std::string, std::string>> ParseCsv(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  std::vector<std::map<std::string, std::string>> rows;
  if (lines.empty()) return rows;
  std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> cells = absl::StrSplit(lines[i], ',');
    EXPECT_EQ(cells.size(), header.size()) << lines[i];
    std::map<std::string, std::string> row;
    for (size_t c = 0; c < header.size() && c < cells.size(); ++c) row[header[c]] = cells[c];
    rows.push_back(row);
  }
  return rows;
}

TEST_F(Q8benchTest, ConcurrencySweepWritesConsistentCsvAndJson) {
  constexpr int kBatch = 2;
  const uint64_t before = InferenceCount("cnn");
  const std::string csv = *tmp_ + "/sweep.csv", json = *tmp_ + "/sweep.json";
  ToolResult r = Bench({"--model=cnn", "--concurrency=1:2", "--batch_size=2", "--warmup_ms=100", "--window_ms=200",
                        "--max_windows=4", "--stability_percent=50", "--csv=" + csv, "--json=" + json});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const uint64_t after = InferenceCount("cnn");
  EXPECT_THAT(r.out, HasSubstr("model cnn version 1, batch 2"));
  EXPECT_THAT(r.err, HasSubstr("q8bench: concurrency 2: window 1/4"));  // progress lines

  Json run = Json::parse(ReadFileOrDie(json), nullptr, false);
  ASSERT_FALSE(run.is_discarded());
  ASSERT_EQ(run["levels"].size(), 2u);
  // Every request q8bench sent (plus its one probe request) is what the server counted.
  EXPECT_EQ(run["client_errors"].get<int64_t>(), 0);
  EXPECT_EQ(run["server_inference_count"].get<uint64_t>(), run["client_requests"].get<uint64_t>() * kBatch);
  EXPECT_EQ(after - before, (run["client_requests"].get<uint64_t>() + 1) * kBatch);

  auto rows = ParseCsv(ReadFileOrDie(csv));
  ASSERT_EQ(rows.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const Json& l = run["levels"][i];
    SCOPED_TRACE(i);
    EXPECT_EQ(l["concurrency"].get<int>(), i + 1);
    EXPECT_EQ(l["batch_size"].get<int>(), kBatch);
    const int64_t requests = l["requests"].get<int64_t>();
    EXPECT_GT(requests, 0);
    EXPECT_GE(l["windows"].get<int>(), 3);
    EXPECT_LE(l["windows"].get<int>(), 4);
    EXPECT_NEAR(l["throughput_infer_per_s"].get<double>(),
                static_cast<double>(requests * kBatch) / l["seconds"].get<double>(), 1e-6);
    // The server's count over the same windows differs only by the calls
    // in flight at the window edges, and by those that complete while the
    // statistics call at each edge is on the wire: a few per edge on a quiet
    // machine, more when the cores are oversubscribed and that call is slow.
    // (The exact totals are checked above.)
    const double server = l["server_inference_count"].get<double>();
    const double client = static_cast<double>(requests * kBatch);
    EXPECT_NEAR(server, client, std::max(3.0 * (i + 1) * kBatch, 0.1 * client));
    const double p50 = l["p50_us"], p90 = l["p90_us"], p95 = l["p95_us"], p99 = l["p99_us"], max = l["max_us"];
    EXPECT_GT(p50, 0);
    EXPECT_LE(p50, p90);
    EXPECT_LE(p90, p95);
    EXPECT_LE(p95, p99);
    EXPECT_LE(p99, max);
    // Server-side split: compute time was measured; the client's latency includes it.
    EXPECT_GT(l["server_compute_us"].get<double>(), 0);
    EXPECT_GT(l["server_request_us"].get<double>(), 0);
    EXPECT_LT(l["server_request_us"].get<double>(), l["avg_us"].get<double>());
    // CSV and JSON hold the same numbers.
    EXPECT_EQ(std::stoll(rows[i]["requests"]), requests);
    EXPECT_NEAR(std::stod(rows[i]["p99_us"]), p99, 0.001);
    EXPECT_EQ(rows[i]["mode"], "concurrency");
  }
}

TEST_F(Q8benchTest, RequestRateModeKeepsTheSchedule) {
  const std::string json = *tmp_ + "/rate.json";
  ToolResult r = Bench({"--model=cnn", "--request_rate=200", "--request_distribution=poisson", "--warmup_ms=100",
                        "--window_ms=500", "--max_windows=3", "--stability_percent=1000", "--json=" + json});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  Json run = Json::parse(ReadFileOrDie(json), nullptr, false);
  ASSERT_FALSE(run.is_discarded());
  ASSERT_EQ(run["levels"].size(), 1u);
  const Json& l = run["levels"][0];
  EXPECT_EQ(l["mode"], "request_rate");
  EXPECT_EQ(l["target_rate"].get<double>(), 200.0);
  // 1.5 s of Poisson arrivals at 200/s: ~300 +- 17 requests.
  EXPECT_NEAR(l["request_rate"].get<double>(), 200.0, 60.0);
}

TEST_F(Q8benchTest, InputFromNpyRowsFillTheBatch) {
  ToolResult r = Bench({"--model=cnn", "--input_data=" + TestDataPath("fashion_test_images.npy"), "--batch_size=4",
                        "--warmup_ms=50", "--window_ms=100", "--max_windows=3", "--stability_percent=1000", "--csv=-",
                        "--progress=false"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(r.out);
  ASSERT_EQ(rows.size(), 1u) << r.out;
  EXPECT_GT(std::stoll(rows[0]["requests"]), 0);
  EXPECT_EQ(r.err, "");  // --progress=false: nothing on stderr

  // An .npy whose sample shape does not fit the model: refused before any load.
  ToolResult bad = Bench({"--model=cnn", "--input_data=" + TestDataPath("fashion_test_labels.npy")});
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.err, HasSubstr("fashion_test_labels.npy: dtype INT64, the model wants FP32"));
}

TEST_F(Q8benchTest, BadArgumentsExitTwoWithTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--concurrency=1:4"}, "--model is required"},
      {{"--model=cnn", "--concurrency=0"}, "--concurrency: range '0': '0' is not a number > 0"},
      {{"--model=cnn", "--concurrency=4:2"}, "END is below START"},
      {{"--model=cnn", "--concurrency=1:8:x1"}, "factor must be > 1"},
      {{"--model=cnn", "--concurrency=1.5"}, "is not an integer"},
      {{"--model=cnn", "--request_rate=100", "--request_distribution=bursty"}, "not constant or poisson"},
      {{"--model=cnn", "--max_windows=2"}, "--max_windows must be >= 3"},
      {{"--model=cnn", "--batch_size=0"}, "--batch_size must be >= 1"},
      {{"cnn", "extra"}, "unexpected argument 'extra'"},
  };
  for (const Case& c : cases) {
    ToolResult r = Bench(c.args);
    EXPECT_EQ(r.code, 2) << c.message << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
  // Unknown flags are rejected by the flag parser (non-zero, flag named).
  ToolResult unknown = Bench({"--model=cnn", "--concurency=2"});
  EXPECT_NE(unknown.code, 0);
  EXPECT_THAT(unknown.err, HasSubstr("concurency"));
}

TEST_F(Q8benchTest, UnknownModelIsAClearError) {
  ToolResult r = Bench({"--model=no_such_model", "--window_ms=100"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("q8bench: error: NOT_FOUND"));
  EXPECT_THAT(r.err, HasSubstr("no_such_model"));
  // The server is still serving.
  inference::ModelReadyRequest request;
  request.set_name("cnn");
  inference::ModelReadyResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ModelReady(&context, request, &response).ok());
  EXPECT_TRUE(response.ready());
}

}  // namespace
}  // namespace q8::testing
