// Owns WeightCache: one reordered copy of each constant per (weights id or
// tensor, layout, scales), shared across the Programs of a model. The reorder
// runs here, once, at Program creation; Run never touches the cache.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels {
namespace {

using desc = dnnl::memory::desc;

bool HasExtra(const desc& d) { return d.data.extra.flags != dnnl_memory_extra_flag_none; }

// The data part of a desc that may carry compensation flags.
desc WithoutExtra(const desc& d) {
  dnnl_memory_desc_t c = d.data;
  c.extra = dnnl_memory_extra_desc_t{};
  return desc(c);
}

// True when the bytes of a memory with this desc, read under WithoutExtra,
// are exactly the weights (no scale adjustment was applied by the reorder).
bool DataIsExact(const desc& d) {
  return (d.data.extra.flags & dnnl_memory_extra_flag_scale_adjust) == 0 || d.data.extra.scale_adjust == 1.0f;
}

std::optional<core::DataType> CoreType(dnnl::memory::data_type t) {
  switch (t) {
    case dnnl::memory::data_type::f32:
      return core::DataType::kFloat32;
    case dnnl::memory::data_type::s8:
      return core::DataType::kInt8;
    case dnnl::memory::data_type::u8:
      return core::DataType::kUInt8;
    case dnnl::memory::data_type::s32:
      return core::DataType::kInt32;
    case dnnl::memory::data_type::bf16:
      return core::DataType::kBFloat16;
    case dnnl::memory::data_type::f16:
      return core::DataType::kFloat16;
    default:
      return std::nullopt;
  }
}

// Scales equal to "no scaling" are normalised away so that keys compare.
std::vector<float> Normalise(std::vector<float> scales) {
  if (std::all_of(scales.begin(), scales.end(), [](float s) { return s == 1.0f; })) scales.clear();
  return scales;
}

// Dense row-major layout of `dims`.
desc PlainDesc(const dnnl::memory::dims& dims, dnnl::memory::data_type type) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return desc(dims, type, strides);
}

dnnl::memory Reorder(const dnnl::memory& src, const desc& target, int mask, const std::vector<float>& scales) {
  const dnnl::engine& engine = internal::CpuEngine();
  dnnl::memory dst(target, engine);
  dnnl::primitive_attr attr;
  if (!scales.empty()) attr.set_output_scales(mask, scales);
  dnnl::reorder::primitive_desc pd(engine, src.get_desc(), engine, target, attr);
  dnnl::stream stream(engine);
  dnnl::reorder(pd).execute(stream, const_cast<dnnl::memory&>(src), dst);
  stream.wait();
  return dst;
}

}  // namespace

WeightCache::WeightCache() : impl_(std::make_unique<Impl>()) {}
WeightCache::~WeightCache() = default;
int64_t WeightCache::bytes() const { return impl_->bytes(); }
int64_t WeightCache::bytes(core::DataType dtype) const { return impl_->bytes(dtype); }

int64_t WeightCache::Impl::BytesLocked(std::optional<core::DataType> dtype) const {
  // Entries keyed by a tensor whose source died belong to no live Program (a
  // Program keeps its params, hence its source tensors, alive): not counted.
  int64_t total = 0;
  for (const Entry& e : entries_) {
    if (!e.owns || !Live(e)) continue;
    if (dtype.has_value() && CoreType(e.target.data_type()) != dtype) continue;
    total += static_cast<int64_t>(e.target.get_size());
  }
  return total;
}

int64_t WeightCache::Impl::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return BytesLocked(std::nullopt);
}

int64_t WeightCache::Impl::bytes(core::DataType dtype) const {
  std::lock_guard<std::mutex> lock(mu_);
  return BytesLocked(dtype);
}

