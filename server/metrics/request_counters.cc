// RequestCounters: one sharded record per request, summed at scrape.
#include "server/metrics/request_counters.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/thread_shard.h"

namespace q8::server::metrics {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// Prometheus' rule: the first bucket whose upper bound is >= value; past the
// last bound (or NaN), the +Inf bucket.
template <size_t N>
size_t BucketOf(const std::array<double, N>& bounds, double value) {
  return static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
}

uint64_t Nanoseconds(double seconds) {
  if (!(seconds > 0)) return 0;  // also NaN
  const double ns = std::round(seconds * 1e9);
  return ns >= static_cast<double>(std::numeric_limits<uint64_t>::max()) ? std::numeric_limits<uint64_t>::max()
                                                                         : static_cast<uint64_t>(ns);
}

template <size_t N, size_t M>
prometheus::ClientMetric Histogram(const std::array<double, N>& bounds, const std::array<uint64_t, M>& counts,
                                   double sum) {
  static_assert(M == N + 1, "one count per bound and the +Inf bucket");
  prometheus::ClientMetric metric;
  auto& h = metric.histogram;
  h.bucket.resize(M);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < M; ++i) {
    cumulative += counts[i];
    h.bucket[i].cumulative_count = cumulative;
    h.bucket[i].upper_bound = i < N ? bounds[i] : std::numeric_limits<double>::infinity();
  }
  h.sample_count = cumulative;
  h.sample_sum = sum;
  return metric;
}

}  // namespace

void RequestCounters::Record(int code, const RequestTiming& t) {
  Shard& s = shards_[core::ThisThreadShard(kShards)];
  s.requests[code].fetch_add(1, kRelaxed);
  if (code != 0) return;
  s.inference_count.fetch_add(static_cast<uint64_t>(std::max<int64_t>(t.batch_size, 0)), kRelaxed);
  const double seconds[kDurations] = {t.total_s, t.queue_s, t.compute_s};
  for (int d = 0; d < kDurations; ++d) {
    s.duration_buckets[d][BucketOf(kLatencyBuckets, seconds[d])].fetch_add(1, kRelaxed);
    s.duration_sum_ns[d].fetch_add(Nanoseconds(seconds[d]), kRelaxed);
  }
  if (t.executed_batch > 0) {
    s.batch_buckets[BucketOf(kBatchSizeBuckets, static_cast<double>(t.executed_batch))].fetch_add(1, kRelaxed);
    s.batch_sum.fetch_add(static_cast<uint64_t>(t.executed_batch), kRelaxed);
  }
}

void RequestCounters::AddInflight(int64_t delta) {
  shards_[core::ThisThreadShard(kShards)].inflight.fetch_add(delta, kRelaxed);
}

uint64_t RequestCounters::requests(int code) const {
  uint64_t n = 0;
  for (const Shard& s : shards_) n += s.requests[code].load(kRelaxed);
  return n;
}

uint64_t RequestCounters::inference_count() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) n += s.inference_count.load(kRelaxed);
  return n;
}

int64_t RequestCounters::inflight() const {
  // A request may start on one thread and end on another: only the sum means anything.
  int64_t n = 0;
  for (const Shard& s : shards_) n += s.inflight.load(kRelaxed);
  return n;
}

prometheus::ClientMetric RequestCounters::DurationHistogram(Duration which) const {
  std::array<uint64_t, kLatency> counts{};
  uint64_t sum_ns = 0;
  for (const Shard& s : shards_) {
    for (size_t i = 0; i < kLatency; ++i) counts[i] += s.duration_buckets[which][i].load(kRelaxed);
    sum_ns += s.duration_sum_ns[which].load(kRelaxed);
  }
  return Histogram(kLatencyBuckets, counts, static_cast<double>(sum_ns) / 1e9);
}

prometheus::ClientMetric RequestCounters::BatchHistogram() const {
  std::array<uint64_t, kBatch> counts{};
  uint64_t sum = 0;
  for (const Shard& s : shards_) {
    for (size_t i = 0; i < kBatch; ++i) counts[i] += s.batch_buckets[i].load(kRelaxed);
    sum += s.batch_sum.load(kRelaxed);
  }
  return Histogram(kBatchSizeBuckets, counts, static_cast<double>(sum));
}

}  // namespace q8::server::metrics
