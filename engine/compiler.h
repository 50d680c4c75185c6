// The engine's entry point: ONNX bytes in, a ready-to-run CompiledModel out.
// Runs the whole chain: import -> validate -> shape inference -> graph passes
// -> execution plan(s) -> warm-up.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/compiled_model.h"

namespace q8::engine {

struct CompileOptions {
  int64_t max_batch_size = 64;
  // Execution plans kept per model (per batch size and thread count), least
  // recently used evicted beyond it; 0 = unbounded.
  int64_t max_cached_plans = 64;
  // Plans built (and executed once on zeros) before Compile returns.
  std::vector<int64_t> warmup_batch_sizes = {1};
  // Graph passes to skip, by name (for tests comparing before/after).
  std::vector<std::string> disabled_passes;
};

// Errors: INVALID_ARGUMENT for bytes that are not a valid ONNX model, an
// inconsistent graph, or an unsupported op (the message names op type and
// node); the model is never partially usable.
absl::StatusOr<std::shared_ptr<const CompiledModel>> Compile(absl::string_view onnx_bytes,
                                                             const CompileOptions& options = {});

}  // namespace q8::engine
