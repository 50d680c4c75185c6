// Percentiles, server counter deltas and the stability rule (see stats.h).
#include "client/q8bench/stats.h"

#include <algorithm>
#include <cmath>

namespace q8::bench {
namespace {

double Rank(const std::vector<int64_t>& sorted, double q) {
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  const size_t n = sorted.size();
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

double PerRequestUs(uint64_t ns, uint64_t count) {
  return count == 0 ? 0.0 : static_cast<double>(ns) / static_cast<double>(count) / 1000.0;
}

}  // namespace

LatencySummary Summarize(absl::Span<const Completion> completions) {
  std::vector<int64_t> ns;
  ns.reserve(completions.size());
  for (const Completion& c : completions) {
    if (c.ok) ns.push_back(c.latency_ns);
  }
  LatencySummary s;
  s.count = static_cast<int64_t>(ns.size());
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  double sum = 0;
  for (int64_t v : ns) sum += static_cast<double>(v);
  s.avg_us = sum / static_cast<double>(ns.size()) / 1000.0;
  s.p50_us = Rank(ns, 0.50);
  s.p90_us = Rank(ns, 0.90);
  s.p95_us = Rank(ns, 0.95);
  s.p99_us = Rank(ns, 0.99);
  s.max_us = static_cast<double>(ns.back()) / 1000.0;
  return s;
}

ServerCounters FromProto(const inference::ModelStatistics& stats) {
  const auto& i = stats.inference_stats();
  ServerCounters c;
  c.inference_count = stats.inference_count();
  c.execution_count = stats.execution_count();
  c.success_count = i.success().count();
  c.success_ns = i.success().ns();
  c.fail_count = i.fail().count();
  c.queue_count = i.queue().count();
  c.queue_ns = i.queue().ns();
  c.compute_input_count = i.compute_input().count();
  c.compute_input_ns = i.compute_input().ns();
  c.compute_infer_count = i.compute_infer().count();
  c.compute_infer_ns = i.compute_infer().ns();
  c.compute_output_count = i.compute_output().count();
  c.compute_output_ns = i.compute_output().ns();
  return c;
}

ServerCounters Delta(const ServerCounters& a, const ServerCounters& b) {
  ServerCounters d;
  d.inference_count = a.inference_count - b.inference_count;
  d.execution_count = a.execution_count - b.execution_count;
  d.success_count = a.success_count - b.success_count;
  d.success_ns = a.success_ns - b.success_ns;
  d.fail_count = a.fail_count - b.fail_count;
  d.queue_count = a.queue_count - b.queue_count;
  d.queue_ns = a.queue_ns - b.queue_ns;
  d.compute_input_count = a.compute_input_count - b.compute_input_count;
  d.compute_input_ns = a.compute_input_ns - b.compute_input_ns;
  d.compute_infer_count = a.compute_infer_count - b.compute_infer_count;
  d.compute_infer_ns = a.compute_infer_ns - b.compute_infer_ns;
  d.compute_output_count = a.compute_output_count - b.compute_output_count;
  d.compute_output_ns = a.compute_output_ns - b.compute_output_ns;
  return d;
}

ServerSplit Split(const ServerCounters& d) {
  ServerSplit s;
  s.queue_us = PerRequestUs(d.queue_ns, d.queue_count);
  s.compute_input_us = PerRequestUs(d.compute_input_ns, d.compute_input_count);
  s.compute_infer_us = PerRequestUs(d.compute_infer_ns, d.compute_infer_count);
  s.compute_output_us = PerRequestUs(d.compute_output_ns, d.compute_output_count);
  s.compute_us = s.compute_input_us + s.compute_infer_us + s.compute_output_us;
  s.request_us = PerRequestUs(d.success_ns, d.success_count);
  return s;
}

bool IsStable(absl::Span<const Window> windows, double percent) {
  if (windows.size() < 3) return false;
  auto last = windows.subspan(windows.size() - 3);
  auto within = [&](auto get) {
    double mean = 0;
    for (const Window& w : last) mean += get(w);
    mean /= 3;
    if (mean <= 0) return false;
    for (const Window& w : last) {
      if (std::abs(get(w) - mean) > mean * percent / 100.0) return false;
    }
    return true;
  };
  return within([](const Window& w) { return w.throughput; }) &&
         within([](const Window& w) { return w.latency.p99_us; });
}

}  // namespace q8::bench
