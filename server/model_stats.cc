// ModelStats: sharded per-request records and their sums.
#include "server/model_stats.h"

#include <algorithm>

#include "core/thread_shard.h"

namespace q8::server {

void ModelStats::Record(const Request& r) {
  Shard& s = shards_[core::ThisThreadShard(kShards)];
  constexpr auto kRelaxed = std::memory_order_relaxed;
  s.compute_input_ns.fetch_add(r.input_ns, kRelaxed);
  if (!r.ok) {
    s.fail_count.fetch_add(1, kRelaxed);
    s.fail_ns.fetch_add(r.total_ns, kRelaxed);
    return;
  }
  s.success_count.fetch_add(1, kRelaxed);
  s.success_ns.fetch_add(r.total_ns, kRelaxed);
  s.queue_ns.fetch_add(r.queue_ns, kRelaxed);
  s.compute_infer_ns.fetch_add(r.infer_ns, kRelaxed);
  s.compute_output_ns.fetch_add(r.output_ns, kRelaxed);
  s.inference_count.fetch_add(r.batch, kRelaxed);
  if (r.counts_execution) s.execution_count.fetch_add(1, kRelaxed);
  if (s.last_inference_ms.load(kRelaxed) < r.now_ms) s.last_inference_ms.store(r.now_ms, kRelaxed);
}

ModelStats::Totals ModelStats::totals() const {
  Totals t;
  for (const Shard& s : shards_) {
    t.success_count += s.success_count.load();
    t.success_ns += s.success_ns.load();
    t.fail_count += s.fail_count.load();
    t.fail_ns += s.fail_ns.load();
    t.queue_ns += s.queue_ns.load();
    t.compute_input_ns += s.compute_input_ns.load();
    t.compute_infer_ns += s.compute_infer_ns.load();
    t.compute_output_ns += s.compute_output_ns.load();
    t.inference_count += s.inference_count.load();
    t.execution_count += s.execution_count.load();
    t.last_inference_ms = std::max(t.last_inference_ms, s.last_inference_ms.load());
  }
  return t;
}

}  // namespace q8::server
