#include "server/metrics/model_metrics.h"

#include <cmath>
#include <regex>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/buckets.h"
#include "server/metrics/metrics_registry.h"
#include "tests/unit/server/fake_model.h"
#include "tests/unit/server/metrics/scrape_text.h"

namespace q8::server::metrics {
namespace {

using testing::CountLines;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Sample;
using testing::ScrapeModels;

std::shared_ptr<const engine::CompiledModel> Fake() { return std::make_shared<server::testing::FakeModel>(); }

ModelDescription Fp32(const std::string& name, int64_t version, const std::shared_ptr<const engine::CompiledModel>& m) {
  ModelDescription d;
  d.model = name;
  d.version = version;
  d.precision = "fp32";
  d.isa = "avx512_core_vnni";
  d.quantization_mode = "none";
  d.served = m;
  d.weight_bytes_fp32 = 100;
  d.load_seconds = 0.5;
  return d;
}

// A statically quantized version with its fp32 reference alive, so it is
// shadowed; the caller keeps both models alive (metrics never do).
ModelDescription Quantized(const std::string& name, int64_t version, const std::string& precision,
                           const std::shared_ptr<const engine::CompiledModel>& served,
                           const std::shared_ptr<const engine::CompiledModel>& reference) {
  ModelDescription d = Fp32(name, version, served);
  d.precision = precision;
  d.quantization_mode = "static";
  d.reference = reference;
  return d;
}

std::string Series(const std::string& name, const std::string& model, int64_t version, const std::string& extra = "") {
  return name + "{model=\"" + model + "\",version=\"" + std::to_string(version) + "\"" +
         (extra.empty() ? "" : "," + extra) + "}";
}

TEST(ModelMetricsTest, SeriesExistWithZerosOnceRegistered) {
  auto model = Fake();
  ModelMetrics m(Fp32("m", 1, model), nullptr);
  const std::string text = ScrapeModels({&m});
  EXPECT_EQ(Sample(text, Series("q8serve_inference_requests_total", "m", 1, "status=\"ok\"")), 0);
  EXPECT_EQ(Sample(text, Series("q8serve_inference_count_total", "m", 1)), 0);
  for (const char* h : {"q8serve_inference_request_duration_seconds", "q8serve_inference_queue_duration_seconds",
                        "q8serve_inference_compute_duration_seconds", "q8serve_inference_batch_size"}) {
    EXPECT_EQ(Sample(text, Series(std::string(h) + "_count", "m", 1)), 0) << h;
    EXPECT_EQ(Sample(text, Series(std::string(h) + "_sum", "m", 1)), 0) << h;
  }
  EXPECT_EQ(Sample(text, Series("q8serve_inference_inflight_requests", "m", 1)), 0);
  EXPECT_EQ(Sample(text, Series("q8serve_inference_queue_depth", "m", 1)), 0);
  // FakeModel::memory() is {100, 0, 0}.
  EXPECT_EQ(Sample(text, Series("q8serve_model_memory_bytes", "m", 1, "kind=\"weights\"")), 100);
  EXPECT_EQ(Sample(text, Series("q8serve_model_memory_bytes", "m", 1, "kind=\"activations\"")), 0);
  EXPECT_EQ(Sample(text, Series("q8serve_model_memory_bytes", "m", 1, "kind=\"scratchpad\"")), 0);
  EXPECT_EQ(Sample(text, Series("q8serve_model_memory_bytes", "m", 1, "kind=\"total\"")), 100);
  // FakeModel built 3 plans and holds 2.
  EXPECT_EQ(Sample(text, Series("q8serve_model_plan_builds_total", "m", 1)), 3);
  EXPECT_EQ(Sample(text, Series("q8serve_model_cached_plans", "m", 1)), 2);
  EXPECT_EQ(Sample(text, Series("q8serve_model_weight_bytes", "m", 1, "precision=\"fp32\"")), 100);
  EXPECT_EQ(Sample(text, Series("q8serve_model_load_duration_seconds", "m", 1)), 0.5);
  EXPECT_EQ(Sample(text, Series("q8serve_model_info", "m", 1,
                                "precision=\"fp32\",isa=\"avx512_core_vnni\",quantization_mode=\"none\"")),
            1);
  // The served model's weights by stored precision, read from memory() at
  // scrape time (FakeModel: 100 bytes, 60 int8, 10 bf16).
  EXPECT_EQ(Sample(text, Series("q8serve_model_served_weight_bytes", "m", 1, "precision=\"int8\"")), 60);
  EXPECT_EQ(Sample(text, Series("q8serve_model_served_weight_bytes", "m", 1, "precision=\"bf16\"")), 10);
  EXPECT_EQ(Sample(text, Series("q8serve_model_served_weight_bytes", "m", 1, "precision=\"fp32\"")), 30);
  // An fp32 version has no quantized weights, no layer counts from a report,
  // no upload accuracy, nothing to shadow.
  EXPECT_THAT(text, Not(HasSubstr("q8serve_model_weight_bytes{model=\"m\",version=\"1\",precision=\"int8\"")));
  EXPECT_THAT(text, Not(HasSubstr("q8serve_model_layers")));
  EXPECT_THAT(text, Not(HasSubstr("q8serve_model_accuracy")));
  EXPECT_THAT(text, Not(HasSubstr("q8serve_shadow_")));
  EXPECT_THAT(text, Not(HasSubstr("q8serve_model_quantization_duration_seconds")));
  // Only the ok status exists before any error.
  EXPECT_EQ(CountLines(text, "q8serve_inference_requests_total{"), 1);
}

TEST(ModelMetricsTest, ServingStateAndLiveSamplesAreReadAtScrapeTime) {
  auto model = Fake();
  ModelDescription d = Fp32("m", 3, model);
  std::string state = "calibrating";
  int64_t collected = 137;
  d.serving_state = [&state] { return state; };
  d.live_samples = [&collected] { return std::pair<int64_t, int64_t>{collected, 512}; };
  ModelMetrics m(std::move(d), nullptr);
  std::string text = ScrapeModels({&m});
  EXPECT_EQ(Sample(text, Series("q8serve_model_serving_state", "m", 3, "state=\"calibrating\"")), 1);
  EXPECT_EQ(Sample(text, Series("q8serve_model_live_calibration_samples", "m", 3, "kind=\"collected\"")), 137);
  EXPECT_EQ(Sample(text, Series("q8serve_model_live_calibration_samples", "m", 3, "kind=\"target\"")), 512);
  state = "quantizing";
  collected = 512;
  text = ScrapeModels({&m});
  EXPECT_EQ(Sample(text, Series("q8serve_model_serving_state", "m", 3, "state=\"quantizing\"")), 1);
  EXPECT_THAT(text, Not(HasSubstr("state=\"calibrating\"")));
  EXPECT_EQ(Sample(text, Series("q8serve_model_live_calibration_samples", "m", 3, "kind=\"collected\"")), 512);
  // Versions without them export neither.
  ModelMetrics plain(Fp32("p", 1, model), nullptr);
  text = ScrapeModels({&plain});
  EXPECT_THAT(text, Not(HasSubstr("q8serve_model_serving_state{")));
  EXPECT_THAT(text, Not(HasSubstr("q8serve_model_live_calibration_samples{")));
}

TEST(ModelMetricsTest, StatusLabelsAreOkOrGrpcCodeNames) {
  EXPECT_EQ(StatusLabel(absl::StatusCode::kOk), "ok");
  EXPECT_EQ(StatusLabel(absl::StatusCode::kInvalidArgument), "INVALID_ARGUMENT");
  EXPECT_EQ(StatusLabel(absl::StatusCode::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusLabel(absl::StatusCode::kResourceExhausted), "RESOURCE_EXHAUSTED");

  auto model = Fake();
  ModelMetrics m(Fp32("m", 2, model), nullptr);
  m.RecordRequest(absl::StatusCode::kOk, {0.001, 0, 0.0008, 4, 4});
  m.RecordRequest(absl::StatusCode::kInvalidArgument, {0.0001, 0, 0, 0});
  m.RecordRequest(absl::StatusCode::kInvalidArgument, {0.0001, 0, 0, 0});
  m.RecordRequest(absl::StatusCode::kDeadlineExceeded, {0.2, 0, 0, 0});
  const std::string text = ScrapeModels({&m});
  EXPECT_EQ(Sample(text, Series("q8serve_inference_requests_total", "m", 2, "status=\"ok\"")), 1);
  EXPECT_EQ(Sample(text, Series("q8serve_inference_requests_total", "m", 2, "status=\"INVALID_ARGUMENT\"")), 2);
  EXPECT_EQ(Sample(text, Series("q8serve_inference_requests_total", "m", 2, "status=\"DEADLINE_EXCEEDED\"")), 1);
  EXPECT_EQ(CountLines(text, "q8serve_inference_requests_total{"), 3);
  // Only successful requests feed the histograms and the inference count.
  EXPECT_EQ(Sample(text, Series("q8serve_inference_request_duration_seconds_count", "m", 2)), 1);
  EXPECT_EQ(Sample(text, Series("q8serve_inference_count_total", "m", 2)), 4);
  EXPECT_EQ(Sample(text, Series("q8serve_inference_batch_size_sum", "m", 2)), 4);
  EXPECT_DOUBLE_EQ(*Sample(text, Series("q8serve_inference_compute_duration_seconds_sum", "m", 2)), 0.0008);
}

// The boundaries of every exported histogram, from the scrape itself.
std::vector<double> Boundaries(const std::string& text, const std::string& histogram) {
  std::vector<double> out;
  const std::regex re(histogram + R"re(_bucket\{[^}]*le="([^"]+)"\})re");
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) {
    const std::string le = (*it)[1];
    out.push_back(le == "+Inf" ? HUGE_VAL : std::stod(le));
  }
  return out;
}

TEST(ModelMetricsTest, LatencyBucketsSpan50MicrosecondsTo10Seconds) {
  auto model = Fake();
  ModelMetrics m(Fp32("m", 1, model), nullptr);
  m.RecordRequest(absl::StatusCode::kOk, {0.0003, 0.00004, 0.0002, 1});
  const std::string text = ScrapeModels({&m});
  const std::vector<double> expected = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   HUGE_VAL};
  for (const char* h : {"q8serve_inference_request_duration_seconds", "q8serve_inference_queue_duration_seconds",
                        "q8serve_inference_compute_duration_seconds"}) {
    EXPECT_THAT(Boundaries(text, h), ElementsAreArray(expected)) << h;
  }
  // 0.3 ms is counted from the 0.5 ms bucket on (cumulative), not below.
  const std::string b = "q8serve_inference_request_duration_seconds_bucket";
  EXPECT_EQ(Sample(text, Series(b, "m", 1, "le=\"0.00025\"")), 0);
  EXPECT_EQ(Sample(text, Series(b, "m", 1, "le=\"0.0005\"")), 1);
  EXPECT_EQ(Sample(text, Series(b, "m", 1, "le=\"+Inf\"")), 1);
  // 40 µs queue time lands in the first (50 µs) bucket.
  EXPECT_EQ(Sample(text, Series("q8serve_inference_queue_duration_seconds_bucket", "m", 1, "le=\"5e-05\"")), 1);
  std::vector<double> batch = BatchSizeBuckets();
  batch.push_back(HUGE_VAL);
  EXPECT_THAT(Boundaries(text, "q8serve_inference_batch_size"), ElementsAreArray(batch));
}

TEST(ModelMetricsTest, InflightGaugeFollowsGuards) {
  auto model = Fake();
  ModelMetrics m(Fp32("m", 1, model), nullptr);
  {
    ModelMetrics::Inflight a(&m);
    ModelMetrics::Inflight b(&m);
    EXPECT_EQ(m.inflight(), 2);
    EXPECT_EQ(Sample(ScrapeModels({&m}), Series("q8serve_inference_inflight_requests", "m", 1)), 2);
  }
  EXPECT_EQ(m.inflight(), 0);
  ModelMetrics::Inflight disabled(nullptr);  // metrics off: a no-op
}

TEST(ModelMetricsTest, QueueDepthIsReadAtScrape) {
  auto model = Fake();
  int64_t depth = 3;
  ModelDescription d = Fp32("m", 1, model);
  d.queue_depth = [&depth] { return depth; };
  ModelMetrics m(d, nullptr);
  EXPECT_EQ(Sample(ScrapeModels({&m}), Series("q8serve_inference_queue_depth", "m", 1)), 3);
  depth = 0;
  EXPECT_EQ(Sample(ScrapeModels({&m}), Series("q8serve_inference_queue_depth", "m", 1)), 0);
}

TEST(ModelMetricsTest, QuantizedVersionExportsReportAndShadowSeries) {
  auto served = Fake();
  auto reference = Fake();
  ModelDescription d = Quantized("q", 3, "int8", served, reference);
  d.weight_bytes_fp32 = 4000;
  d.weight_bytes_int8 = 1000;
  d.accuracy = {{"fp32", "top1", 0.9}, {"int8", "top1", 0.89}, {"int8", "agreement", 0.98}};
  d.output_sqnr_db = 31.5;
  d.target_met = true;
  d.quantization_seconds = 1.25;
  ModelMetrics m(d, nullptr);
  const std::string text = ScrapeModels({&m});
  EXPECT_EQ(Sample(text, Series("q8serve_model_weight_bytes", "q", 3, "precision=\"fp32\"")), 4000);
  EXPECT_EQ(Sample(text, Series("q8serve_model_weight_bytes", "q", 3, "precision=\"int8\"")), 1000);
  EXPECT_EQ(Sample(text, Series("q8serve_model_accuracy", "q", 3, "precision=\"fp32\",metric=\"top1\"")), 0.9);
  EXPECT_EQ(Sample(text, Series("q8serve_model_accuracy", "q", 3, "precision=\"int8\",metric=\"top1\"")), 0.89);
  EXPECT_EQ(Sample(text, Series("q8serve_model_accuracy", "q", 3, "precision=\"int8\",metric=\"agreement\"")), 0.98);
  EXPECT_EQ(Sample(text, Series("q8serve_model_output_sqnr_db", "q", 3)), 31.5);
  EXPECT_EQ(Sample(text, Series("q8serve_model_accuracy_target_met", "q", 3)), 1);
  EXPECT_EQ(Sample(text, Series("q8serve_model_quantization_duration_seconds", "q", 3)), 1.25);
  // Served + fp32 reference: 100 + 100 weight bytes.
  EXPECT_EQ(Sample(text, Series("q8serve_model_memory_bytes", "q", 3, "kind=\"total\"")), 200);
  for (const char* c : {"q8serve_shadow_comparisons_total", "q8serve_shadow_agreements_total",
                        "q8serve_shadow_dropped_total", "q8serve_shadow_relative_error_count"}) {
    EXPECT_EQ(Sample(text, Series(c, "q", 3)), 0) << c;
  }
}

// A model partly int8, partly bf16 and fp32 (the precision ladder) is labelled
// "mixed", exports its layer counts per precision and its served weights per
// stored precision (the served model only, not the fp32 reference), and is
// shadowed like an int8 one.
TEST(ModelMetricsTest, MixedVersionExportsPerPrecisionLayersAndWeights) {
  auto served = Fake();
  auto reference = Fake();
  ModelDescription d = Quantized("x", 2, "mixed", served, reference);
  d.weight_bytes_fp32 = 400;
  d.weight_bytes_int8 = 100;
  d.precision_layers = {{"int8", 5}, {"bf16", 1}, {"fp32", 2}};
  ModelMetrics m(d, nullptr);
  const std::string text = ScrapeModels({&m});
  EXPECT_EQ(Sample(text, Series("q8serve_model_info", "x", 2,
                                "precision=\"mixed\",isa=\"avx512_core_vnni\",quantization_mode=\"static\"")),
            1);
  EXPECT_EQ(Sample(text, Series("q8serve_model_layers", "x", 2, "precision=\"int8\"")), 5);
  EXPECT_EQ(Sample(text, Series("q8serve_model_layers", "x", 2, "precision=\"bf16\"")), 1);
  EXPECT_EQ(Sample(text, Series("q8serve_model_layers", "x", 2, "precision=\"fp32\"")), 2);
  EXPECT_EQ(Sample(text, Series("q8serve_model_served_weight_bytes", "x", 2, "precision=\"int8\"")), 60);
  EXPECT_EQ(Sample(text, Series("q8serve_model_served_weight_bytes", "x", 2, "precision=\"bf16\"")), 10);
  EXPECT_EQ(Sample(text, Series("q8serve_model_served_weight_bytes", "x", 2, "precision=\"fp32\"")), 30);
  // The existing series keep their meaning: the whole served model's weights.
  EXPECT_EQ(Sample(text, Series("q8serve_model_weight_bytes", "x", 2, "precision=\"int8\"")), 100);
  EXPECT_EQ(Sample(text, Series("q8serve_shadow_comparisons_total", "x", 2)), 0);
}

// The shadow worker's results land in their own series (comparisons and
// agreements are different counters; every relative error is observed).
TEST(ModelMetricsTest, ShadowResultsAreRecorded) {
  auto served = Fake();
  auto reference = Fake();
  // Shadow series exist only for quantized versions with a reference.
  ModelDescription d = Quantized("q", 3, "int8", served, reference);
  ModelMetrics m(d, nullptr);
  m.RecordShadow({/*compared=*/3, /*agreed=*/2, {0.01, 0.2, 0.05}});
  m.RecordShadow({/*compared=*/1, /*agreed=*/0, {0.5}});
  const std::string text = ScrapeModels({&m});
  EXPECT_EQ(Sample(text, Series("q8serve_shadow_comparisons_total", "q", 3)), 4);
  EXPECT_EQ(Sample(text, Series("q8serve_shadow_agreements_total", "q", 3)), 2);
  EXPECT_EQ(Sample(text, Series("q8serve_shadow_relative_error_count", "q", 3)), 4);
  EXPECT_NEAR(Sample(text, Series("q8serve_shadow_relative_error_sum", "q", 3)).value_or(-1), 0.76, 1e-9);
}

TEST(ModelMetricsTest, MemoryIsReadAtScrapeAndDisappearsWithTheModel) {
  auto model = Fake();
  ModelMetrics m(Fp32("m", 1, model), nullptr);
  EXPECT_EQ(Sample(ScrapeModels({&m}), Series("q8serve_model_memory_bytes", "m", 1, "kind=\"total\"")), 100);
  model.reset();  // metrics never keep a model alive
  EXPECT_EQ(Sample(ScrapeModels({&m}), Series("q8serve_model_memory_bytes", "m", 1, "kind=\"total\"")), std::nullopt);
}

TEST(ModelMetricsTest, ShadowSamplingIsDeterministicAndExact) {
  auto served = Fake();
  auto reference = Fake();
  ModelDescription d = Quantized("q", 1, "int8", served, reference);
  d.shadow_fraction = 0.25;
  ModelMetrics quarter(d, nullptr);
  std::vector<int> sampled;
  for (int i = 0; i < 100; ++i) {
    if (quarter.SampleForShadow()) sampled.push_back(i);
  }
  ASSERT_EQ(sampled.size(), 25u);
  EXPECT_EQ(sampled[0], 3);
  EXPECT_EQ(sampled[1], 7);
  EXPECT_EQ(sampled.back(), 99);

  d.shadow_fraction = 0.01;
  ModelMetrics one_percent(d, nullptr);
  int n = 0;
  for (int i = 0; i < 1000; ++i) n += one_percent.SampleForShadow();
  EXPECT_EQ(n, 10);
  d.shadow_fraction = 1;
  ModelMetrics all(d, nullptr);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(all.SampleForShadow());
  d.shadow_fraction = 0;
  ModelMetrics none(d, nullptr);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(none.SampleForShadow());
}

TEST(MetricsRegistryTest, RegisterReplaceUnregister) {
  MetricsOptions options;
  options.port = -1;
  auto registry = MetricsRegistry::Create(options);
  ASSERT_TRUE(registry.ok()) << registry.status();
  MetricsRegistry& r = **registry;
  EXPECT_EQ(r.port(), 0);
  auto a = Fake(), b = Fake();
  auto m1 = r.Register(Fp32("a", 1, a));
  auto m2 = r.Register(Fp32("b", 1, b));
  EXPECT_EQ(r.registered(), 2u);
  m1->RecordRequest(absl::StatusCode::kOk, {0.001, 0, 0.001, 1});
  std::string text = r.Scrape();
  EXPECT_EQ(Sample(text, Series("q8serve_inference_requests_total", "a", 1, "status=\"ok\"")), 1);
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes "));

  // Replacing version a:1 restarts its series; unregistering the replaced
  // object afterwards must not remove the new one.
  auto m1b = r.Register(Fp32("a", 1, a));
  EXPECT_EQ(r.registered(), 2u);
  r.Unregister(m1);
  EXPECT_EQ(r.registered(), 2u);
  text = r.Scrape();
  EXPECT_EQ(Sample(text, Series("q8serve_inference_requests_total", "a", 1, "status=\"ok\"")), 0);

  r.Unregister(m1b);
  text = r.Scrape();
  EXPECT_EQ(CountLines(text, "model=\"a\""), 0);
  EXPECT_GT(CountLines(text, "model=\"b\""), 20);
  // A request still holding the unregistered object updates it harmlessly.
  m1b->RecordRequest(absl::StatusCode::kOk, {0.001, 0, 0.001, 1});
  EXPECT_EQ(CountLines(r.Scrape(), "model=\"a\""), 0);
  r.Unregister(m2);
  EXPECT_EQ(r.registered(), 0u);
  EXPECT_THAT(r.Scrape(), Not(HasSubstr("q8serve_")));
}

TEST(MetricsRegistryTest, RejectsBadOptions) {
  MetricsOptions options;
  options.port = -1;
  options.shadow_fraction = 1.5;
  auto r = MetricsRegistry::Create(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("--shadow_fraction must be in [0, 1], got 1.5"));
  options.shadow_fraction = -0.1;
  EXPECT_EQ(MetricsRegistry::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.shadow_fraction = 0.5;
  options.port = 70000;
  EXPECT_EQ(MetricsRegistry::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MetricsRegistryTest, AddressIsOneHostWithoutPort) {
  MetricsOptions options;
  for (const char* good : {"0.0.0.0", "127.0.0.1", "[::1]", "[::]", "q8serve.local"}) {
    options.address = good;
    EXPECT_TRUE(ValidateMetricsOptions(options).ok()) << good;
  }
  for (const char* bad : {"", "127.0.0.1:9000", "::1", "[::1]:9000", "a,b", "host name", "[]", "http://x"}) {
    options.address = bad;
    const absl::Status s = ValidateMetricsOptions(options);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("--metrics_address")) << bad;
  }
}

TEST(MetricsRegistryTest, BindsTheGivenAddress) {
  MetricsOptions options;
  options.port = 0;
  options.address = "127.0.0.1";
  auto bound = MetricsRegistry::Create(options);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_GT((*bound)->port(), 0);
  options.address = "192.0.2.1";  // TEST-NET-1: not an address of this host
  auto foreign = MetricsRegistry::Create(options);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(foreign.status().message()), HasSubstr("192.0.2.1"));
}

TEST(MetricsRegistryTest, PortZeroPicksAFreePortAndABusyPortIsAnError) {
  MetricsOptions options;
  options.port = 0;
  auto first = MetricsRegistry::Create(options);
  ASSERT_TRUE(first.ok()) << first.status();
  const int port = (*first)->port();
  EXPECT_GT(port, 0);
  options.port = port;
  auto second = MetricsRegistry::Create(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("port " + std::to_string(port)));
}

}  // namespace
}  // namespace q8::server::metrics
