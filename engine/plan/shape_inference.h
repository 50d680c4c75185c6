// Concrete shape inference: given the graph inputs' dims for one batch size,
// computes every value's dims through the op table. Running it per batch
// size (rather than symbolically) keeps every op's shape rule simple and exact.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/ops/op_table.h"

namespace q8::engine {

// `in`'s dims with a dynamic first axis set to `batch` and any other dynamic
// axis to `other`, or to in.representative_size when `other` is 0.
core::Dims RepresentativeDims(const GraphInput& in, int64_t batch, int64_t other = 0);

// Dims for every ValueId (empty for values no live node touches), the graph
// inputs at RepresentativeDims(batch) or at `input_dims`.
// INVALID_ARGUMENT naming the node whose shape rule fails.
absl::StatusOr<std::vector<core::Dims>> InferValueDims(const Graph& graph, int64_t opset, int64_t batch);
absl::StatusOr<std::vector<core::Dims>> InferValueDims(const Graph& graph, int64_t opset,
                                                       const std::vector<core::Dims>& input_dims);

// One node's output dims into `dims` (which holds its inputs'); refuses
// runtime non-FP32 inputs where the op reads them only from constants.
absl::Status InferNodeDims(const Graph& graph, const Node& n, const OpDef& def, int64_t opset,
                           std::vector<core::Dims>& dims);

// The op definition of every live node (null for removed ones); INVALID_ARGUMENT for the first
// unsupported op, naming its type and node and listing what is supported.
absl::StatusOr<std::vector<const OpDef*>> ResolveOps(const Graph& graph);

// OpContext for `node` given all value dims.
OpContext MakeOpContext(const Graph& graph, const Node& node, int64_t opset, const std::vector<core::Dims>& dims);

}  // namespace q8::engine
