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
  kAuto,        // from the model's measured run time (AutoLayout below)
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
  // Elastic threads (auto, large models): an execution may use up to this
  // many threads while few others run -- the CPUs (streams x
  // threads_per_stream) divided by the executions running, within
  // [threads_per_stream, elastic_threads]. 0: always threads_per_stream.
  int elastic_threads = 0;
};

// Whether `config` leaves its layout to the auto rule (preset auto, its own
// or the server's default, and neither count given).
bool UsesAutoLayout(const ExecutionConfig& config, ExecutionPreset server_default);

// Presets over `cpus`: latency = 1 x cpus, throughput = cpus x 1. An explicit
// count overrides its half; the other half splits the CPUs that remain.
// Auto, before the model's run time is known, is one single-threaded stream
// (the thread count its warm-up and calibration run at); the executor then
// picks the real layout with AutoLayout.
StreamLayout ResolveStreams(const ExecutionConfig& config, ExecutionPreset server_default, int cpus);

// The auto rule. `run_seconds` is one run of the model at its smallest
// warm-up batch on one intra-op thread (timed after its plan was built).
//   T = run_seconds / kAutoSecondsPerThread, rounded down, clamped to
//       [1, min(cpus, kAutoMaxThreadsPerStream)]
//   T = 1 (small models): `cpus` single-threaded streams.
//   T > 1 (large models): `cpus` streams of 1 thread with elastic threads up
//       to T: alone, a request runs on T threads (ResNet-50 on 2 CPUs: the
//       latency preset's p50); when all streams are busy each runs on one
//       (the throughput preset's requests per second); in between, the CPUs
//       are shared out among the executions running.
// Splitting a run across threads pays only when each thread gets several
// milliseconds of work: a parallel region costs a fork/join and thread
// wake-ups (tens of microseconds each inside the server), and a split run
// serves fewer requests per CPU under load. The boundary is measured
// (BENCHMARKS.md, "Execution layout"): served at 2 threads, MobileNetV2
// (3.4 ms on 1 thread) ran slower than on 1, ResNet-18 (8.7 ms) and
// ResNet-50 (20 ms) faster; a fixed 2-thread stream serves ResNet-50 at
// ~0.75x the requests per second of two 1-thread streams under concurrency.
inline constexpr double kAutoSecondsPerThread = 4e-3;
inline constexpr int kAutoMaxThreadsPerStream = 4;
StreamLayout AutoLayout(double run_seconds, int cpus);

// At most `max_threads` threads (streams x threads_per_stream) for one model
// version: streams first capped at max_threads, then threads per stream at
// what remains (each at least 1); elastic threads at max_threads (dropped
// when not above threads_per_stream). Unchanged when within the bound.
StreamLayout ClampStreams(StreamLayout layout, int64_t max_threads);

}  // namespace q8::server
