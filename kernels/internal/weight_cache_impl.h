// WeightCache::Impl: constant tensors (weights, biases, batch-norm stats,
// binary constants) reordered once into the layout a primitive chose, shared
// by every Program of a model. An entry is keyed by the engine's weights id
// when non-zero, else by the source tensor, plus (target desc, scales), so
// plans for several batch sizes that pick the same layout share one copy.
// dnnl-visible; never included by engine/.
//
// Weights ids: entries of a non-zero id are held strongly (for the cache's
// lifetime), because the engine may drop the source tensor after the first
// Program of a model and later Programs then pass a null tensor. A target not
// cached yet is then rebuilt from a cached copy of the same id and data type,
// through a temporary plain copy (oneDNN adds compensation only when
// reordering from a plain layout). A copy whose desc carries compensation
// flags (s8-src conv/matmul) is still a valid source: oneDNN appends the
// compensation after the data, so
// the same bytes described without the flags are the plain blocked weights --
// unless the reorder also applied a scale adjustment (non-VNNI x86 halves s8
// weights); then a plain copy of the source is kept next to it (and counted).
// A target that equals a cached desc minus its flags is served as a view of
// that copy's bytes (no second copy: the u8- and s8-src variants of one
// weights share storage).
//
// Thread safety: all methods lock; the returned memories are read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "kernels/kernel_params.h"
#include "kernels/program.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace q8::kernels {

struct WeightCache::Impl {
  struct Request {
    ConstTensorPtr tensor;          // may be null when `id` has a cached copy
    uint64_t id = 0;                // 0: keyed by `tensor`
    dnnl::memory::desc source;      // the tensor's bytes (same size); ignored when tensor is null
    dnnl::memory::desc target;
    int mask = 0;                   // output-scale mask over target dims
    std::vector<float> scales;      // reorder output scales; empty = none
  };
  absl::StatusOr<dnnl::memory> Get(const Request& request);
  // `tensor`'s bytes, described by `source`, reordered into `target` and
  // multiplied by `scale` (matmul folds 1/alpha into its bias this way).
  absl::StatusOr<dnnl::memory> Get(const ConstTensorPtr& tensor, const dnnl::memory::desc& source,
                                   const dnnl::memory::desc& target, float scale = 1.0f);

  // Logical dims and dtype of the tensor first cached under `id`.
  struct Known {
    core::Dims dims;
    core::DataType dtype = core::DataType::kUndefined;
  };
  std::optional<Known> Lookup(uint64_t id) const;

  int64_t bytes() const;
  int64_t bytes(core::DataType dtype) const;  // entries whose target has this type

 private:
  struct Entry {
    uint64_t id = 0;
    const void* key = nullptr;  // tensor data pointer (id == 0)
    // weak: an expired source means its address may be reused by another
    // tensor, so the entry must not be hit again. Unused when id != 0.
    std::weak_ptr<const core::Tensor> source;
    dnnl::memory::desc target;
    int mask = 0;
    std::vector<float> scales;
    dnnl::memory memory;
    bool owns = true;  // false: a view of another entry's bytes
  };
  bool Live(const Entry& e) const { return e.id != 0 || !e.source.expired(); }
  int64_t BytesLocked(std::optional<core::DataType> dtype) const;

  mutable std::mutex mu_;
  std::vector<Entry> entries_;                   // guarded by mu_; linear scans, load time only
  std::unordered_map<uint64_t, Known> known_;   // guarded by mu_
};

}  // namespace q8::kernels
