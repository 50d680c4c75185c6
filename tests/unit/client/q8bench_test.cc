// q8bench_lib without a server: load-level ranges, option checks,
// percentiles, server counter deltas, the stability rule and the request mix.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "client/q8bench/bench_options.h"
#include "client/q8bench/inputs.h"
#include "client/q8bench/stats.h"
#include "core/npz.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::bench {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Q8benchRangeTest, ExpandsMultiplyAndAddSteps) {
  EXPECT_THAT(*ParseRange("1:16:x2", true), ElementsAre(1, 2, 4, 8, 16));
  EXPECT_THAT(*ParseRange("1:12:x2", true), ElementsAre(1, 2, 4, 8, 12));  // END is always the last level
  EXPECT_THAT(*ParseRange("2:8:+3", true), ElementsAre(2, 5, 8));
  EXPECT_THAT(*ParseRange("1:4", true), ElementsAre(1, 2, 4));       // default x2
  EXPECT_THAT(*ParseRange("1:3:x1.5", true), ElementsAre(1, 2, 3));  // integers: rounded, strictly increasing
  EXPECT_THAT(*ParseRange("7", true), ElementsAre(7));
  EXPECT_THAT(*ParseRange("50:200:+75", false), ElementsAre(50, 125, 200));
  EXPECT_THAT(*ParseRange("0.5", false), ElementsAre(0.5));
}

TEST(Q8benchRangeTest, RejectsBadSpecsWithTheReason) {
  auto message = [](const std::string& spec, bool integers) {
    return std::string(ParseRange(spec, integers).status().message());
  };
  EXPECT_THAT(message("0", true), HasSubstr("is not a number > 0"));
  EXPECT_THAT(message("a:4", true), HasSubstr("'a' is not a number > 0"));
  EXPECT_THAT(message("4:2", true), HasSubstr("END is below START"));
  EXPECT_THAT(message("1:8:x1", true), HasSubstr("factor must be > 1"));
  EXPECT_THAT(message("1:8:/2", true), HasSubstr("must be xF (multiply) or +S (add)"));
  EXPECT_THAT(message("1:8:+0.5", true), HasSubstr("is not an integer"));
  EXPECT_THAT(message("1:2:3:4", true), HasSubstr("expected START[:END[:xF|+S]]"));
  EXPECT_THAT(message("1:100000:+1", true), HasSubstr("more than 1000 levels"));
}

TEST(Q8benchOptionsTest, ValidateNamesTheFlag) {
  BenchOptions o;
  o.model = "m";
  o.levels = {1};
  EXPECT_TRUE(Validate(o).ok());
  BenchOptions bad = o;
  bad.model.clear();
  EXPECT_THAT(Validate(bad).message(), HasSubstr("--model"));
  bad = o;
  bad.max_windows = 2;
  EXPECT_THAT(Validate(bad).message(), HasSubstr("--max_windows"));
  bad = o;
  bad.window = absl::Milliseconds(5);
  EXPECT_THAT(Validate(bad).message(), HasSubstr("--window_ms"));
  bad = o;
  bad.stability_percent = 0;
  EXPECT_THAT(Validate(bad).message(), HasSubstr("--stability_percent"));
}

// Metadata of a [batch, sequence] ids + mask model.
inference::ModelMetadataResponse TokenModelMetadata() {
  inference::ModelMetadataResponse m;
  m.set_name("text");
  for (const char* name : {"input_ids", "attention_mask"}) {
    auto* in = m.add_inputs();
    in->set_name(name);
    in->set_datatype("INT64");
    in->add_shape(-1);
    in->add_shape(-1);
  }
  return m;
}

std::string WriteMix(const std::vector<std::pair<std::string, core::TensorView>>& arrays, const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << core::SerializeNpz(arrays);
  return path;
}

TEST(Q8benchRequestMixTest, OneRequestPerGroupInArchiveOrder) {
  core::Tensor ids5(core::DataType::kInt64, {1, 5}), mask5(core::DataType::kInt64, {1, 5});
  core::Tensor ids9(core::DataType::kInt64, {2, 9}), mask9(core::DataType::kInt64, {2, 9});
  BenchOptions o;
  o.model = "text";
  o.levels = {1};
  o.request_mix = WriteMix({{"b/input_ids", ids9.view()},
                            {"b/attention_mask", mask9.view()},
                            {"a/attention_mask", mask5.view()},
                            {"a/input_ids", ids5.view()}},
                           "mix_ok.npz");
  EXPECT_TRUE(Validate(o).ok());
  auto requests = BuildRequests(TokenModelMetadata(), o);
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 2u);
  // Group "b" first; inputs in the model's order whatever the archive's.
  EXPECT_EQ((*requests)[0].inputs(0).name(), "input_ids");
  EXPECT_THAT((*requests)[0].inputs(0).shape(), ElementsAre(2, 9));
  EXPECT_EQ((*requests)[1].inputs(1).name(), "attention_mask");
  EXPECT_THAT((*requests)[1].inputs(1).shape(), ElementsAre(1, 5));
  EXPECT_EQ((*requests)[1].raw_input_contents(0).size(), 5u * sizeof(int64_t));
}

