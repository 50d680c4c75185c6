// A plain C++ evaluator for the ops that appear in constant subgraphs
// (shape arithmetic, Constant nodes, weight transposes). Used only by
// fold_constants; never on a request path.
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
                                                                                      const Node& node,
                                                                                      int64_t opset);

}  // namespace q8::engine
