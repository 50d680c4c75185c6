// Concrete shape inference: given the graph inputs' dims for one batch size,
// computes every value's dims through the op table. Running it per batch
// size (rather than symbolically) keeps every op's shape rule simple and exact.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/ops/op_table.h"

namespace q8::engine {

// Dims for every ValueId (empty for values no live node touches).
// INVALID_ARGUMENT naming the node whose shape rule fails.
absl::StatusOr<std::vector<core::Dims>> InferValueDims(const Graph& graph, int64_t opset, int64_t batch);

// The op definition of every live node; INVALID_ARGUMENT for the first
// unsupported op, naming its type and node and listing what is supported.
absl::StatusOr<std::vector<const OpDef*>> ResolveOps(const Graph& graph);

// OpContext for `node` given all value dims.
OpContext MakeOpContext(const Graph& graph, const Node& node, int64_t opset, const std::vector<core::Dims>& dims);

}  // namespace q8::engine
