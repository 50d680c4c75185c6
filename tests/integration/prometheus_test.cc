// Metrics end to end: a real q8serve scraped by Debian's real Prometheus
// (loopback, 1 s scrape and rule evaluation), checked through Prometheus'
// HTTP API: request counts, latency quantiles vs what the client measured,
// memory, weight sizes, upload-time accuracy vs the report, live shadow
// evaluation, series removal on unload, every PromQL expression of
// deploy/prometheus and deploy/grafana evaluated live, `promtool check
// metrics` on a scrape; and the start-up / config errors of the metrics flags.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/metrics/buckets.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/prometheus_server.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/server_process.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// histogram_quantile interpolates inside the bucket that holds the rank, so its
// estimate can lie anywhere in that bucket: bound it by bucket edges, not by
// the observed extremes themselves.
double LatencyBucketCeiling(double seconds) {
  for (double le : server::metrics::LatencyBuckets()) {
    if (seconds <= le) return le;
  }
  return std::numeric_limits<double>::infinity();
}
double LatencyBucketFloorBelow(double seconds) {
  double floor = 0;
  for (double le : server::metrics::LatencyBuckets()) {
    if (le < seconds) floor = le;
  }
  return floor;
}

constexpr char kInt8Model[] = "mlp_int8";  // fashion_mlp, static int8, every request shadowed
constexpr char kFp32Model[] = "cnn_fp32";  // fashion_cnn served in fp32
// Every batch size the load uses is warmed at load, so no request pays for
// building a plan (that would put a small request among the slow ones).
constexpr char kInt8Config[] =
    R"({"max_batch_size":256,"warmup_batch_sizes":[1,2,3,4,256],"shadow_fraction":1,"quantization":{"mode":"static"}})";
constexpr char kFp32Config[] =
    R"({"max_batch_size":256,"warmup_batch_sizes":[1,2,3,4,256],"quantization":{"mode":"none"}})";

std::string DeployPath(const std::string& rel) { return std::string(Q8_DEPLOY_DIR) + "/" + rel; }

struct Load {
  int ok_requests = 0;
  int64_t elements = 0;
  double fastest = 1e9, slowest = 0;  // client-observed seconds
};

// 99 small requests (batch 1 to 4) and one of batch 256, all successful.
// With 100 requests the 0.99 rank is the 99th: histogram_quantile returns
// exactly the upper bound of the bucket holding the slowest small request.
// That is below the big request's latency (64x the work of batch 4, several
// buckets higher, so even a slow small request on a busy machine stays
// below it) and, for a compute-bound model whose batch-4 requests take
// longer than a batch-1 round trip, not below the fastest round trip.
Load SendKnownLoad(Stub& stub, const std::string& model) {
  Load load;
  const core::Tensor& images = TestImages();
  for (int i = 0; i < 100; ++i) {
    const int batch = i == 50 ? 256 : 1 + i % 4;
    inference::ModelInferRequest req = ImageRequest(model, images, (i * 7) % 900, batch, /*raw=*/true);
    inference::ModelInferResponse resp;
    const auto start = Clock::now();
    grpc::Status s = Infer(stub, req, &resp);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) continue;
    ++load.ok_requests;
    load.elements += batch;
    load.fastest = std::min(load.fastest, seconds);
    load.slowest = std::max(load.slowest, seconds);
  }
  return load;
}

