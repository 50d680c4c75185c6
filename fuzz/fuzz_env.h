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

}  // namespace q8::fuzz
