// Reads per-node precisions off the planner's ProgramSpec. The planner emits,
// in graph order, each node's input Reorders and then the node's own step
// (named after the node); alias nodes (Reshape, Flatten, Identity) get no
// step and store their output in their input's precision.
#include "engine/export/precision_plan.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace q8::engine {
namespace {

ValuePrecision Of(const kernels::ValueSpec& v) { return {v.dtype, v.scale}; }

}  // namespace

absl::StatusOr<std::vector<NodePrecision>> PlanPrecision(const LoweredGraph& lowered) {
  Q8_ASSIGN_OR_RETURN(kernels::ProgramSpec program, PlanProgram(lowered, 1));
  const Graph& g = *lowered.graph;
  // How each graph value is stored once produced (graph inputs are f32).
  std::vector<ValuePrecision> stored(g.num_values());
  std::vector<NodePrecision> result(g.nodes().size());
  size_t step = 0;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& n = g.nodes()[i];
    const Lowering& l = lowered.lowerings[i];
    NodePrecision& np = result[i];
    if (l.kind == Lowering::Kind::kAlias) {
      const ValuePrecision in = stored[n.inputs[0]];
      np.inputs.push_back(in);
      np.output = in;
    } else {
      while (step < program.steps.size() && program.steps[step].op == "Reorder") ++step;
      if (step == program.steps.size() || program.steps[step].name != n.name) {
        return absl::InternalError(absl::StrCat("QDQ export: no plan step for ", n.Describe()));
      }
      const kernels::StepSpec& s = program.steps[step++];
      if (s.inputs.size() != l.runtime_inputs.size() || s.outputs.empty()) {
        return absl::InternalError(absl::StrCat("QDQ export: plan step of ", n.Describe(), " has ", s.inputs.size(),
                                                " inputs, the lowering ", l.runtime_inputs.size()));
      }
      for (int in : s.inputs) np.inputs.push_back(Of(program.values[in]));
      np.output = Of(program.values[s.outputs[0]]);
    }
    stored[n.outputs[0]] = np.output;
  }
  return result;
}

}  // namespace q8::engine
