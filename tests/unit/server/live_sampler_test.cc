#include "server/live_sampler.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace q8::server {
namespace {

core::TensorView Rows(const std::vector<float>& values, int64_t batch) {
  return {core::DataType::kFloat32, {batch, 2}, values.data()};
}

TEST(LiveSamplerTest, CopiesRowsUntilTheTargetThenHandsThemOffOnce) {
  LiveSampler sampler({2}, 5, "fp32");
  int full = 0;
  sampler.SetOnFull([&full] { ++full; });
  EXPECT_EQ(sampler.Describe(), "calibrating (0/5 samples)");
  EXPECT_EQ(sampler.StateLabel(), "calibrating");
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};  // 3 rows
  sampler.MaybeSample(Rows(a, 3), 3);
  EXPECT_EQ(sampler.Describe(), "calibrating (3/5 samples)");
  const std::vector<float> b = {7, 8, 9, 10, 11, 12};
  sampler.MaybeSample(Rows(b, 3), 3);  // only 2 of these rows are wanted
  EXPECT_EQ(full, 1);
  EXPECT_EQ(sampler.phase(), LiveSampler::Phase::kQuantizing);
  sampler.MaybeSample(Rows(b, 3), 3);  // nothing more is taken
  EXPECT_EQ(full, 1);
  EXPECT_EQ(sampler.collected(), 5);
  core::Tensor samples = sampler.TakeSamples();
  EXPECT_EQ(samples.dims(), (core::Dims{5, 2}));
  const auto* s = static_cast<const float*>(samples.data());
  EXPECT_EQ(std::vector<float>(s, s + 10), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  // Dropped once used.
  EXPECT_EQ(sampler.TakeSamples().dims(), (core::Dims{0, 2}));
}

TEST(LiveSamplerTest, IgnoresInputsThatDoNotMatchTheSampleShape) {
  LiveSampler sampler({2}, 4, "fp32");
  const std::vector<float> odd = {1, 2, 3};
  sampler.MaybeSample({core::DataType::kFloat32, {1, 3}, odd.data()}, 1);
  const std::vector<int32_t> ints = {1, 2};
  sampler.MaybeSample({core::DataType::kInt32, {1, 2}, ints.data()}, 1);
  EXPECT_EQ(sampler.collected(), 0);
}

TEST(LiveSamplerTest, StatesSayWhyTheVersionIsNotInt8) {
  LiveSampler off(LiveSampler::Phase::kOff, "", "fp32");
  EXPECT_EQ(off.Describe(), "fp32 (live calibration off)");
  EXPECT_EQ(off.StateLabel(), "live_off");
  const std::vector<float> a = {1, 2};
  off.MaybeSample(Rows(a, 1), 1);
  EXPECT_EQ(off.collected(), 0);
  LiveSampler multi(LiveSampler::Phase::kUnsupported, "the model has 2 inputs", "int8 dynamic");
  EXPECT_EQ(multi.Describe(), "int8 dynamic (live calibration not possible: the model has 2 inputs)");
  LiveSampler failing({2}, 2, "fp32");
  failing.Fail("quantization failed");
  EXPECT_EQ(failing.Describe(), "fp32 (live calibration failed: quantization failed)");
  EXPECT_EQ(failing.StateLabel(), "live_failed");
  failing.MaybeSample(Rows(a, 1), 1);
  EXPECT_EQ(failing.collected(), 0);
}

TEST(LiveSamplerTest, ConcurrentRequestsFillTheBufferExactlyOnce) {
  LiveSampler sampler({2}, 1000, "fp32");
  std::atomic<int> full{0};
  sampler.SetOnFull([&full] { full.fetch_add(1); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&sampler] {
      const std::vector<float> rows(6, 1.0f);
      for (int i = 0; i < 400; ++i) sampler.MaybeSample(Rows(rows, 3), 3);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(full.load(), 1);
  EXPECT_EQ(sampler.collected(), 1000);
  EXPECT_EQ(sampler.TakeSamples().dims()[0], 1000);
}

}  // namespace
}  // namespace q8::server
