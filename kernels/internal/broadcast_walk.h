// Odometer helpers shared by the plain C++ ops (data_ops.cc, value_ops.cc):
// fixed-size index arrays (no allocation per run) and the numpy-broadcasting
// walk. Ranks are capped at kMaxRank; callers validate that first.
#pragma once

#include <array>
#include <cstdint>

#include "absl/types/span.h"
#include "core/tensor.h"

namespace q8::kernels::internal {

inline constexpr size_t kMaxRank = 16;
using Index = std::array<int64_t, kMaxRank>;

// Row-major element strides of `dims`, in a fixed array.
inline Index StridesOf(absl::Span<const int64_t> dims) {
  Index s{};
  int64_t acc = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

// Calls f(out_index, in_offsets) for every output element, where in
// offsets follow numpy broadcasting of each input's dims to `out`.
template <size_t N, typename F>
void ForEachBroadcast(const core::Dims& out, const std::array<const core::Dims*, N>& ins, F&& f) {
  const size_t rank = out.size();
  std::array<Index, N> strides{};
  for (size_t k = 0; k < N; ++k) {
    const core::Dims& dims = *ins[k];
    const Index s = StridesOf(dims);
    const size_t lead = rank - dims.size();  // implicit leading 1s
    for (size_t d = lead; d < rank; ++d) strides[k][d] = dims[d - lead] == 1 ? 0 : s[d - lead];
  }
  const int64_t total = core::NumElements(out);
  Index pos{};
  std::array<int64_t, N> off{};
  for (int64_t i = 0; i < total; ++i) {
    f(i, off);
    for (size_t d = rank; d-- > 0;) {
      if (++pos[d] < out[d]) {
        for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * (out[d] - 1);
      pos[d] = 0;
    }
  }
}

}  // namespace q8::kernels::internal
