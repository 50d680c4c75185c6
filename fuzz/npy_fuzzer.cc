// .npy parsing (core::ParseNpy): every byte string is either refused with a
// status or yields a tensor whose bytes were all present; an accepted tensor
// must survive SerializeNpy -> ParseNpy unchanged.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "absl/strings/string_view.h"
#include "core/npy.h"
#include "fuzz/fuzz_env.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  q8::fuzz::QuietProcess();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
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
