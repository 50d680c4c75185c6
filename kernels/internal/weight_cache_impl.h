// WeightCache::Impl: constant tensors (weights, biases, batch-norm stats,
// binary constants) reordered once into the layout a primitive chose, shared
// by every Program of a model. Keyed by (source tensor, target desc, scale),
// so plans for several batch sizes that pick the same layout share one copy.
// dnnl-visible; never included by engine/.
//
// Thread safety: all methods lock; the returned memories are read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "kernels/kernel_params.h"
#include "kernels/program.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace q8::kernels {

struct WeightCache::Impl {
  // `tensor`'s bytes, described by `source` (same size as the tensor; usually
  // plain), reordered into `target` and multiplied by `scale` (matmul folds
  // 1/alpha into its bias this way; int8 will quantize this way).
  absl::StatusOr<dnnl::memory> Get(const ConstTensorPtr& tensor, const dnnl::memory::desc& source,
                                   const dnnl::memory::desc& target, float scale = 1.0f);
  int64_t bytes() const;

 private:
  struct Entry {
    // weak: an expired source means its address may be reused by another
    // tensor, so the entry must not be hit again.
    std::weak_ptr<const core::Tensor> source;
    dnnl::memory::desc target;
    float scale = 1.0f;
    dnnl::memory memory;
  };
  mutable std::mutex mu_;
  std::unordered_multimap<const void*, Entry> entries_;  // guarded by mu_
};

}  // namespace q8::kernels
