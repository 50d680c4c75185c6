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
//   streams = cpus / T (at least 1), each of T threads
// So small models (T = 1: the Fashion CNN, ~22 us) get one single-threaded
// stream per CPU, large ones (ResNet-50, ~20 ms) fewer streams with more
// threads. Splitting a run across threads pays only when each thread gets
// several milliseconds of work: a parallel region costs a fork/join and
// thread wake-ups (tens of microseconds each inside the server), and for a
// small model under load every CPU is better spent on another request. The
// boundary is measured (BENCHMARKS.md, "Execution presets"): served at 2
// threads, MobileNetV2 (3.4 ms on 1 thread) ran slower than on 1, ResNet-18
// (8.7 ms) and ResNet-50 (20 ms) faster; for ResNet-50 one 2-thread stream
// also served more requests per second at concurrency 16 than two
// 1-thread streams in our runs.
inline constexpr double kAutoSecondsPerThread = 4e-3;
inline constexpr int kAutoMaxThreadsPerStream = 4;
StreamLayout AutoLayout(double run_seconds, int cpus);

// At most `max_threads` threads (streams x threads_per_stream) for one model
// version: streams first capped at max_threads, then threads per stream at
// what remains (each at least 1). Unchanged when within the bound.
StreamLayout ClampStreams(StreamLayout layout, int64_t max_threads);

}  // namespace q8::server
