// Shape helpers declared in shape.h.
#include "core/shape.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_join.h"

namespace q8::core {

int64_t NumElements(absl::Span<const int64_t> dims) {
  // A zero anywhere makes the product 0, however large the dims before it:
  // [2^60, 412, 0] is a valid empty shape whose left-to-right product would
  // overflow (found by the .npy and ONNX fuzzers). Any other shape reaching
  // here has passed CheckedNumElements; saturate rather than wrap regardless.
  if (std::find(dims.begin(), dims.end(), 0) != dims.end()) return 0;
  int64_t n = 1;
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  }
  return n;
}

bool IsStatic(absl::Span<const int64_t> dims) {
  for (int64_t d : dims) {
    if (d == kDynamicDim) return false;
  }
  return true;
}

std::string DimsToString(absl::Span<const int64_t> dims) { return "[" + absl::StrJoin(dims, ",") + "]"; }

bool MatchesWithBatch(absl::Span<const int64_t> dims, absl::Span<const int64_t> pattern, int64_t batch) {
  if (dims.size() != pattern.size()) return false;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] != (pattern[i] == kDynamicDim ? batch : pattern[i])) return false;
  }
  return true;
}

Dims WithBatch(absl::Span<const int64_t> dims, int64_t batch) {
  Dims out;
  AssignWithBatch(dims, batch, &out);
  return out;
}

void AssignWithBatch(absl::Span<const int64_t> dims, int64_t batch, Dims* out) {
  out->assign(dims.begin(), dims.end());
  for (int64_t& d : *out) {
    if (d == kDynamicDim) d = batch;
  }
}

}  // namespace q8::core

namespace q8::core {

bool BroadcastShapes(absl::Span<const int64_t> a, absl::Span<const int64_t> b, Dims* out) {
  const size_t rank = std::max(a.size(), b.size());
  Dims pa = PadLeft(a, rank), pb = PadLeft(b, rank);
  out->assign(rank, 0);
  for (size_t i = 0; i < rank; ++i) {
    if (pa[i] == pb[i] || pb[i] == 1) {
      (*out)[i] = pa[i];
    } else if (pa[i] == 1) {
      (*out)[i] = pb[i];
    } else {
      return false;
    }
  }
  return true;
}

Dims PadLeft(absl::Span<const int64_t> dims, size_t rank) {
  Dims out(rank > dims.size() ? rank - dims.size() : 0, 1);
  out.insert(out.end(), dims.begin(), dims.end());
  return out;
}

}  // namespace q8::core
