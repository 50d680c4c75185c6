#include "server/model_registry.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/server/fake_model.h"
#include "tests/unit/server/metrics/scrape_text.h"

namespace q8::server {
namespace {

using testing::FakeModel;
using ::testing::HasSubstr;
namespace testing_metrics = ::q8::server::metrics::testing;

std::shared_ptr<const engine::CompiledModel> Fake(std::atomic<int>* alive = nullptr) {
  return std::make_shared<FakeModel>(8, alive);
}

TEST(ModelRegistryTest, UnknownModelIsNotFoundWithName) {
  ModelRegistry r;
  auto h = r.Get("ghost", "");
  EXPECT_EQ(h.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("'ghost'"));
}

TEST(ModelRegistryTest, EmptyVersionIsLatestReady) {
  ModelRegistry r;
  r.Publish("m", {{1, Fake()}, {3, Fake()}});
  auto h = r.Get("m", "");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->version, 3);
  EXPECT_EQ(r.Get("m", "1")->version, 1);
  auto missing = r.Get("m", "2");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no version '2' (versions: 1, 3)"));
  EXPECT_EQ(r.Get("m", "abc").status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelRegistryTest, HandleOutlivesUnload) {
  std::atomic<int> alive{0};
  ModelRegistry r;
  r.Publish("m", {{1, Fake(&alive)}});
  EXPECT_EQ(alive, 1);
  auto h = r.Get("m", "");
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(r.Unload("m").ok());
  EXPECT_EQ(r.Get("m", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(alive, 1);  // the in-flight handle keeps it alive
  *h = ModelHandle();   // the request finishes
  EXPECT_EQ(alive, 0);
  auto index = r.Index();
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0].state, ModelState::kUnavailable);
  EXPECT_EQ(index[0].reason, "unloaded");
  EXPECT_TRUE(r.Unload("m").ok());  // idempotent
  EXPECT_EQ(r.Unload("ghost").code(), absl::StatusCode::kNotFound);
}

TEST(ModelRegistryTest, HotSwapKeepsOldHandleAndStats) {
  std::atomic<int> alive{0};
  ModelRegistry r;
  r.Publish("m", {{1, Fake(&alive)}});
  auto old = r.Get("m", "1");
  old->stats->Record({.ok = true, .total_ns = 5});
  r.Publish("m", {{1, Fake(&alive)}});
  EXPECT_EQ(alive, 2);
  auto fresh = r.Get("m", "1");
  EXPECT_NE(fresh->model, old->model);
  EXPECT_EQ(fresh->stats, old->stats);
  EXPECT_EQ(fresh->stats->totals().success_ns, 5u);
  *old = ModelHandle();
  EXPECT_EQ(alive, 1);
}

TEST(ModelRegistryTest, KeepsFp32ReferenceAndQuantizationSummary) {
  ModelRegistry r;
  ServedModel served;
  served.model = Fake();
  served.fp32_model = Fake();
  engine::QuantizationReport report;
  report.mode = "static";
  report.eval_samples = 60;
  report.layers.push_back({"fc", "Gemm", "int8"});
  served.quantization = MakeQuantizationInfo(report, "{}", "artifact");
  r.Publish("q", {{1, served}});
  auto h = r.Get("q", "");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->model, served.model);
  EXPECT_EQ(h->served.fp32_model, served.fp32_model);
  EXPECT_EQ(PlatformOf(h->served), kPlatformInt8);
  ASSERT_EQ(r.Index().size(), 1u);
  EXPECT_EQ(r.Index()[0].reason, "int8 static, target met");
  report.target_met = false;
  report.drop = 0.03;
  report.max_drop = 0.01;
  report.metric = "top1";
  EXPECT_EQ(QuantizationSummary(report), "int8 static, target missed (top1 drop 0.03 > 0.01)");
  report.layers[0].precision = "fp32";
  EXPECT_EQ(QuantizationSummary(report), "fp32 (static: every layer fell back)");
}

// A model the precision ladder left partly int8 says so, with its layer
// counts, in the summary that the upload reply, RepositoryIndex and the
// metrics' reason show (it said "int8 static" before).
TEST(ModelRegistryTest, QuantizationSummaryNamesAMixedModelAndItsLayers) {
  engine::QuantizationReport report;
  report.mode = "static";
  report.eval_samples = 60;
  report.layers = {{"c1", "Conv", "int8"}, {"c2", "Conv", "bf16"}, {"fc", "Gemm", "fp32"}};
  report.precision = "mixed";
  report.precision_layers = {{"int8", 1}, {"bf16", 1}, {"fp32", 1}};
  EXPECT_EQ(QuantizationSummary(report), "mixed static (int8 1, bf16 1, fp32 1), target met");
  EXPECT_EQ(MakeQuantizationInfo(report, "{}", "a")->precision, "mixed");

  report.layers[0].precision = "bf16";
  report.precision_layers = {{"int8", 0}, {"bf16", 2}, {"fp32", 1}};
  EXPECT_EQ(QuantizationSummary(report), "mixed (static: every layer fell back; bf16 2, fp32 1)");

  report.layers[2].precision = "bf16";
  report.precision = "bf16";
  report.precision_layers = {{"bf16", 3}};
  EXPECT_EQ(QuantizationSummary(report), "bf16 (static: every layer fell back)");
}

// ---- Metrics lifecycle: series exist exactly while a version is READY ----

std::unique_ptr<metrics::MetricsRegistry> NoEndpointMetrics() {
  metrics::MetricsOptions options;
  options.port = -1;
  return *metrics::MetricsRegistry::Create(options);
}

int SeriesOf(const metrics::MetricsRegistry& m, const std::string& model, int64_t version) {
  return testing_metrics::CountLines(m.Scrape(),
                                     "{model=\"" + model + "\",version=\"" + std::to_string(version) + "\"");
}

TEST(ModelRegistryMetricsTest, PublishRegistersAndUnloadRemoves) {
  auto metrics = NoEndpointMetrics();
  ModelRegistry r(metrics.get());
  r.Publish("m", {{1, Fake()}, {2, Fake()}});
  r.Publish("other", {{1, Fake()}});
  EXPECT_EQ(metrics->registered(), 3u);
  auto h = r.Get("m", "2");
  ASSERT_TRUE(h.ok());
  ASSERT_NE(h->metrics, nullptr);
  EXPECT_EQ(h->metrics->description().model, "m");
  EXPECT_EQ(h->metrics->description().version, 2);
  EXPECT_GT(SeriesOf(*metrics, "m", 2), 20);

  ASSERT_TRUE(r.Unload("m").ok());
  EXPECT_EQ(metrics->registered(), 1u);
  EXPECT_EQ(SeriesOf(*metrics, "m", 1), 0);
  EXPECT_EQ(SeriesOf(*metrics, "m", 2), 0);
  EXPECT_GT(SeriesOf(*metrics, "other", 1), 20);
  // The in-flight request still updates its (now unexported) object.
  h->metrics->RecordRequest(absl::StatusCode::kOk, {0.001, 0, 0.001, 1});
  EXPECT_EQ(SeriesOf(*metrics, "m", 2), 0);

  r.SetModelUnavailable("other", "config broken");
  EXPECT_EQ(metrics->registered(), 0u);
}

TEST(ModelRegistryMetricsTest, ReplaceRestartsSeriesAndDroppedVersionsDisappear) {
  auto metrics = NoEndpointMetrics();
  ModelRegistry r(metrics.get());
  auto v1 = Fake();
  r.Publish("m", {{1, v1}, {2, Fake()}});
  auto first = r.Get("m", "1")->metrics;
  first->RecordRequest(absl::StatusCode::kOk, {0.001, 0, 0.001, 1});
  // A reload that kept version 1's compiled model keeps its series.
  ServedModel kept(v1);
  r.Publish("m", {{1, kept}, {2, Fake()}});
  EXPECT_EQ(r.Get("m", "1")->metrics, first);
  // A new model for version 1 (re-upload): new series; version 2 not published any more.
  r.Publish("m", {{1, Fake()}});
  auto second = r.Get("m", "1")->metrics;
  EXPECT_NE(second, first);
  EXPECT_EQ(second->requests(absl::StatusCode::kOk), 0);
  EXPECT_EQ(metrics->registered(), 1u);
  EXPECT_EQ(SeriesOf(*metrics, "m", 2), 0);
  EXPECT_GT(SeriesOf(*metrics, "m", 1), 20);
}

TEST(ModelRegistryMetricsTest, ShadowFractionFromConfigOrServerDefault) {
  metrics::MetricsOptions options;
  options.port = -1;
  options.shadow_fraction = 0.2;
  auto metrics = *metrics::MetricsRegistry::Create(options);
  ModelRegistry r(metrics.get());
  auto quantized = [](std::optional<double> fraction) {
    ServedModel s;
    s.model = Fake();
    s.fp32_model = Fake();
    engine::QuantizationReport report;
    report.mode = "static";
    report.layers.push_back({"fc", "Gemm", "int8"});
    s.quantization = MakeQuantizationInfo(report, "{}", "artifact");
    s.shadow_fraction = fraction;
    return s;
  };
  r.Publish("default", {{1, quantized(std::nullopt)}});
  r.Publish("own", {{1, quantized(0.75)}});
  r.Publish("fp32", {{1, Fake()}});
  EXPECT_EQ(r.Get("default", "")->metrics->description().shadow_fraction, 0.2);
  EXPECT_EQ(r.Get("own", "")->metrics->description().shadow_fraction, 0.75);
  EXPECT_EQ(r.Get("fp32", "")->metrics->description().shadow_fraction, 0);  // nothing to compare with
  EXPECT_EQ(r.Get("own", "")->metrics->description().precision, "int8");
  EXPECT_EQ(r.Get("fp32", "")->metrics->description().precision, "fp32");

  // A report with the model-level summary (precision ladder): its label and
  // layer counts reach the metrics, and a mixed model is shadowed like int8.
  ServedModel mixed = quantized(std::nullopt);
  engine::QuantizationReport report;
  report.mode = "static";
  report.layers = {{"a", "Conv", "int8"}, {"b", "Conv", "bf16"}};
  report.precision = "mixed";
  report.precision_layers = {{"int8", 1}, {"bf16", 1}};
  mixed.quantization = MakeQuantizationInfo(report, "{}", "artifact");
  r.Publish("mixed", {{1, mixed}});
  const metrics::ModelDescription& d = r.Get("mixed", "")->metrics->description();
  EXPECT_EQ(d.precision, "mixed");
  EXPECT_EQ(d.precision_layers, report.precision_layers);
  EXPECT_EQ(d.shadow_fraction, 0.2);
}

TEST(ModelRegistryMetricsTest, DisabledMetricsGiveNullHandles) {
  ModelRegistry r;
  r.Publish("m", {{1, Fake()}});
  EXPECT_EQ(r.Get("m", "")->metrics, nullptr);
}

TEST(ModelRegistryTest, LoadingAndFailedStates) {
  ModelRegistry r;
  r.Publish("m", {{1, Fake()}});
  r.MarkLoading("m", {1, 2});
  EXPECT_TRUE(r.Get("m", "1").ok());  // READY stays READY during reload
  EXPECT_EQ(r.Get("m", "2").status().code(), absl::StatusCode::kUnavailable);
  r.MarkFailed("m", {1, 2}, "unsupported op Erf");
  EXPECT_TRUE(r.Get("m", "1").ok());
  auto failed = r.Get("m", "2");
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("UNAVAILABLE: unsupported op Erf"));
  auto index = r.Index();
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index[0].state, ModelState::kReady);
  EXPECT_EQ(index[1].state, ModelState::kUnavailable);
  EXPECT_EQ(index[1].reason, "unsupported op Erf");
}

