// Aligned allocation for Tensor.
#include "core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "core/checked_math.h"

namespace q8::core {

Tensor::Tensor(DataType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  // Callers validate shapes first (core/checked_math.h); this is the backstop
  // that turns a wrapped or absurd size into bad_alloc instead of a short buffer.
  auto elements = CheckedNumElements(dims_);
  auto checked = elements.ok() ? CheckedMul(*elements, SizeOf(dtype_)) : std::nullopt;
  if (!checked || *checked > MaxTensorBytes()) throw std::bad_alloc();
  const int64_t bytes = *checked;
  // aligned_alloc needs a size that is a multiple of the alignment.
  const size_t rounded = static_cast<size_t>((bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  data_.reset(p);
}

Tensor Tensor::Placeholder(DataType dtype, Dims dims) {
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  return t;
}

Tensor Tensor::FromFloats(Dims dims, absl::Span<const float> values) {
  Tensor t(DataType::kFloat32, std::move(dims));
  const size_t n = std::min<size_t>(values.size(), t.num_elements());
  if (n > 0) std::memcpy(t.data(), values.data(), n * sizeof(float));  // empty spans may be null: no memcpy
  return t;
}

Tensor Tensor::Clone() const {
  if (!has_storage()) return Placeholder(dtype_, dims_);
  Tensor t(dtype_, dims_);
  if (byte_size() > 0) std::memcpy(t.data(), data(), byte_size());
  return t;
}

}  // namespace q8::core
