// Presets and explicit stream layouts, and the CPU budget probe (cgroup
// v1/v2 files in a temp directory standing in for /sys/fs/cgroup).
#include "server/execution/execution_config.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <fstream>

#include "server/execution/cpu_budget.h"

namespace q8::server {
namespace {

TEST(ResolveStreamsTest, PresetsDivideTheCpus) {
  ExecutionConfig c;
  StreamLayout l = ResolveStreams(c, ExecutionPreset::kLatency, 4);
  EXPECT_EQ(l.streams, 1);
  EXPECT_EQ(l.threads_per_stream, 4);
  l = ResolveStreams(c, ExecutionPreset::kThroughput, 4);
  EXPECT_EQ(l.streams, 4);
  EXPECT_EQ(l.threads_per_stream, 1);
  c.preset = ExecutionPreset::kLatency;  // the model's own preset wins
  EXPECT_EQ(ResolveStreams(c, ExecutionPreset::kThroughput, 4).streams, 1);
}

TEST(ResolveStreamsTest, ExplicitCountsOverrideTheirHalf) {
  ExecutionConfig c;
  c.streams = 2;
  StreamLayout l = ResolveStreams(c, ExecutionPreset::kLatency, 8);
  EXPECT_EQ(l.streams, 2);
  EXPECT_EQ(l.threads_per_stream, 4);
  c = {};
  c.threads_per_stream = 3;
  l = ResolveStreams(c, ExecutionPreset::kLatency, 8);
  EXPECT_EQ(l.streams, 2);
  EXPECT_EQ(l.threads_per_stream, 3);
  c.streams = 5;
  l = ResolveStreams(c, ExecutionPreset::kLatency, 2);
  EXPECT_EQ(l.streams, 5);
  EXPECT_EQ(l.threads_per_stream, 3);
  c = {};
  c.streams = 4;  // more streams than CPUs: still one thread each
  EXPECT_EQ(ResolveStreams(c, ExecutionPreset::kLatency, 2).threads_per_stream, 1);
}

// The auto rule: T = one-thread run time / 4 ms, within [1, min(cpus, 4)];
// cpus / T streams of T threads.
TEST(AutoLayoutTest, SmallModelsOneStreamPerCpuLargeOnesMoreThreads) {
  auto is = [](StreamLayout l, int streams, int threads) {
    return l.streams == streams && l.threads_per_stream == threads;
  };
  EXPECT_TRUE(is(AutoLayout(22e-6, 2), 2, 1));   // Fashion CNN
  EXPECT_TRUE(is(AutoLayout(3.4e-3, 2), 2, 1));  // MobileNetV2
  EXPECT_TRUE(is(AutoLayout(8.7e-3, 2), 1, 2));  // ResNet-18
  EXPECT_TRUE(is(AutoLayout(20e-3, 2), 1, 2));   // ResNet-50
  EXPECT_TRUE(is(AutoLayout(20e-3, 1), 1, 1));   // one CPU: nothing to split
  EXPECT_TRUE(is(AutoLayout(22e-6, 16), 16, 1));
  EXPECT_TRUE(is(AutoLayout(9e-3, 16), 8, 2));
  EXPECT_TRUE(is(AutoLayout(13e-3, 16), 5, 3));  // 16 / 3: one CPU left for the server
  EXPECT_TRUE(is(AutoLayout(20e-3, 16), 4, 4));
  EXPECT_TRUE(is(AutoLayout(1.0, 16), 4, 4));  // at most 4 threads per stream
  EXPECT_TRUE(is(AutoLayout(0, 0), 1, 1));
}

TEST(AutoLayoutTest, UsedOnlyWhenNoCountIsGiven) {
  ExecutionConfig c;
  EXPECT_TRUE(UsesAutoLayout(c, ExecutionPreset::kAuto));
  EXPECT_FALSE(UsesAutoLayout(c, ExecutionPreset::kLatency));
  // Before the run time is known: one single-threaded stream (the thread
  // count warm-up and calibration use).
  StreamLayout l = ResolveStreams(c, ExecutionPreset::kAuto, 8);
  EXPECT_EQ(l.streams, 1);
  EXPECT_EQ(l.threads_per_stream, 1);
  c.preset = ExecutionPreset::kAuto;
  EXPECT_TRUE(UsesAutoLayout(c, ExecutionPreset::kThroughput));
  c.streams = 2;  // an explicit count is not auto
  EXPECT_FALSE(UsesAutoLayout(c, ExecutionPreset::kAuto));
  c = {};
  c.threads_per_stream = 2;
  EXPECT_FALSE(UsesAutoLayout(c, ExecutionPreset::kAuto));
}

TEST(ExecutionPresetTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(*ParseExecutionPreset("auto"), ExecutionPreset::kAuto);
  EXPECT_EQ(ToString(ExecutionPreset::kAuto), "auto");
  EXPECT_EQ(*ParseExecutionPreset("latency"), ExecutionPreset::kLatency);
  EXPECT_EQ(*ParseExecutionPreset("throughput"), ExecutionPreset::kThroughput);
  auto bad = ParseExecutionPreset("fast");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("latency or throughput"), std::string::npos);
}

TEST(CpuBudgetTest, ParsesCgroupV2CpuMax) {
  EXPECT_FALSE(ParseCgroupV2CpuMax("max 100000").has_value());
  EXPECT_DOUBLE_EQ(*ParseCgroupV2CpuMax("150000 100000"), 1.5);
  EXPECT_DOUBLE_EQ(*ParseCgroupV2CpuMax("200000 100000\n"), 2.0);
  EXPECT_FALSE(ParseCgroupV2CpuMax("garbage").has_value());
  EXPECT_FALSE(ParseCgroupV2CpuMax("-1 100000").has_value());
}

int AffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof(set), &set);
  return CPU_COUNT(&set);
}