std::optional<WeightCache::Impl::Known> WeightCache::Impl::Lookup(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = known_.find(id);
  if (it == known_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<dnnl::memory> WeightCache::Impl::Get(const ConstTensorPtr& tensor, const desc& source,
                                                    const desc& target, float scale) {
  Request request{tensor, 0, source, target, 0, {}};
  if (scale != 1.0f) request.scales = {scale};
  return Get(request);
}

absl::StatusOr<dnnl::memory> WeightCache::Impl::Get(const Request& request) {
  const ConstTensorPtr& tensor = request.tensor;
  const uint64_t id = request.id;
  if (tensor == nullptr && id == 0) return absl::InvalidArgumentError("constant tensor is null");
  if (tensor != nullptr && static_cast<int64_t>(request.source.get_size()) != tensor->byte_size()) {
    return absl::InvalidArgumentError(absl::StrCat("constant of dims ", core::DimsToString(tensor->dims()), " has ",
                                                   tensor->byte_size(), " bytes, its kernel view needs ",
                                                   request.source.get_size()));
  }
  const desc& target = request.target;
  const std::vector<float> scales = Normalise(request.scales);
  const int mask = scales.empty() ? 0 : request.mask;
  std::lock_guard<std::mutex> lock(mu_);
  // Drop tensor-keyed entries whose source died: their address may now
  // belong to `tensor`, and nothing live uses them.
  std::erase_if(entries_, [this](const Entry& e) { return !Live(e); });
  const void* key = tensor != nullptr ? tensor->data() : nullptr;
  auto same_key = [&](const Entry& e) { return id != 0 ? e.id == id : (e.id == 0 && e.key == key); };

  for (const Entry& e : entries_) {
    if (same_key(e) && e.target == target && e.mask == mask && e.scales == scales) return e.memory;
  }
  const dnnl::engine& engine = internal::CpuEngine();
  try {
    // A compensated copy's data part may serve a target without flags.
    if (!HasExtra(target)) {
      for (const Entry& e : entries_) {
        if (same_key(e) && e.owns && e.mask == mask && e.scales == scales && HasExtra(e.target) &&
            DataIsExact(e.target) && WithoutExtra(e.target) == target) {
          dnnl::memory view(target, engine, e.memory.get_data_handle());
          entries_.push_back(Entry{id, key, tensor, target, mask, scales, view, /*owns=*/false});
          return view;
        }
      }
    }
    dnnl::memory src;
    if (tensor != nullptr) {
      src = dnnl::memory(request.source, engine, const_cast<void*>(tensor->data()));  // reorders never write src
    } else {
      // The source was dropped: rebuild a plain copy from a cached copy of
      // the same id. Going through plain matters: oneDNN only computes
      // compensation when reordering from a plain layout, so a blocked copy
      // (say O48i4 for one batch size) cannot be reordered straight into
      // another compensated blocking (O64i4 for another).
      for (const Entry& e : entries_) {
        if (e.id == id && e.owns && e.scales.empty() && DataIsExact(e.target) &&
            e.target.data_type() == target.data_type() && e.target.dims() == target.dims()) {
          const dnnl::memory cached(WithoutExtra(e.target), engine, e.memory.get_data_handle());
          src = Reorder(cached, PlainDesc(target.dims(), target.data_type()), 0, {});
          break;
        }
      }
      if (!src) {
        return absl::FailedPreconditionError(
            absl::StrCat("weights id ", id, ": source tensor dropped and no reusable cached copy of the same type"));
      }
    }
    dnnl::memory dst = Reorder(src, target, mask, scales);
    entries_.push_back(Entry{id, key, tensor, target, mask, scales, dst, /*owns=*/true});
    if (id != 0 && tensor != nullptr) {
      known_.try_emplace(id, Known{tensor->dims(), tensor->dtype()});
      // Keep an exact copy when the only one has scale-adjusted data. A copy
      // of the target's type serves later targets (a bf16 layer's f32 weights
      // rebuild from their bf16 copy: every plan runs that layer in bf16).
      const bool reusable = std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) {
        return e.id == id && e.owns && e.scales.empty() && DataIsExact(e.target) &&
               e.target.data_type() == target.data_type();
      });
      if (!reusable) {
        dnnl::memory copy = Reorder(src, request.source, 0, {});
        entries_.push_back(Entry{id, key, tensor, request.source, 0, {}, copy, /*owns=*/true});
      }
    }
    return dst;
  } catch (const dnnl::error& e) {
    const std::string what = tensor != nullptr ? core::DimsToString(tensor->dims()) : absl::StrCat("id ", id);
    return internal::ErrorToStatus(e, absl::StrCat("reordering constant ", what));
  }
}

}  // namespace q8::kernels
