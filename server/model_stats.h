// ModelStats: lock-free counters for one model version, updated by every
// ModelInfer and read by ModelStatistics. Owned by the registry entry (it
// survives a hot swap of the version's compiled model), shared with requests
// through ModelHandle. Cumulative durations are in nanoseconds.
#pragma once

#include <atomic>
#include <cstdint>

namespace q8::server {

struct ModelStats {
  std::atomic<uint64_t> success_count{0};
  std::atomic<uint64_t> success_ns{0};
  std::atomic<uint64_t> fail_count{0};
  std::atomic<uint64_t> fail_ns{0};
  std::atomic<uint64_t> queue_ns{0};  // of successful requests (0 until requests are queued)
  std::atomic<uint64_t> compute_input_ns{0};
  std::atomic<uint64_t> compute_infer_ns{0};
  std::atomic<uint64_t> compute_output_ns{0};
  std::atomic<uint64_t> inference_count{0};   // batch elements
  std::atomic<uint64_t> execution_count{0};   // model executions
  std::atomic<uint64_t> last_inference_ms{0};  // ms since the epoch
};

}  // namespace q8::server
