// fold_constants: a node whose inputs are all constants (Constant nodes, shape
// arithmetic on initializers) is evaluated once at load and replaced by
// initializers, so the planner never sees it.
#include "engine/passes/constant_eval.h"
#include "engine/passes/pass.h"

namespace q8::engine {
namespace {

class FoldConstantsPass : public Pass {
 public:
  const char* name() const override { return "fold_constants"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext& ctx) const override {
    int changed = 0;
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      const Node& n = g.nodes()[i];
      if (n.removed || !CanEvaluateConstant(n.op_type)) continue;
      bool all_const = true;
      for (ValueId in : n.inputs) all_const &= in == kNoValue || g.IsConstant(in);
      if (!all_const || (n.op_type != "Constant" && (n.inputs.empty() || n.inputs[0] == kNoValue))) continue;
      auto outs = EvaluateConstantNode(g, n, ctx.opset);
      if (!outs.ok()) continue;  // leave it; the planner reports it precisely if it matters
      const std::vector<ValueId> outputs = n.outputs;
      for (size_t o = 0; o < outputs.size() && o < outs->size(); ++o) {
        if (outputs[o] == kNoValue) continue;
        // Keep the value id (and its name) and turn it into a constant.
        g.value(outputs[o]).constant = (*outs)[o];
        g.value(outputs[o]).dtype = (*outs)[o]->dtype();
        g.value(outputs[o]).producer = -1;
      }
      g.nodes()[i].removed = true;
      ++changed;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFoldConstantsPass() { return std::make_unique<FoldConstantsPass>(); }

}  // namespace q8::engine
