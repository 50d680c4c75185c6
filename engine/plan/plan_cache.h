// One compiled Program per (concrete input shapes, values of shape-value
// inputs, intra-op thread count), each with a pool of Workspaces so concurrent requests never share an arena or
// scratchpad. Plans are built on first use and kept, at most `max_plans` of
// them: building one more evicts the least recently used (a run still
// holding it finishes on it; its workspaces are then dropped). Workspaces are
// reused, so a steady request stream allocates nothing. The thread count is the
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
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/plan/planner.h"
#include "kernels/program.h"

namespace q8::engine {

class PlanCache {
 public:
  // max_plans 0: unbounded.
  explicit PlanCache(LoweredGraph lowered, size_t max_plans = 0)
      : lowered_(std::move(lowered)), max_plans_(max_plans) {}

  // Intra-op threads, then per input its rank and dims (and for a
  // shape-value input its element count and the bits of its values). Inline for the usual
  // few small inputs: a lookup allocates nothing.
  using Key = absl::InlinedVector<int64_t, 24>;

  // A workspace checked out for one run; returns itself to the pool.
  class Lease {
   public:
    Lease(PlanCache* cache, std::shared_ptr<const kernels::Program> program, std::unique_ptr<kernels::Workspace> ws,
          Key key)
        : cache_(cache), program_(std::move(program)), ws_(std::move(ws)), key_(key) {}
    Lease(Lease&&) = default;
    ~Lease();
    const kernels::Program& program() const { return *program_; }
    kernels::Workspace& workspace() { return *ws_; }

   private:
    PlanCache* cache_;
    std::shared_ptr<const kernels::Program> program_;
    std::unique_ptr<kernels::Workspace> ws_;
    Key key_;
  };

  // For these (validated) inputs at the calling thread's intra-op thread count.
  absl::StatusOr<Lease> Acquire(absl::Span<const core::TensorView> inputs);
  // The Program for the inputs' RepresentativeDims at `batch` (calling thread's thread count), building it if needed.
  absl::StatusOr<std::shared_ptr<const kernels::Program>> GetProgram(int64_t batch);
  // Output dims of the plan for these inputs (from a cached plan of any
  // thread count, else by shape inference; never builds a plan).
  absl::StatusOr<std::vector<core::Dims>> OutputDims(absl::Span<const core::TensorView> inputs);

  int64_t weight_bytes() const { return weights_.bytes(); }
  // The part of weight_bytes() stored as `dtype` (s8 weights, bf16 weights, ...).
  int64_t weight_bytes(core::DataType dtype) const { return weights_.bytes(dtype); }
  size_t num_programs() const;
  // Plans built so far, evicted ones included (a rebuild counts again).
  int64_t plan_builds() const;
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
    std::shared_ptr<const kernels::Program> program;
    std::vector<core::Dims> output_dims;
    std::vector<std::unique_ptr<kernels::Workspace>> idle;
    int workspaces = 0;
    uint64_t last_used = 0;
  };
  Key KeyFor(absl::Span<const core::TensorView> inputs) const;
  PlanShapes ShapesFor(absl::Span<const core::TensorView> inputs) const;
  // The entry's program and output dims, building the plan if needed.
  absl::StatusOr<std::pair<std::shared_ptr<const kernels::Program>, std::vector<core::Dims>>> Get(
      const Key& key, absl::Span<const core::TensorView> inputs);
  void Release(const Key& key, const kernels::Program* program, std::unique_ptr<kernels::Workspace> ws);

  LoweredGraph lowered_;
  kernels::WeightCache weights_;
  mutable absl::Mutex mu_;
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  const size_t max_plans_;
  uint64_t tick_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t plan_builds_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex build_mu_;  // serialises plan builds (oneDNN creation is not thread-safe in 2.6)
};

}  // namespace q8::engine
