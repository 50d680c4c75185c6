// Overflow-checked int64 arithmetic for every shape and size computed from
// client bytes (ONNX dims, attributes, .npy headers, request shapes). Each
// helper refuses negatives and overflow with INVALID_ARGUMENT instead of
// wrapping, and the tensor helpers also refuse anything above the documented
// per-tensor ceiling, so nothing downstream ever allocates or indexes with a
// wrapped or absurd size.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"

namespace q8::core {

// The largest tensor (in bytes) q8serve will describe, allocate or accept, by
// default: 1 GiB, the same as the largest model upload, so no honest
// initializer or activation comes near it while a hostile dims list is
// refused before any allocation.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 30;

// The limit in force (the server's --max_tensor_bytes; kMaxTensorBytes until
// set). Process-wide because every parser and the Tensor allocator must agree
// on it; set once at startup, read lock-free.
int64_t MaxTensorBytes();
void SetMaxTensorBytes(int64_t bytes);

// a*b, a+b and a-b, or nullopt when the exact result does not fit in int64.
std::optional<int64_t> CheckedMul(int64_t a, int64_t b);
std::optional<int64_t> CheckedAdd(int64_t a, int64_t b);
std::optional<int64_t> CheckedSub(int64_t a, int64_t b);

// Product of dims (1 for a scalar). INVALID_ARGUMENT when a dim is negative
// or the product overflows int64. `what` names the tensor in the message.
absl::StatusOr<int64_t> CheckedNumElements(absl::Span<const int64_t> dims, absl::string_view what = "tensor");

// NumElements * SizeOf(dtype), refused when a dim is negative, the dtype is
// undefined, anything overflows or the result exceeds `limit` bytes.
absl::StatusOr<int64_t> CheckedByteSize(DataType dtype, absl::Span<const int64_t> dims,
                                        absl::string_view what = "tensor", int64_t limit = MaxTensorBytes());

}  // namespace q8::core
