// ModelStats: the counters of one model version behind ModelStatistics,
// updated once per ModelInfer (Record) and summed when read (Totals).
// Owned by the registry entry (it survives a hot swap of the version's
// compiled model), shared with requests through ModelHandle. Durations are
// cumulative nanoseconds.
//
// One record per request, into one of kShards cache-line-sized shards picked
// by the recording thread: the request threads of a busy model do not bounce
// one cache line between CPUs with a dozen atomic adds per request (what
// separate counters cost before, BENCHMARKS.md "CPU per request").
//
// Thread safety: Record and Totals may run concurrently; a Totals taken
// during a Record may see part of it (each counter is exact on its own).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace q8::server {

class ModelStats {
 public:
  // What one request adds. `ok` false: only total_ns and input_ns count
  // (under fail), the rest is ignored.
  struct Request {
    bool ok = false;
    uint64_t total_ns = 0;          // arrival to completion
    uint64_t input_ns = 0;          // lookup, decoding, output layout (0: failed before)
    uint64_t queue_ns = 0;          // waiting for an execution stream
    uint64_t infer_ns = 0;          // the execution it was part of
    uint64_t output_ns = 0;         // finishing the response
    uint64_t batch = 0;             // batch elements
    bool counts_execution = false;  // the one request of its execution that counts it
    uint64_t now_ms = 0;            // completion, ms since the epoch
  };
  struct Totals {
    uint64_t success_count = 0;
    uint64_t success_ns = 0;
    uint64_t fail_count = 0;
    uint64_t fail_ns = 0;
    uint64_t queue_ns = 0;
    uint64_t compute_input_ns = 0;
    uint64_t compute_infer_ns = 0;
    uint64_t compute_output_ns = 0;
    uint64_t inference_count = 0;    // batch elements
    uint64_t execution_count = 0;    // model executions
    uint64_t last_inference_ms = 0;  // ms since the epoch
  };

  void Record(const Request& r);
  Totals totals() const;

 private:
  static constexpr int kShards = 8;
  struct alignas(64) Shard {
    std::atomic<uint64_t> success_count{0};
    std::atomic<uint64_t> success_ns{0};
    std::atomic<uint64_t> fail_count{0};
    std::atomic<uint64_t> fail_ns{0};
    std::atomic<uint64_t> queue_ns{0};
    std::atomic<uint64_t> compute_input_ns{0};
    std::atomic<uint64_t> compute_infer_ns{0};
    std::atomic<uint64_t> compute_output_ns{0};
    std::atomic<uint64_t> inference_count{0};
    std::atomic<uint64_t> execution_count{0};
    std::atomic<uint64_t> last_inference_ms{0};
  };
  std::array<Shard, kShards> shards_;
};

}  // namespace q8::server
