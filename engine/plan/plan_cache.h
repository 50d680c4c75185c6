// One compiled Program per batch size, each with a pool of Workspaces so
// concurrent requests never share an arena or scratchpad. Plans are built on
// first use and kept; workspaces are reused, so a steady request stream
// allocates nothing.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
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

  // A workspace checked out for one run; returns itself to the pool.
  class Lease {
   public:
    Lease(PlanCache* cache, const kernels::Program* program, std::unique_ptr<kernels::Workspace> ws, int64_t batch)
        : cache_(cache), program_(program), ws_(std::move(ws)), batch_(batch) {}
    Lease(Lease&&) = default;
    ~Lease();
    const kernels::Program& program() const { return *program_; }
    kernels::Workspace& workspace() { return *ws_; }

   private:
    PlanCache* cache_;
    const kernels::Program* program_;
    std::unique_ptr<kernels::Workspace> ws_;
    int64_t batch_;
  };

  absl::StatusOr<Lease> Acquire(int64_t batch);
  // The Program for `batch`, building it if needed.
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
  void Release(int64_t batch, std::unique_ptr<kernels::Workspace> ws);

  LoweredGraph lowered_;
  kernels::WeightCache weights_;
  mutable absl::Mutex mu_;
  std::map<int64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::Mutex build_mu_;  // serialises plan builds (oneDNN creation is not thread-safe in 2.6)
};

}  // namespace q8::engine
