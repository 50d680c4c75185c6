// .npy parsing (core::ParseNpy): every byte string is either refused with a
// status or yields a tensor whose bytes were all present; an accepted tensor
// must survive SerializeNpy -> ParseNpy unchanged.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "absl/strings/string_view.h"
#include "core/npy.h"
#include "fuzz/fuzz_env.h"

namespace {

// Known open crashes (issue 11, fixed on the `validate` branch): a shape whose
// product overflows int64 passes the size check, and ParseNpy allocates the
// declared tensor before checking that its bytes are present. Skipped unless
// Q8_FUZZ_STRICT=1: true when the 'shape' tuple declares more elements than
// the input has bytes (no such input can be valid). Digit runs are read the
// way ParseNpy splits dims, so every dim it accepts is counted.
bool DeclaresMoreThanPresent(absl::string_view bytes) {
  const size_t at = bytes.substr(0, 65536).find("'shape'");
  if (at == absl::string_view::npos) return false;
  const int64_t limit = static_cast<int64_t>(bytes.size());
  int64_t product = 1, dim = -1;
  auto flush = [&]() {
    if (dim < 0) return false;
    const bool over = __builtin_mul_overflow(product, dim, &product) || product > limit;
    dim = -1;
    return over;
  };
  for (size_t i = at; i < std::min(bytes.size(), at + 4096) && bytes[i] != ')'; ++i) {
    const char c = bytes[i];
    if (c >= '0' && c <= '9') {
      if (dim < 0) dim = 0;
      if (__builtin_mul_overflow(dim, 10, &dim) || __builtin_add_overflow(dim, c - '0', &dim)) return true;
    } else if (flush()) {
      return true;
    }
  }
  return flush();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  q8::fuzz::QuietProcess();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (!q8::fuzz::Strict() && DeclaresMoreThanPresent(bytes)) return 0;
  auto tensor = q8::core::ParseNpy(bytes);
  if (!tensor.ok()) return 0;
  // The payload cannot be larger than what was sent.
  if (tensor->byte_size() < 0 || static_cast<size_t>(tensor->byte_size()) > size) abort();
  const std::string again = q8::core::SerializeNpy(tensor->view());
  auto reparsed = q8::core::ParseNpy(again);
  if (!reparsed.ok()) abort();
  if (reparsed->dtype() != tensor->dtype() || reparsed->dims() != tensor->dims()) abort();
  if (tensor->byte_size() > 0 && std::memcmp(reparsed->data(), tensor->data(), tensor->byte_size()) != 0) abort();
  return 0;
}
