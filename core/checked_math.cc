// Checked arithmetic via the compiler's overflow builtins (exact, branch-cheap).
#include "core/checked_math.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "core/quote.h"
#include "core/shape.h"

namespace q8::core {
namespace {
std::atomic<int64_t> max_tensor_bytes{kMaxTensorBytes};
}  // namespace

int64_t MaxTensorBytes() { return max_tensor_bytes.load(std::memory_order_relaxed); }
void SetMaxTensorBytes(int64_t bytes) { max_tensor_bytes.store(bytes, std::memory_order_relaxed); }

std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> CheckedAdd(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> CheckedSub(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return std::nullopt;
  return r;
}

absl::StatusOr<int64_t> CheckedNumElements(absl::Span<const int64_t> dims, absl::string_view what) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : dims) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(what), " has a negative dimension in shape ", DimsToString(dims)));
    }
    // Keep scanning after an overflow: a later 0 makes the product 0, and a
    // later negative dim is the better message.
    if (!overflow) {
      auto next = CheckedMul(n, d);
      if (next) n = *next;
      overflow = !next.has_value();
    }
  }
  for (int64_t d : dims) {
    if (d == 0) return 0;
  }
  if (overflow) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(what), " has shape ", DimsToString(dims), " whose element count overflows 64 bits"));
  }
  return n;
}

absl::StatusOr<int64_t> CheckedByteSize(DataType dtype, absl::Span<const int64_t> dims, absl::string_view what,
                                        int64_t limit) {
  auto n = CheckedNumElements(dims, what);
  if (!n.ok()) return n.status();
  const int64_t esize = SizeOf(dtype);
  if (esize <= 0) return absl::InvalidArgumentError(absl::StrCat(Quote(what), " has an undefined element type"));
  auto bytes = CheckedMul(*n, esize);
  if (!bytes || *bytes > limit) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(what), " has shape ", DimsToString(dims), " (", *n, " ",
                                                   OipName(dtype), " elements), more than the per-tensor limit of ",
                                                   limit, " bytes (--max_tensor_bytes)"));
  }
  return *bytes;
}

}  // namespace q8::core