TEST(Q8benchRequestMixTest, RefusesWhatDoesNotFitTheModel) {
  core::Tensor ids(core::DataType::kInt64, {1, 5}), floats(core::DataType::kFloat32, {1, 5});
  BenchOptions o;
  o.model = "text";
  o.levels = {1};
  o.request_mix = WriteMix({{"a/input_ids", ids.view()}}, "mix_missing.npz");
  EXPECT_THAT(BuildRequests(TokenModelMetadata(), o).status().message(),
              HasSubstr("group 'a' has no array for input 'attention_mask'"));
  o.request_mix = WriteMix({{"a/input_ids", ids.view()}, {"a/token_type_ids", ids.view()}}, "mix_extra.npz");
  EXPECT_THAT(BuildRequests(TokenModelMetadata(), o).status().message(), HasSubstr("no input 'token_type_ids'"));
  o.request_mix = WriteMix({{"a/input_ids", floats.view()}, {"a/attention_mask", ids.view()}}, "mix_type.npz");
  EXPECT_THAT(BuildRequests(TokenModelMetadata(), o).status().message(), HasSubstr("is FP32, the model wants INT64"));
  BenchOptions both = o;
  both.input_data = {"x.npy"};
  EXPECT_THAT(Validate(both).message(), HasSubstr("--request_mix"));
}

TEST(Q8benchStatsTest, NearestRankPercentilesOverSuccessesOnly) {
  std::vector<Completion> c;
  for (int i = 1; i <= 100; ++i) c.push_back({0, i * 1000, true});  // 1..100 us
  c.push_back({0, 999'000'000, false});                             // a failure is not a latency
  LatencySummary s = Summarize(c);
  EXPECT_EQ(s.count, 100);
  EXPECT_DOUBLE_EQ(s.p50_us, 50);
  EXPECT_DOUBLE_EQ(s.p90_us, 90);
  EXPECT_DOUBLE_EQ(s.p95_us, 95);
  EXPECT_DOUBLE_EQ(s.p99_us, 99);
  EXPECT_DOUBLE_EQ(s.max_us, 100);
  EXPECT_DOUBLE_EQ(s.avg_us, 50.5);
  EXPECT_EQ(Summarize({}).count, 0);
}

TEST(Q8benchStatsTest, ServerSplitIsPerRequestOverTheDelta) {
  ServerCounters a, b;
  b.success_count = 10;
  b.success_ns = 1'000'000;
  b.queue_count = 10;
  b.queue_ns = 100'000;
  b.compute_infer_count = 10;
  b.compute_infer_ns = 500'000;
  b.compute_input_count = 10;
  b.compute_input_ns = 50'000;
  b.inference_count = 20;
  a = b;
  a.success_count += 4;
  a.success_ns += 400'000;
  a.queue_count += 4;
  a.queue_ns += 40'000;
  a.compute_infer_count += 4;
  a.compute_infer_ns += 200'000;
  a.compute_input_count += 4;
  a.compute_input_ns += 20'000;
  a.inference_count += 8;
  ServerCounters d = Delta(a, b);
  EXPECT_EQ(d.inference_count, 8u);
  ServerSplit s = Split(d);
  EXPECT_DOUBLE_EQ(s.request_us, 100);
  EXPECT_DOUBLE_EQ(s.queue_us, 10);
  EXPECT_DOUBLE_EQ(s.compute_infer_us, 50);
  EXPECT_DOUBLE_EQ(s.compute_input_us, 5);
  EXPECT_DOUBLE_EQ(s.compute_output_us, 0);  // no requests counted: 0, not NaN
  EXPECT_DOUBLE_EQ(s.compute_us, 55);
}

TEST(Q8benchStatsTest, StableNeedsThreeWindowsWithinTolerance) {
  auto window = [](double throughput, double p99) {
    Window w;
    w.throughput = throughput;
    w.latency.p99_us = p99;
    return w;
  };
  std::vector<Window> w = {window(100, 10), window(101, 10)};
  EXPECT_FALSE(IsStable(w, 10));  // only two
  w.push_back(window(99, 10.5));
  EXPECT_TRUE(IsStable(w, 10));
  w.push_back(window(130, 10));  // throughput jumps: last three no longer agree
  EXPECT_FALSE(IsStable(w, 10));
  EXPECT_TRUE(IsStable(w, 50));
  std::vector<Window> tail = {window(100, 10), window(100, 10), window(100, 20)};  // p99 spikes
  EXPECT_FALSE(IsStable(tail, 10));
}

}  // namespace
}  // namespace q8::bench
