// One compiled Program per (batch size, intra-op thread count), each with a
// pool of Workspaces so concurrent requests never share an arena or
// scratchpad. Plans are built on first use and kept; workspaces are reused,
// so a steady request stream allocates nothing. The thread count is the
// calling thread's (kernels/threading.h): oneDNN fixes it at primitive
// creation, so an execution stream with 1 thread must not reuse a plan built
// for 2.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/plan/planner.h"
#include "kernels/program.h"

namespace q8::engine {

class PlanCache {
 public:
  explicit PlanCache(LoweredGraph lowered) : lowered_(std::move(lowered)) {}

  using Key = std::pair<int64_t, int>;  // batch size, intra-op threads

  // A workspace checked out for one run; returns itself to the pool.
  class Lease {
   public:
    Lease(PlanCache* cache, const kernels::Program* program, std::unique_ptr<kernels::Workspace> ws, Key key)
        : cache_(cache), program_(program), ws_(std::move(ws)), key_(key) {}
    Lease(Lease&&) = default;
    ~Lease();
    const kernels::Program& program() const { return *program_; }
    kernels::Workspace& workspace() { return *ws_; }

   private:
    PlanCache* cache_;
    const kernels::Program* program_;
    std::unique_ptr<kernels::Workspace> ws_;
    Key key_;
  };

  // For `batch` at the calling thread's intra-op thread count.
  absl::StatusOr<Lease> Acquire(int64_t batch);
  // The Program for `batch` at the calling thread's thread count, building it if needed.
  absl::StatusOr<const kernels::Program*> GetProgram(int64_t batch);

  int64_t weight_bytes() const { return weights_.bytes(); }
  size_t num_programs() const;
  const LoweredGraph& lowered() const { return lowered_; }
  // Drops the lowering's references to weights the kernels now hold (those
  // with a weights_id). Later plans reorder from the kernels' copies. Call
  // only after one Program was built.
  void ReleaseWeightSources();
  // Arena and scratchpad bytes of every workspace allocated so far.
  int64_t arena_bytes() const;
  int64_t scratchpad_bytes() const;

 private:
  struct Entry {
    std::unique_ptr<kernels::Program> program;
    std::vector<std::unique_ptr<kernels::Workspace>> idle;
    int workspaces = 0;
  };
  static Key KeyFor(int64_t batch);
  absl::StatusOr<const kernels::Program*> GetProgram(Key key);
  void Release(Key key, std::unique_ptr<kernels::Workspace> ws);

  LoweredGraph lowered_;
  kernels::WeightCache weights_;
  mutable absl::Mutex mu_;
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::Mutex build_mu_;  // serialises plan builds (oneDNN creation is not thread-safe in 2.6)
};

}  // namespace q8::engine