// Requests the server refuses with INVALID_ARGUMENT (unknown input name).
void SendBadRequests(Stub& stub, const std::string& model, int n) {
  for (int i = 0; i < n; ++i) {
    inference::ModelInferRequest req = ImageRequest(model, TestImages(), 0, 1, true);
    req.mutable_inputs(0)->set_name("no_such_input");
    inference::ModelInferResponse resp;
    EXPECT_EQ(Infer(stub, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

std::string Sel(const std::string& metric, const std::string& model, const std::string& extra = "") {
  return metric + "{model=\"" + model + "\"" + (extra.empty() ? "" : "," + extra) + "}";
}

// The `expr:` values of a Prometheus rules file (single-line or block scalars).
std::vector<std::string> RuleExpressions(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(ReadFileOrDie(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  auto indent = [](const std::string& l) { return l.find_first_not_of(' '); };
  std::vector<std::string> out;
  const std::regex expr_re(R"(^(\s*)expr:\s*(.*)$)");
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, expr_re)) continue;
    const size_t own = m[1].length();
    std::string value = m[2];
    if (value == "|" || value == ">" || value == "|-" || value == ">-") {
      value.clear();
      while (i + 1 < lines.size() &&
             (lines[i + 1].find_first_not_of(' ') == std::string::npos || indent(lines[i + 1]) > own)) {
        value += lines[++i] + "\n";
      }
    }
    out.push_back(value);
  }
  return out;
}

// Every panel query of a Grafana dashboard, with Grafana's variables replaced
// by values Prometheus accepts (as tests/deploy/check_prometheus.sh does).
std::vector<std::pair<std::string, std::string>> DashboardExpressions(const std::string& path) {
  const Json dash = Json::parse(ReadFileOrDie(path));
  std::vector<std::pair<std::string, std::string>> out;
  const std::vector<std::pair<std::regex, std::string>> subst = {
      {std::regex(R"(\$\{?__rate_interval\}?)"), "1m"},
      {std::regex(R"(\$\{?__interval\}?)"), "1m"},
      {std::regex(R"(\$\{?__range\}?)"), "1h"},
      {std::regex(R"(\$\{model(:[a-z]+)?\}|\$model\b)"), ".*"}};
  std::function<void(const Json&)> walk = [&](const Json& panels) {
    for (const Json& p : panels) {
      for (const Json& t : p.value("targets", Json::array())) {
        std::string expr = t.value("expr", "");
        for (const auto& [re, value] : subst) expr = std::regex_replace(expr, re, value);
        out.emplace_back(p.value("title", "") + " / " + t.value("refId", ""), expr);
      }
      if (p.contains("panels")) walk(p["panels"]);
    }
  };
  walk(dash["panels"]);
  return out;
}

bool NoSeries(const PrometheusServer& prom, const std::string& expr) {
  auto data = prom.Query(expr);
  return data && (*data)["result"].empty();
}

// `promtool check metrics` on one scrape of `metrics_port`; returns promtool's
// output and exit code.
int PromtoolCheckMetrics(int metrics_port, std::string* output) {
  std::string scrape;
  if (HttpGet(metrics_port, "/metrics", &scrape) != 200) {
    *output = "scrape failed";
    return -1;
  }
  const std::string file = MakeTempDir("scrape") + "/metrics.txt";
  std::ofstream(file) << scrape;
  FILE* p = ::popen(("/usr/bin/promtool check metrics < " + file + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class PrometheusTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << server_.Log() << "\n" << prom_.Log() << "\n";
    }
  }
  ServerProcess server_;
  PrometheusServer prom_;
};

TEST_F(PrometheusTest, LiveMetricsThroughRealPrometheus) {
  const std::string repo = MakeTempDir("prom_it");
  // Server default: no shadowing; the int8 model's config asks for all.
  ASSERT_TRUE(server_.Start(repo, {"--shadow_fraction=0"}));
  auto stub = server_.Stub();
  auto model_stub = server_.ModelStub();
  StreamedUpload up = StreamUpload(*model_stub, kInt8Model, 1, std::string(kInt8Config),
                                   {{"model.onnx", ReadFileOrDie(TestDataPath("fashion_mlp.onnx"))},
                                    {"calibration/inputs.npy", CalibrationInputsNpy()},
                                    {"calibration/labels.npy", CalibrationLabelsNpy()}});
  ASSERT_TRUE(up.status.ok()) << up.status.error_message();
  ASSERT_TRUE(UploadModel(*stub, kFp32Model, ReadFileOrDie(TestDataPath("fashion_cnn.onnx")), kFp32Config).ok());
  // A third model for the promtool check ("several models"): dynamic int8.
  ASSERT_TRUE(UploadModel(*stub, "mlp_dynamic", ReadFileOrDie(TestDataPath("fashion_mlp.onnx")),
                          R"({"quantization":{"mode":"dynamic"}})")
                  .ok());
  const int metrics_port = server_.MetricsPort();
  ASSERT_GT(metrics_port, 0) << "no 'metrics listening on' line in the log";

  ASSERT_TRUE(prom_.Start({metrics_port}, {DeployPath("prometheus/rules/q8serve_recording.yml"),
                                           DeployPath("prometheus/rules/q8serve_alerts.yml")}));
  ASSERT_EQ(prom_.WaitFor("up", [](auto v) { return v == 1.0; }), 1.0);
  // Series exist (as zeros) before any request.
  ASSERT_EQ(prom_.WaitFor(Sel("q8serve_inference_requests_total", kInt8Model, "status=\"ok\""),
                          [](auto v) { return v.has_value(); }),
            0.0);

  SendBadRequests(*stub, kFp32Model, 3);
  const Load int8_load = SendKnownLoad(*stub, kInt8Model);
  const Load fp32_load = SendKnownLoad(*stub, kFp32Model);

  {
    SCOPED_TRACE("request counts equal what was sent");
    for (const auto& [model, load] : {std::pair{kInt8Model, int8_load}, std::pair{kFp32Model, fp32_load}}) {
      const double sent = load.ok_requests;
      EXPECT_EQ(prom_.WaitFor(Sel("q8serve_inference_requests_total", model, "status=\"ok\""),
                              [sent](auto v) { return v == sent; }),
                sent)
          << model;
      EXPECT_EQ(prom_.Scalar(Sel("q8serve_inference_count_total", model)), static_cast<double>(load.elements));
      EXPECT_EQ(prom_.Scalar(Sel("q8serve_inference_request_duration_seconds_count", model)), sent);
      EXPECT_EQ(prom_.Scalar(Sel("q8serve_inference_batch_size_sum", model)), static_cast<double>(load.elements));
      EXPECT_EQ(prom_.Scalar(Sel("q8serve_inference_inflight_requests", model)), 0);
    }
    EXPECT_EQ(prom_.WaitFor(Sel("q8serve_inference_requests_total", kFp32Model, "status=\"INVALID_ARGUMENT\""),
                            [](auto v) { return v == 3.0; }),
              3.0);
    EXPECT_TRUE(NoSeries(prom_, Sel("q8serve_inference_requests_total", kInt8Model, "status!=\"ok\"")));
    // The same numbers over gRPC (ModelStatistics).
    grpc::ClientContext ctx;
    inference::ModelStatisticsRequest req;
    req.set_name(kFp32Model);
    inference::ModelStatisticsResponse resp;
    ASSERT_TRUE(stub->ModelStatistics(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.model_stats_size(), 1);
    EXPECT_EQ(resp.model_stats(0).inference_stats().success().count(), static_cast<uint64_t>(fp32_load.ok_requests));
    EXPECT_EQ(resp.model_stats(0).inference_stats().fail().count(), 3u);
    EXPECT_EQ(resp.model_stats(0).inference_stats().queue().count(), static_cast<uint64_t>(fp32_load.ok_requests));
  }
  {
    SCOPED_TRACE("p99 between the fastest and the slowest client-observed latency");
    const std::string p99 = "histogram_quantile(0.99, sum by (le) (" +
                            Sel("q8serve_inference_request_duration_seconds_bucket", kFp32Model) + "))";
    auto v = prom_.Scalar(p99);
    ASSERT_TRUE(v.has_value());
    // Server-side latencies are below the client's (the round trip adds), so
    // the estimate sits at most in the bucket of the slowest client latency;
    // below, one bucket of slack for that round trip.
    EXPECT_GE(*v, LatencyBucketFloorBelow(LatencyBucketFloorBelow(fp32_load.fastest)));
    EXPECT_LE(*v, LatencyBucketCeiling(fp32_load.slowest));
    // The int8 MLP is so fast that the loopback round trip exceeds most of its
    // server-side latencies: only the upper side holds by construction.
    auto v8 = prom_.Scalar("histogram_quantile(0.99, sum by (le) (" +
                           Sel("q8serve_inference_request_duration_seconds_bucket", kInt8Model) + "))");
    ASSERT_TRUE(v8.has_value());
    EXPECT_GT(*v8, 0);
    EXPECT_LE(*v8, LatencyBucketCeiling(int8_load.slowest));
    std::cout << "p99 fp32 " << *v << " s (client " << fp32_load.fastest << " .. " << fp32_load.slowest << "), int8 "
              << *v8 << " s (client " << int8_load.fastest << " .. " << int8_load.slowest << ")\n";
  }
  {
    SCOPED_TRACE("memory gauges present; int8 weights <= 0.27 x fp32");
    for (const char* model : {kInt8Model, kFp32Model}) {
      auto weights = prom_.Scalar(Sel("q8serve_model_memory_bytes", model, "kind=\"weights\""));
      auto activations = prom_.Scalar(Sel("q8serve_model_memory_bytes", model, "kind=\"activations\""));
      auto scratchpad = prom_.Scalar(Sel("q8serve_model_memory_bytes", model, "kind=\"scratchpad\""));
      auto total = prom_.Scalar(Sel("q8serve_model_memory_bytes", model, "kind=\"total\""));
      ASSERT_TRUE(weights && activations && scratchpad && total) << model;
      EXPECT_GT(*weights, 0) << model;
      EXPECT_GT(*activations, 0) << model;  // workspaces exist after requests
      EXPECT_EQ(*total, *weights + *activations + *scratchpad) << model;
    }
    auto fp32 = prom_.Scalar(Sel("q8serve_model_weight_bytes", kInt8Model, "precision=\"fp32\""));
    auto int8 = prom_.Scalar(Sel("q8serve_model_weight_bytes", kInt8Model, "precision=\"int8\""));
    ASSERT_TRUE(fp32 && int8);
    EXPECT_GT(*int8, 0);
    EXPECT_LE(*int8, 0.27 * *fp32);
    EXPECT_TRUE(NoSeries(prom_, Sel("q8serve_model_weight_bytes", kFp32Model, "precision=\"int8\"")));
    EXPECT_GT(prom_.Scalar(Sel("q8serve_model_weight_bytes", kFp32Model, "precision=\"fp32\"")).value_or(0), 0);
    EXPECT_GT(prom_.Scalar("process_resident_memory_bytes").value_or(0), *fp32);
    // The served weights by stored precision: the int8 MLP holds s8 weights
    // and f32 biases, no bf16; the fp32 model holds f32 only.
    auto served = [&](const char* model, const char* precision) {
      return prom_.Scalar(
          Sel("q8serve_model_served_weight_bytes", model, absl::StrCat("precision=\"", precision, "\"")));
    };
    EXPECT_GT(served(kInt8Model, "int8").value_or(0), 0);
    EXPECT_GT(served(kInt8Model, "fp32").value_or(0), 0);
    EXPECT_EQ(served(kInt8Model, "bf16"), 0.0);
    EXPECT_LE(served(kInt8Model, "int8").value_or(0), *int8);
    EXPECT_EQ(served(kFp32Model, "int8"), 0.0);
    EXPECT_EQ(served(kFp32Model, "fp32"),
              prom_.Scalar(Sel("q8serve_model_memory_bytes", kFp32Model, "kind=\"weights\"")));
  }
  {
    SCOPED_TRACE("accuracy gauges equal the upload report");
    std::string report_json;
    ASSERT_TRUE(GetReport(*model_stub, kInt8Model, 1, &report_json).ok());
    const Json report = Json::parse(report_json);
    ASSERT_TRUE(report["has_labels"].get<bool>());
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_accuracy", kInt8Model, "precision=\"fp32\",metric=\"top1\"")),
              report["fp32_top1"].get<double>());
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_accuracy", kInt8Model, "precision=\"int8\",metric=\"top1\"")),
              report["int8_top1"].get<double>());
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_accuracy", kInt8Model, "precision=\"int8\",metric=\"agreement\"")),
              report["agreement"].get<double>());
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_output_sqnr_db", kInt8Model)), report["output_sqnr_db"].get<double>());
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_accuracy_target_met", kInt8Model)),
              report["target_met"].get<bool>() ? 1.0 : 0.0);
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_quantization_duration_seconds", kInt8Model)),
              report["quantization_seconds"].get<double>());
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_weight_bytes", kInt8Model, "precision=\"int8\"")),
              report["weight_bytes_int8"].get<double>());
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_info", kInt8Model, "precision=\"int8\",quantization_mode=\"static\"")),
              1.0);
    // Fully int8: the label and the layer count agree with the report.
    EXPECT_EQ(report["precision"], "int8");
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_layers", kInt8Model, "precision=\"int8\"")),
              report["precision_layers"]["int8"].get<double>());
    EXPECT_TRUE(NoSeries(prom_, Sel("q8serve_model_layers", kInt8Model, "precision=\"fp32\"")));
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_model_info", kFp32Model, "precision=\"fp32\",quantization_mode=\"none\"")),
              1.0);
    EXPECT_TRUE(NoSeries(prom_, Sel("q8serve_model_accuracy", kFp32Model)));
    EXPECT_GT(prom_.Scalar(Sel("q8serve_model_load_duration_seconds", kInt8Model)).value_or(0), 0);
  }
  {
    SCOPED_TRACE("shadow comparisons counted");
    // Every successful request of the int8 model was sampled (fraction 1):
    // each sample is compared unless its request was dropped (queue full).
    // Drops happen inside the request, so the scrape that showed every
    // request (above) shows every drop too.
    const double elements = static_cast<double>(int8_load.elements);
    auto dropped = prom_.Scalar(Sel("q8serve_shadow_dropped_total", kInt8Model));
    ASSERT_TRUE(dropped.has_value());
    if (*dropped > 0) SleepSeconds(3);  // the worker finishes what was queued
    auto compared = prom_.WaitFor(
        Sel("q8serve_shadow_comparisons_total", kInt8Model), [&](auto v) { return *dropped > 0 || v == elements; }, 20);
    ASSERT_TRUE(compared.has_value());
    EXPECT_GT(*compared, 0);
    if (*dropped == 0) {
      EXPECT_EQ(*compared, elements);
    }
    EXPECT_LE(*compared, elements);
    auto agreed = prom_.Scalar(Sel("q8serve_shadow_agreements_total", kInt8Model));
    ASSERT_TRUE(agreed.has_value());
    EXPECT_LE(*agreed, *compared);
    EXPECT_GE(*agreed, 0.9 * *compared);  // int8 agrees with fp32 on live traffic as at upload
    EXPECT_EQ(
        prom_.WaitFor(Sel("q8serve_shadow_relative_error_count", kInt8Model), [&](auto v) { return v == *compared; }),
        *compared);
    auto mean_error = prom_.Scalar(Sel("q8serve_shadow_relative_error_sum", kInt8Model) + " / " +
                                   Sel("q8serve_shadow_relative_error_count", kInt8Model));
    ASSERT_TRUE(mean_error.has_value());
    EXPECT_GT(*mean_error, 0);    // int8 is not bit-exact
    EXPECT_LT(*mean_error, 0.2);  // but close
    // Nothing to compare for an fp32 model; the server default (0) applies elsewhere.
    EXPECT_TRUE(NoSeries(prom_, Sel("q8serve_shadow_comparisons_total", kFp32Model)));
    EXPECT_EQ(prom_.Scalar(Sel("q8serve_shadow_comparisons_total", "mlp_dynamic")), 0.0);
    std::cout << "shadow: " << *compared << " compared, " << *agreed << " agreed, " << *dropped
              << " dropped, mean relative error " << *mean_error << "\n";
  }
  {
    SCOPED_TRACE("promtool check metrics on a scrape with three models");
    std::string output;
    EXPECT_EQ(PromtoolCheckMetrics(metrics_port, &output), 0) << output;
  }
  {
    SCOPED_TRACE("every rule and dashboard expression evaluates against the live Prometheus");
    // rate() needs two samples of the error series, and the recording rules
    // must have seen the traffic.
    EXPECT_TRUE(prom_
                    .WaitFor(
                        "count_over_time(q8serve_inference_requests_total{status!=\"ok\"}[1m])",
                        [](auto v) { return v >= 2.0; }, 20)
                    .has_value());
    EXPECT_TRUE(prom_
                    .WaitFor(
                        "count(model:q8serve_shadow_agreements_per_comparisons:ratio_rate30m)",
                        [](auto v) { return v.has_value(); }, 20)
                    .has_value());
    int rule_exprs = 0;
    for (const char* file : {"prometheus/rules/q8serve_recording.yml", "prometheus/rules/q8serve_alerts.yml"}) {
      for (const std::string& expr : RuleExpressions(DeployPath(file))) {
        std::string error;
        EXPECT_TRUE(prom_.Query(expr, &error).has_value()) << file << ": " << expr << "\n" << error;
        ++rule_exprs;
      }
    }
    EXPECT_GE(rule_exprs, 11);
    // Prometheus itself evaluated every rule without error.
    auto rules = prom_.Api("rules");
    ASSERT_TRUE(rules.has_value());
    int evaluated = 0;
    for (const Json& group : (*rules)["data"]["groups"]) {
      for (const Json& rule : group["rules"]) {
        EXPECT_EQ(rule.value("health", ""), "ok") << rule.value("name", "") << ": " << rule.value("lastError", "");
        ++evaluated;
      }
    }
    EXPECT_EQ(evaluated, rule_exprs);
    int panels = 0;
    for (const auto& [where, expr] : DashboardExpressions(DeployPath("grafana/dashboards/q8serve.json"))) {
      std::string error;
      auto data = prom_.Query(expr, &error);
      EXPECT_TRUE(data.has_value()) << where << ": " << expr << "\n" << error;
      // With traffic on every model, every panel shows something.
      if (data) {
        EXPECT_FALSE((*data)["result"].empty()) << where << ": " << expr;
      }
      ++panels;
    }
    EXPECT_GE(panels, 10);
  }
  {
    SCOPED_TRACE("after unload the model's series disappear");
    ASSERT_TRUE(Unload(*stub, kInt8Model).ok());
    const std::string all_of_it = "{__name__=~\"q8serve_.+\",model=\"" + std::string(kInt8Model) + "\"}";
    bool gone = false;
    for (int i = 0; i < 60 && !gone; ++i) {
      gone = NoSeries(prom_, all_of_it);
      if (!gone) SleepSeconds(0.25);
    }
    EXPECT_TRUE(gone) << "series of " << kInt8Model << " still exported after unload";
    // The other models are still there.
    EXPECT_FALSE(NoSeries(prom_, "{__name__=~\"q8serve_.+\",model=\"" + std::string(kFp32Model) + "\"}"));
    std::string scrape;
    ASSERT_EQ(HttpGet(metrics_port, "/metrics", &scrape), 200);
    EXPECT_THAT(scrape, ::testing::Not(HasSubstr("model=\"" + std::string(kInt8Model) + "\"")));
  }
  EXPECT_EQ(server_.Stop(), 0);
}

