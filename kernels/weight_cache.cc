// Owns WeightCache: one reordered copy of each constant per (tensor, layout,
// scale), shared across the Programs of a model. The reorder runs here, once,
// at Program creation; Run never touches the cache.
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels {

WeightCache::WeightCache() : impl_(std::make_unique<Impl>()) {}
WeightCache::~WeightCache() = default;
int64_t WeightCache::bytes() const { return impl_->bytes(); }

int64_t WeightCache::Impl::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  // Entries whose source died belong to no live Program (a Program keeps its
  // params, hence its source tensors, alive), so they are not counted.
  int64_t total = 0;
  for (const auto& [key, entry] : entries_) {
    if (!entry.source.expired()) total += static_cast<int64_t>(entry.target.get_size());
  }
  return total;
}

absl::StatusOr<dnnl::memory> WeightCache::Impl::Get(const ConstTensorPtr& tensor, const dnnl::memory::desc& source,
                                                    const dnnl::memory::desc& target, float scale) {
  if (tensor == nullptr) return absl::InvalidArgumentError("constant tensor is null");
  if (static_cast<int64_t>(source.get_size()) != tensor->byte_size()) {
    return absl::InvalidArgumentError(absl::StrCat("constant of dims ", core::DimsToString(tensor->dims()), " has ",
                                                   tensor->byte_size(), " bytes, its kernel view needs ",
                                                   source.get_size()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Drop entries whose source died: their address may now belong to
  // `tensor`, and nothing live uses them. Linear, but only at load time.
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.source.expired() ? entries_.erase(it) : std::next(it);
  }
  auto [begin, end] = entries_.equal_range(tensor->data());
  for (auto it = begin; it != end; ++it) {
    if (it->second.target == target && it->second.scale == scale) return it->second.memory;
  }
  try {
    const dnnl::engine& engine = internal::CpuEngine();
    dnnl::memory src(source, engine, const_cast<void*>(tensor->data()));  // reorders never write src
    dnnl::memory dst(target, engine);
    dnnl::primitive_attr attr;
    if (scale != 1.0f) attr.set_output_scales(0, {scale});
    dnnl::reorder::primitive_desc pd(engine, source, engine, target, attr);
    dnnl::stream stream(engine);
    dnnl::reorder(pd).execute(stream, src, dst);
    stream.wait();
    entries_.emplace(tensor->data(), Entry{tensor, target, scale, dst});
    return dst;
  } catch (const dnnl::error& e) {
    return internal::ErrorToStatus(e, absl::StrCat("reordering constant ", core::DimsToString(tensor->dims())));
  }
}

}  // namespace q8::kernels
