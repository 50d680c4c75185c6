// ThisThreadShard: a small, stable index per thread, for counters split into
// per-thread shards (server/model_stats.h, server/metrics/request_counters.h).
// Threads that record at the same time then write different cache lines
// instead of bouncing one line between CPUs; readers sum the shards.
#pragma once

#include <atomic>

namespace q8::core {

// The calling thread's shard in [0, shards): threads are numbered in the
// order they first ask, so the first `shards` threads get one each and later
// ones share (counters must stay atomic for that case).
inline int ThisThreadShard(int shards) {
  static std::atomic<int> next{0};
  thread_local const int shard = next.fetch_add(1, std::memory_order_relaxed);
  return shard % shards;
}

}  // namespace q8::core
