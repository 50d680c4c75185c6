// How one model version executes: how many concurrent execution streams,
// how many intra-op threads each, and whether concurrent requests are merged
// into one execution (dynamic batching). Parsed from config.json's
// "execution" and "dynamic_batching" sections (server/model_config.h);
// defaults come from the server's --execution_preset and the CPU budget.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace q8::server {

enum class ExecutionPreset {
  kLatency,     // one stream using every CPU: lowest latency per request
  kThroughput,  // one single-threaded stream per CPU: most requests per second
};

absl::StatusOr<ExecutionPreset> ParseExecutionPreset(absl::string_view name);
absl::string_view ToString(ExecutionPreset preset);

struct DynamicBatchingConfig {
  bool enabled = false;
  // How long the oldest queued request may wait for others to join it.
  int64_t max_queue_delay_us = 500;
  // An execution starts as soon as its merged batch reaches one of these
  // (or max_batch_size), without waiting out the delay.
  std::vector<int64_t> preferred_batch_sizes;
  // Eager: wait (up to the delay) only while more requests for the model are
  // already being received; with none on the way, run what is queued now.
  // Under load requests queue up behind busy streams and merge anyway;
  // alone, a request is not delayed for company that is not coming. Not
  // eager: always wait out the delay unless the batch fills (Triton's rule).
  bool eager = true;
};

struct ExecutionConfig {
  std::optional<ExecutionPreset> preset;  // unset: the server's default preset
  int streams = 0;                        // 0: from the preset
  int threads_per_stream = 0;             // 0: from the preset
  int64_t max_queue_size = 0;             // 0: the server's --max_queue_size
  DynamicBatchingConfig batching;
};

struct StreamLayout {
  int streams = 1;
  int threads_per_stream = 1;
};

// Presets over `cpus`: latency = 1 x cpus, throughput = cpus x 1. An explicit
// count overrides its half; the other half splits the CPUs that remain.
StreamLayout ResolveStreams(const ExecutionConfig& config, ExecutionPreset server_default, int cpus);

// At most `max_threads` threads (streams x threads_per_stream) for one model
// version: streams first capped at max_threads, then threads per stream at
// what remains (each at least 1). Unchanged when within the bound.
StreamLayout ClampStreams(StreamLayout layout, int64_t max_threads);

}  // namespace q8::server
