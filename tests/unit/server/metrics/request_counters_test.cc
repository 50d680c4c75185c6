// RequestCounters: the sharded per-request record sums to what a plain
// single-threaded tally of the same requests gives, bucket by bucket.
#include "server/metrics/request_counters.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/metrics/buckets.h"

namespace q8::server::metrics {
namespace {

// Reference: Prometheus' rule by a plain scan (first bound >= value, else +Inf).
size_t ReferenceBucket(const std::vector<double>& bounds, double value) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (value <= bounds[i]) return i;
  }
  return bounds.size();
}

std::vector<uint64_t> Cumulative(const prometheus::ClientMetric& m) {
  std::vector<uint64_t> out;
  for (const auto& b : m.histogram.bucket) out.push_back(b.cumulative_count);
  return out;
}

TEST(RequestCountersTest, BoundaryValuesLandInTheirOwnBucket) {
  RequestCounters c;
  // Exactly on a bound counts in that bucket; just above, in the next; past
  // the last bound, in +Inf.
  c.Record(0, {0.001, 0.0010001, 11.0, 1, 1});
  const auto request = c.DurationHistogram(RequestCounters::kRequest).histogram;
  const auto queue = c.DurationHistogram(RequestCounters::kQueue).histogram;
  const auto compute = c.DurationHistogram(RequestCounters::kCompute).histogram;
  const std::vector<double>& bounds = LatencyBuckets();
  ASSERT_EQ(request.bucket.size(), bounds.size() + 1);
  const size_t at_1ms = ReferenceBucket(bounds, 0.001);
  EXPECT_EQ(bounds[at_1ms], 0.001);
  EXPECT_EQ(request.bucket[at_1ms].cumulative_count, 1u);
  EXPECT_EQ(request.bucket[at_1ms - 1].cumulative_count, 0u);
  EXPECT_EQ(queue.bucket[at_1ms].cumulative_count, 0u);
  EXPECT_EQ(queue.bucket[at_1ms + 1].cumulative_count, 1u);
  EXPECT_EQ(compute.bucket[bounds.size() - 1].cumulative_count, 0u);
  EXPECT_EQ(compute.bucket.back().cumulative_count, 1u);
  EXPECT_TRUE(std::isinf(compute.bucket.back().upper_bound));
  EXPECT_DOUBLE_EQ(compute.sample_sum, 11.0);
}

TEST(RequestCountersTest, ConcurrentRecordsFromMoreThreadsThanShardsSumExactly) {
  // 12 threads (more than the 8 shards, so some share one) record 2000
  // requests each; every value is a function of (thread, i), so a plain tally
  // gives the expected totals.
  constexpr int kThreads = 12;
  constexpr int kPerThread = 2000;
  auto timing = [](int t, int i) {
    const double total = 1e-5 * static_cast<double>((t * 7 + i * 13) % 4000);  // 0 .. 40 ms
    return RequestTiming{total, total / 4, total / 2, 1 + (i % 3), (i % 2) == 0 ? 1 + (i % 40) : 0};
  };
  auto code = [](int t, int i) { return (t + i) % 10 == 0 ? 3 : 0; };  // every 10th: INVALID_ARGUMENT

  RequestCounters c;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&c, t, &timing, &code] {
      for (int i = 0; i < kPerThread; ++i) {
        c.AddInflight(1);
        c.Record(code(t, i), timing(t, i));
      }
    });
  }
  for (auto& th : threads) th.join();
  // Requests end on other threads than they started on: the gauge is a sum.
  std::thread([&c] { c.AddInflight(-int64_t{kThreads} * kPerThread); }).join();

  const std::vector<double>& lat = LatencyBuckets();
  const std::vector<double>& batch = BatchSizeBuckets();
  std::vector<uint64_t> request(lat.size() + 1), compute(lat.size() + 1), batches(batch.size() + 1);
  uint64_t ok = 0, invalid = 0, inferences = 0, batch_sum = 0;
  double request_sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      if (code(t, i) != 0) {
        ++invalid;
        continue;
      }
      const RequestTiming r = timing(t, i);
      ++ok;
      inferences += static_cast<uint64_t>(r.batch_size);
      request_sum += r.total_s;
      ++request[ReferenceBucket(lat, r.total_s)];
      ++compute[ReferenceBucket(lat, r.compute_s)];
      if (r.executed_batch > 0) {
        ++batches[ReferenceBucket(batch, static_cast<double>(r.executed_batch))];
        batch_sum += static_cast<uint64_t>(r.executed_batch);
      }
    }
  }
  for (size_t i = 1; i < request.size(); ++i) request[i] += request[i - 1];
  for (size_t i = 1; i < compute.size(); ++i) compute[i] += compute[i - 1];
  for (size_t i = 1; i < batches.size(); ++i) batches[i] += batches[i - 1];

  EXPECT_EQ(c.requests(0), ok);
  EXPECT_EQ(c.requests(3), invalid);
  EXPECT_EQ(c.requests(1), 0u);
  EXPECT_EQ(c.inference_count(), inferences);
  EXPECT_EQ(c.inflight(), 0);
  EXPECT_EQ(Cumulative(c.DurationHistogram(RequestCounters::kRequest)), request);
  EXPECT_EQ(Cumulative(c.DurationHistogram(RequestCounters::kCompute)), compute);
  EXPECT_EQ(Cumulative(c.BatchHistogram()), batches);
  EXPECT_EQ(c.DurationHistogram(RequestCounters::kRequest).histogram.sample_count, ok);
  // Sums are kept in whole nanoseconds: within 0.5 ns per request of the exact sum.
  EXPECT_NEAR(c.DurationHistogram(RequestCounters::kRequest).histogram.sample_sum, request_sum, ok * 0.5e-9 + 1e-9);
  EXPECT_EQ(c.BatchHistogram().histogram.sample_sum, static_cast<double>(batch_sum));
}

}  // namespace
}  // namespace q8::server::metrics