TEST(ModelRegistryTest, ModelLevelUnavailable) {
  ModelRegistry r;
  r.SetModelUnavailable("m", "unloaded");
  EXPECT_TRUE(r.Contains("m"));
  EXPECT_FALSE(r.AnyReady("m"));
  auto h = r.Get("m", "");
  EXPECT_EQ(h.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("no ready version (unloaded)"));
  auto index = r.Index();
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0].version, 0);
}

TEST(ModelRegistryTest, OneOperationPerName) {
  ModelRegistry r;
  {
    auto g = r.BeginOperation("m", "load");
    ASSERT_TRUE(g.ok());
    auto second = r.BeginOperation("m", "unload");
    EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted);
    EXPECT_THAT(std::string(second.status().message()), HasSubstr("a load of this model is already in progress"));
    EXPECT_TRUE(r.BeginOperation("other", "load").ok());
  }
  EXPECT_TRUE(r.BeginOperation("m", "load").ok());
}

TEST(ModelRegistryTest, ConcurrentReadersAndWriters) {
  ModelRegistry r;
  r.Publish("m", {{1, Fake()}});
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto h = r.Get("m", "");
        if (h.ok()) {
          ASSERT_NE(h->model, nullptr);
          ++ok;
        } else {
          ASSERT_EQ(h.status().code(), absl::StatusCode::kNotFound);
        }
      }
    });
  }
  // At least 200 swaps, and keep going until readers have seen the model.
  for (int i = 0; (i < 200 || ok < 50) && i < 10000000; ++i) {
    r.Publish("m", {{1, Fake()}});
    if (i % 3 == 0) {
      ASSERT_TRUE(r.Unload("m").ok());
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace q8::server
