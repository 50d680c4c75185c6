// Latency and window statistics of q8bench: percentiles over completed
// requests, per-window summaries, the stability rule, and the server-side
// counters (ModelStatistics) with their difference over a window.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "inference.pb.h"

namespace q8::bench {

// One completed request, steady-clock nanoseconds.
struct Completion {
  int64_t end_ns = 0;
  int64_t latency_ns = 0;
  bool ok = true;
};

struct LatencySummary {
  int64_t count = 0;  // successful requests
  double avg_us = 0, p50_us = 0, p90_us = 0, p95_us = 0, p99_us = 0, max_us = 0;
};

// Nearest-rank percentiles of the successful requests' latencies.
LatencySummary Summarize(absl::Span<const Completion> completions);

// Cumulative server counters of one model version.
struct ServerCounters {
  uint64_t inference_count = 0;  // batch elements
  uint64_t execution_count = 0;
  uint64_t success_count = 0, success_ns = 0;
  uint64_t fail_count = 0;
  uint64_t queue_count = 0, queue_ns = 0;
  uint64_t compute_input_count = 0, compute_input_ns = 0;
  uint64_t compute_infer_count = 0, compute_infer_ns = 0;
  uint64_t compute_output_count = 0, compute_output_ns = 0;
};
ServerCounters FromProto(const inference::ModelStatistics& stats);
// later - earlier, field by field.
ServerCounters Delta(const ServerCounters& later, const ServerCounters& earlier);

// Per-request averages over a delta, in microseconds (0 when no requests).
struct ServerSplit {
  double queue_us = 0;
  double compute_input_us = 0, compute_infer_us = 0, compute_output_us = 0;
  double compute_us = 0;  // input + infer + output
  double request_us = 0;  // whole request inside the server (success duration)
};
ServerSplit Split(const ServerCounters& delta);

struct Window {
  double seconds = 0;
  int64_t requests = 0;  // successful
  int64_t errors = 0;
  double throughput = 0;  // inferences/s = requests * batch / seconds
  LatencySummary latency;
  ServerCounters server;  // delta over the window
};

// True when the last 3 windows' throughput and p99 each lie within
// +-percent of their 3-window mean.
bool IsStable(absl::Span<const Window> windows, double percent);

}  // namespace q8::bench
