// fuse_activation: Relu / Clip / Sigmoid following a Conv, Gemm, MatMul, Add or
// Mul, and a Gelu (from fuse_gelu_swish) following a Gemm or MatMul, becomes
// a oneDNN post-op of that node, saving a pass over memory; for an int8
// transformer FFN it also lets the first Linear write the int8 tensor the
// second reads instead of f32 -> Gelu -> quantize. (Gelu stays off the other
// hosts: their dynamic-int8 and QDQ paths need not grow a GELU epilogue.)
// Preconditions: the producer's output feeds only the activation and is not a
// graph output; Clip bounds are constants.
#include "engine/ops/op_impls.h"
#include "engine/passes/pass.h"

namespace q8::engine {
namespace {

bool CanHostPostOps(const std::string& op) {
  return op == "Conv" || op == "Gemm" || op == "MatMul" || op == "Add" || op == "Mul";
}

bool IsActivation(const std::string& op) { return op == "Relu" || op == "Clip" || op == "Sigmoid"; }

bool CanFuse(const std::string& host, const std::string& act) {
  if (act == "Gelu") return host == "Gemm" || host == "MatMul";
  return IsActivation(act) && CanHostPostOps(host);
}

class FuseActivationPass : public Pass {
 public:
  const char* name() const override { return "fuse_activation"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext& pctx) const override {
    int changed = 0;
    for (size_t ai = 0; ai < g.nodes().size(); ++ai) {
      const Node& act = g.nodes()[ai];
      if (act.removed || !(IsActivation(act.op_type) || act.op_type == "Gelu") || act.inputs.empty()) continue;
      const ValueId x = act.inputs[0];
      const int producer = x == kNoValue ? -1 : g.value(x).producer;
      if (producer < 0) continue;
      if (!CanFuse(g.nodes()[producer].op_type, act.op_type)) continue;
      if (g.IsGraphOutput(x) || g.Consumers(x).size() != 1) continue;
      OpContext octx{g, act, pctx.opset, {}};
      auto activation = ops::FusedActivationOf(octx);
      if (!activation.ok()) continue;  // e.g. runtime Clip bounds: leave it standalone
      g.nodes()[producer].fused.push_back(*activation);
      g.ReplaceAllUses(act.outputs[0], x);
      g.nodes()[ai].removed = true;
      ++changed;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseActivationPass() { return std::make_unique<FuseActivationPass>(); }

}  // namespace q8::engine
