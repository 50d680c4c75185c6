// Tensor (owning, 64-byte aligned, row-major) and TensorView (non-owning) for
// passing data between layers without copies. Neither knows about layouts
// other than dense row-major: blocked/NHWC layouts are private to kernels/.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace q8::core {

// Read-only view of dense row-major data owned by someone else.
struct TensorView {
  DataType dtype = DataType::kUndefined;
  Dims dims;
  const void* data = nullptr;

  int64_t num_elements() const { return NumElements(dims); }
  int64_t byte_size() const { return num_elements() * SizeOf(dtype); }
  template <typename T>
  absl::Span<const T> span() const {
    return {static_cast<const T*>(data), static_cast<size_t>(num_elements())};
  }
};

// Writable view of dense row-major data owned by someone else.
struct MutableTensorView {
  DataType dtype = DataType::kUndefined;
  Dims dims;
  void* data = nullptr;

  int64_t num_elements() const { return NumElements(dims); }
  int64_t byte_size() const { return num_elements() * SizeOf(dtype); }
  template <typename T>
  absl::Span<T> span() const {
    return {static_cast<T*>(data), static_cast<size_t>(num_elements())};
  }
};

// Owning tensor. Storage is 64-byte aligned so kernels may use it directly.
// Movable, deliberately not copyable (copies of weights must be explicit).
class Tensor {
 public:
  Tensor() = default;
  Tensor(DataType dtype, Dims dims);  // zero-initialised
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  // Dims and dtype without storage (data() is null). Lets a graph keep the
  // shape of a constant whose bytes now live elsewhere (kernel weights).
  static Tensor Placeholder(DataType dtype, Dims dims);
  bool has_storage() const { return data_ != nullptr; }

  // Builds a float tensor from values (size must match dims).
  static Tensor FromFloats(Dims dims, absl::Span<const float> values);
  Tensor Clone() const;

  DataType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t num_elements() const { return NumElements(dims_); }
  int64_t byte_size() const { return num_elements() * SizeOf(dtype_); }
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }

  template <typename T>
  absl::Span<T> span() {
    return {static_cast<T*>(data()), static_cast<size_t>(num_elements())};
  }
  template <typename T>
  absl::Span<const T> span() const {
    return {static_cast<const T*>(data()), static_cast<size_t>(num_elements())};
  }

  TensorView view() const { return {dtype_, dims_, data()}; }
  MutableTensorView mutable_view() { return {dtype_, dims_, data()}; }
  // Same bytes, new dims (element count must match).
  void Reshape(Dims dims) { dims_ = std::move(dims); }

 private:
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  DataType dtype_ = DataType::kUndefined;
  Dims dims_;
  std::unique_ptr<void, FreeDeleter> data_;
};

}  // namespace q8::core
