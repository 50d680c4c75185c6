// RequestCounters: the per-request Prometheus series of one model version
// (requests by status, inference count, the request/queue/compute duration
// and batch-size histograms, in-flight requests) as one lock-free record per
// request, summed when scraped.
//
// prometheus-cpp's Histogram::Observe takes a mutex and its Counter and Gauge
// update a shared double with a compare-and-swap loop; a request fed four
// histograms, two counters and the in-flight gauge, so every request thread
// of a busy model took and released four locks and bounced the same cache
// lines between CPUs. Here each thread records into its own shard of plain
// relaxed atomic counters (core::ThisThreadShard): bucket counts are kept per
// bucket, durations summed in integer nanoseconds, and the scrape (rare)
// adds the shards up and builds cumulative buckets. Bucket semantics are
// Prometheus' (a value counts in the first bucket whose upper bound is >= it).
//
// Thread safety: Record, AddInflight and the readers may run concurrently; a
// scrape during a Record may see part of it (each counter is exact).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "prometheus/client_metric.h"
#include "server/metrics/buckets.h"

namespace q8::server::metrics {

// Timings of one request, in seconds. queue_s is 0 until requests are queued
// (a batcher), batch_size the batch elements of the execution.
struct RequestTiming {
  double total_s = 0;
  double queue_s = 0;
  double compute_s = 0;
  int64_t batch_size = 0;      // this request's elements
  int64_t executed_batch = 0;  // the execution's elements; 0: another request of it records it
};

class RequestCounters {
 public:
  static constexpr int kCodes = 17;  // absl::StatusCode 0..16 == gRPC codes
  enum Duration : int { kRequest, kQueue, kCompute, kDurations };

  // `code` in [0, kCodes). Successful requests (code 0) also feed the
  // histograms and the inference count; failed ones only their status count.
  void Record(int code, const RequestTiming& timing);
  void AddInflight(int64_t delta);

  // ---- Sums over the shards (scrape, tests) ----
  uint64_t requests(int code) const;
  uint64_t inference_count() const;
  int64_t inflight() const;
  // Prometheus histograms (cumulative buckets, +Inf last).
  prometheus::ClientMetric DurationHistogram(Duration which) const;
  prometheus::ClientMetric BatchHistogram() const;

 private:
  static constexpr int kShards = 8;
  static constexpr size_t kLatency = kLatencyBuckets.size() + 1;  // + the +Inf bucket
  static constexpr size_t kBatch = kBatchSizeBuckets.size() + 1;
  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kCodes> requests{};
    std::atomic<uint64_t> inference_count{0};
    std::atomic<int64_t> inflight{0};
    std::array<std::array<std::atomic<uint64_t>, kLatency>, kDurations> duration_buckets{};
    std::array<std::atomic<uint64_t>, kDurations> duration_sum_ns{};
    std::array<std::atomic<uint64_t>, kBatch> batch_buckets{};
    std::atomic<uint64_t> batch_sum{0};
  };
  std::array<Shard, kShards> shards_;
};

}  // namespace q8::server::metrics