// ---- Bad configuration ----

struct Exit {
  int code = -1;
  std::string log;
};

// Runs q8serve with `flags` and waits for it to exit by itself.
Exit RunToExit(const std::vector<std::string>& flags, double timeout_seconds = 30) {
  const std::string dir = MakeTempDir("prom_bad");
  const std::string log_path = dir + "/server.log";
  std::vector<std::string> args = {ServerBinary(), "--model_repository=" + dir + "/repo", "--grpc_address=127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::remove(log_path.c_str());
  pid_t pid = Spawn(args, log_path);
  Exit result;
  for (double waited = 0; waited < timeout_seconds; waited += 0.05) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      result.log = ReadFileOrDie(log_path);
      return result;
    }
    SleepSeconds(0.05);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  result.log = ReadFileOrDie(log_path) + "\n(still running after the timeout: killed)";
  return result;
}

TEST(PrometheusConfigTest, MetricsPortInUseIsAStartupError) {
  // Hold a listening socket on a port (all interfaces, as the exposer binds).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  Exit e = RunToExit({"--metrics_port=" + std::to_string(port)});
  ::close(fd);
  EXPECT_NE(e.code, 0) << e.log;
  EXPECT_NE(e.code, -1) << e.log;
  EXPECT_THAT(e.log, HasSubstr("cannot listen for metrics on 0.0.0.0 port " + std::to_string(port)));
  EXPECT_THAT(e.log, HasSubstr("--metrics_port"));
}

