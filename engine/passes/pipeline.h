// The ordered pass pipeline, run to a fixpoint.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/passes/pass.h"

namespace q8::engine {

// Runs every enabled pass in order, repeatedly, until none changes the graph
// (at most a few rounds). Returns "name xN" for each pass that changed it.
absl::StatusOr<std::vector<std::string>> RunPassPipeline(Graph& graph, const PassContext& ctx,
                                                         const std::vector<std::string>& disabled);

// Names of all passes, in pipeline order.
std::vector<std::string> PassNames();

}  // namespace q8::engine