class CgroupDir {
 public:
  CgroupDir() : root_(std::filesystem::temp_directory_path() / ("q8_cgroup_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "cpu");
  }
  ~CgroupDir() { std::filesystem::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) { std::ofstream(root_ / rel) << text; }
  std::string root() const { return root_.string(); }

 private:
  std::filesystem::path root_;
};

TEST(CpuBudgetTest, FractionalLimitRoundsUpAndNeverExceedsAffinity) {
  CgroupDir dir;
  dir.Write("cpu.max", "50000 100000\n");  // half a CPU -> 1
  CpuBudget b = ReadCpuBudget(dir.root());
  EXPECT_EQ(b.affinity_cpus, AffinityCpus());
  ASSERT_TRUE(b.limit.has_value());
  EXPECT_DOUBLE_EQ(*b.limit, 0.5);
  EXPECT_EQ(b.cpus, 1);
  dir.Write("cpu.max", "6400000 100000\n");  // 64 CPUs: capped by affinity
  EXPECT_EQ(ReadCpuBudget(dir.root()).cpus, AffinityCpus());
  dir.Write("cpu.max", "max 100000\n");
  b = ReadCpuBudget(dir.root());
  EXPECT_FALSE(b.limit.has_value());
  EXPECT_EQ(b.cpus, AffinityCpus());
}

TEST(CpuBudgetTest, ReadsCgroupV1Quota) {
  CgroupDir dir;
  dir.Write("cpu/cpu.cfs_quota_us", "100000\n");
  dir.Write("cpu/cpu.cfs_period_us", "100000\n");
  CpuBudget b = ReadCpuBudget(dir.root());
  ASSERT_TRUE(b.limit.has_value());
  EXPECT_EQ(b.cpus, 1);
  dir.Write("cpu/cpu.cfs_quota_us", "-1\n");
  EXPECT_FALSE(ReadCpuBudget(dir.root()).limit.has_value());
}

TEST(ClampStreamsTest, BoundsStreamsTimesThreads) {
  // 32 x 32 on a budget of 8 threads (4 per CPU x 2 CPUs).
  StreamLayout l = ClampStreams({32, 32}, 8);
  EXPECT_EQ(l.streams, 8);
  EXPECT_EQ(l.threads_per_stream, 1);
  l = ClampStreams({2, 32}, 8);
  EXPECT_EQ(l.streams, 2);
  EXPECT_EQ(l.threads_per_stream, 4);
  l = ClampStreams({3, 3}, 8);  // 9 > 8: threads shrink to 8 / 3 = 2
  EXPECT_EQ(l.streams, 3);
  EXPECT_EQ(l.threads_per_stream, 2);
  l = ClampStreams({2, 2}, 8);  // within the budget: unchanged
  EXPECT_EQ(l.streams, 2);
  EXPECT_EQ(l.threads_per_stream, 2);
  l = ClampStreams({4, 4}, 0);  // never below one thread
  EXPECT_EQ(l.streams, 1);
  EXPECT_EQ(l.threads_per_stream, 1);
}

}  // namespace
}  // namespace q8::server