TEST(PrometheusConfigTest, ShadowFractionOutsideUnitIntervalIsAStartupError) {
  for (const char* bad : {"1.5", "-0.1"}) {
    Exit e = RunToExit({"--metrics_port=0", std::string("--shadow_fraction=") + bad});
    EXPECT_NE(e.code, 0) << e.log;
    EXPECT_NE(e.code, -1) << e.log;
    EXPECT_THAT(e.log, HasSubstr(std::string("--shadow_fraction must be in [0, 1], got ") + bad));
  }
  Exit e = RunToExit({"--metrics_port=-2"});
  EXPECT_NE(e.code, 0) << e.log;
  EXPECT_THAT(e.log, HasSubstr("--metrics_port must be in [0, 65535], or -1 to disable metrics, got -2"));
}

TEST(PrometheusConfigTest, ConfigShadowFractionOutOfRangeIsInvalidArgument) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(MakeTempDir("prom_cfg")));
  auto stub = server.Stub();
  const std::string mlp = ReadFileOrDie(TestDataPath("fashion_mlp.onnx"));
  grpc::Status s = UploadModel(*stub, "m", mlp, R"({"shadow_fraction":1.5,"quantization":{"mode":"none"}})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("'shadow_fraction' must be in [0, 1], got 1.5"));
  EXPECT_THAT(s.error_message(), HasSubstr("model 'm'"));
  // Nothing was loaded, the server still serves; a valid fraction loads.
  ASSERT_TRUE(UploadModel(*stub, "m", mlp, R"({"shadow_fraction":0.5,"quantization":{"mode":"none"}})").ok());
  EXPECT_EQ(server.Stop(), 0);
}

TEST(PrometheusConfigTest, MetricsCanBeDisabled) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(MakeTempDir("prom_off"), {"--metrics_port=-1"}));
  auto stub = server.Stub();
  ASSERT_TRUE(UploadModel(*stub, "m", ReadFileOrDie(TestDataPath("fashion_mlp.onnx"))).ok());
  inference::ModelInferResponse resp;
  EXPECT_TRUE(Infer(*stub, ImageRequest("m", TestImages(), 0, 2, true), &resp).ok());
  EXPECT_EQ(server.MetricsPort(), 0);
  EXPECT_THAT(server.Log(), ::testing::Not(HasSubstr("metrics listening")));
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace q8::testing
