// .npz parsing (core::ParseNpz over core::ZipReader): every byte string is
// either refused with a status or yields arrays whose total size stays under
// the configured limit (no zip bomb gets past it); accepted arrays must
// survive SerializeNpz -> ParseNpz unchanged.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "absl/strings/string_view.h"
#include "core/npz.h"
#include "fuzz/fuzz_env.h"

namespace {

constexpr int64_t kLimit = int64_t{16} << 20;  // what an upload limit would be

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  q8::fuzz::QuietProcess();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  q8::core::ZipLimits limits;
  limits.max_total_bytes = kLimit;
  auto arrays = q8::core::ParseNpz(bytes, limits);
  if (!arrays.ok()) return 0;
  int64_t total = 0;
  std::vector<std::pair<std::string, q8::core::TensorView>> views;
  for (const auto& a : *arrays) {
    if (a.tensor.byte_size() < 0) abort();
    total += a.tensor.byte_size();
    views.push_back({a.name, a.tensor.view()});
  }
  if (total > kLimit) abort();  // the payload cannot exceed what the archive may unpack to
  auto again = q8::core::ParseNpz(q8::core::SerializeNpz(views), limits);
  if (!again.ok() || again->size() != arrays->size()) abort();
  for (size_t i = 0; i < arrays->size(); ++i) {
    const auto& x = (*arrays)[i];
    const auto& y = (*again)[i];
    if (x.name != y.name || x.tensor.dtype() != y.tensor.dtype() || x.tensor.dims() != y.tensor.dims()) abort();
    if (x.tensor.byte_size() > 0 && std::memcmp(x.tensor.data(), y.tensor.data(), x.tensor.byte_size()) != 0) abort();
  }
  return 0;
}
