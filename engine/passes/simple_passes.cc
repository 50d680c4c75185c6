// Small structural passes: eliminate_identity (Identity, inference Dropout)
// and eliminate_dead_nodes (nodes whose outputs nobody reads).
#include "engine/passes/pass.h"

namespace q8::engine {
namespace {

bool OutputUsed(const Graph& g, ValueId v) { return v != kNoValue && (g.IsGraphOutput(v) || !g.Consumers(v).empty()); }

// Dropout is the identity only in inference: training_mode absent or a constant false.
bool InferenceDropout(const Graph& g, const Node& n) {
  if (n.inputs.size() < 3 || n.inputs[2] == kNoValue) return true;
  const core::Tensor* mode = g.value(n.inputs[2]).constant.get();
  if (mode == nullptr || !mode->has_storage()) return false;
  const auto* bytes = static_cast<const uint8_t*>(mode->data());
  for (int64_t i = 0; i < mode->byte_size(); ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

class EliminateIdentityPass : public Pass {
 public:
  const char* name() const override { return "eliminate_identity"; }
  absl::StatusOr<int> Run(Graph& g, const PassContext&) const override {
    int changed = 0;
    for (Node& n : g.nodes()) {
      if (n.removed || (n.op_type != "Identity" && n.op_type != "Dropout")) continue;
      if (n.inputs.empty() || n.inputs[0] == kNoValue || g.IsConstant(n.inputs[0])) continue;
      // Dropout's mask output, if anyone reads it, keeps the node (its lowering writes the mask).
      bool mask_used = false;
      for (size_t i = 1; i < n.outputs.size(); ++i) mask_used |= OutputUsed(g, n.outputs[i]);
      if (mask_used || (n.op_type == "Dropout" && !InferenceDropout(g, n))) continue;
      g.ReplaceAllUses(n.outputs[0], n.inputs[0]);
      n.removed = true;
      ++changed;
    }
    return changed;
  }
};

class EliminateDeadNodesPass : public Pass {
 public:
  const char* name() const override { return "eliminate_dead_nodes"; }
  absl::StatusOr<int> Run(Graph& g, const PassContext&) const override {
    int changed = 0;
    // Reverse order so a chain of dead nodes goes in one run.
    for (auto it = g.nodes().rbegin(); it != g.nodes().rend(); ++it) {
      if (it->removed) continue;
      bool used = false;
      for (ValueId out : it->outputs) used |= OutputUsed(g, out);
      if (!used) {
        it->removed = true;
        ++changed;
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeEliminateIdentityPass() { return std::make_unique<EliminateIdentityPass>(); }
std::unique_ptr<Pass> MakeEliminateDeadNodesPass() { return std::make_unique<EliminateDeadNodesPass>(); }

}  // namespace q8::engine
