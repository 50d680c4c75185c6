// Internal steps of compilation, shared by Compile() (fp32) and the
// quantizer, which builds several models (capture, int8 candidates) from one
// prepared graph.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "engine/compiler.h"
#include "engine/graph/graph.h"
#include "engine/onnx_model.h"
#include "engine/quant/quant_spec.h"

namespace q8::engine {

struct PreparedGraph {
  std::shared_ptr<const Graph> graph;  // imported and optimized
  int64_t opset = 13;
  CompileReport report;                // node counts and passes so far
};

// Import, validate and run the pass pipeline.
absl::StatusOr<PreparedGraph> PrepareGraph(absl::string_view onnx_bytes, const CompileOptions& options);

// Lower, plan and warm up a model over `prepared` (with `quant` for int8).
absl::StatusOr<std::shared_ptr<OnnxModel>> BuildModel(const PreparedGraph& prepared, const CompileOptions& options,
                                                      std::shared_ptr<const QuantSpec> quant = nullptr);

}  // namespace q8::engine
