// A plain C++ evaluator for the ops that appear in constant subgraphs
// (shape arithmetic, Constant nodes, weight transposes). Used by
// fold_constants at load and by plan specialization (engine/plan/specialize.h)
// when a plan is built for concrete input shapes; never on a request path.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"

namespace q8::engine {

// True when EvaluateConstantNode knows `op_type`.
bool CanEvaluateConstant(const std::string& op_type);

// Computes the outputs of `node`, whose inputs must all be constants.
absl::StatusOr<std::vector<std::shared_ptr<const core::Tensor>>> EvaluateConstantNode(const Graph& graph,
                                                                                      const Node& node, int64_t opset);

// A Shape or Size node over a value of known dims (its bytes are not needed).
absl::StatusOr<std::vector<std::shared_ptr<const core::Tensor>>> EvaluateShapeOf(const Node& node,
                                                                                 const core::Dims& input_dims);

}  // namespace q8::engine
