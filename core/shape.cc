// Shape helpers declared in shape.h.
#include "core/shape.h"

#include "absl/strings/str_join.h"

namespace q8::core {

int64_t NumElements(absl::Span<const int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

bool IsStatic(absl::Span<const int64_t> dims) {
  for (int64_t d : dims) {
    if (d == kDynamicDim) return false;
  }
  return true;
}

std::string DimsToString(absl::Span<const int64_t> dims) {
  return "[" + absl::StrJoin(dims, ",") + "]";
}

Dims WithBatch(absl::Span<const int64_t> dims, int64_t batch) {
  Dims out(dims.begin(), dims.end());
  for (int64_t& d : out) {
    if (d == kDynamicDim) d = batch;
  }
  return out;
}

}  // namespace q8::core
