// Tensor shapes: a vector of dims where kDynamicDim marks the (batch) dimension
// that is only known per request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace q8::core {

using Dims = std::vector<int64_t>;
inline constexpr int64_t kDynamicDim = -1;

// Product of dims; 1 for a scalar. Requires all dims >= 0.
int64_t NumElements(absl::Span<const int64_t> dims);
// True when no dim is kDynamicDim.
bool IsStatic(absl::Span<const int64_t> dims);
// "[1,3,224,224]" (dynamic dims print as -1).
std::string DimsToString(absl::Span<const int64_t> dims);
// Dims with every kDynamicDim replaced by `batch`.
Dims WithBatch(absl::Span<const int64_t> dims, int64_t batch);
// The same into `out`, reusing its storage (hot path).
void AssignWithBatch(absl::Span<const int64_t> dims, int64_t batch, Dims* out);
// dims == WithBatch(pattern, batch), without building the vector (hot path).
bool MatchesWithBatch(absl::Span<const int64_t> dims, absl::Span<const int64_t> pattern, int64_t batch);

}  // namespace q8::core

namespace q8::core {
// Numpy-style broadcast of two shapes; false when they are incompatible.
bool BroadcastShapes(absl::Span<const int64_t> a, absl::Span<const int64_t> b, Dims* out);
// `dims` with leading 1s added up to `rank`.
Dims PadLeft(absl::Span<const int64_t> dims, size_t rank);
}  // namespace q8::core
