// Process setup shared by the fuzz targets: quiet logs (a fuzzer runs
// millions of inputs) and one intra-op thread (bounded work per input,
// deterministic coverage). Call from LLVMFuzzerInitialize.
#pragma once

#include <cstdlib>

#include "core/logging.h"

namespace q8::fuzz {

inline void QuietProcess() {
  // Errors are the expected outcome of almost every input; only crashes matter.
  core::SetMinLogLevel(core::LogLevel::kError);
  setenv("OMP_NUM_THREADS", "1", /*overwrite=*/1);
}

// Q8_FUZZ_STRICT=1 turns off the skips of input classes with known, open
// crashes (see FUZZING.md "Known crashes"), e.g. to re-check them after a fix.
inline bool Strict() {
  const char* v = std::getenv("Q8_FUZZ_STRICT");
  return v != nullptr && v[0] == '1';
}

}  // namespace q8::fuzz
