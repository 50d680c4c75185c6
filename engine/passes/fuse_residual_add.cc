// fuse_residual_add: Add(Conv(x), r) with r a runtime tensor of the same
// shape becomes one Conv that accumulates into r (oneDNN's sum post-op), as
// in every ResNet block. Saves a full read+write of the block output, and in
// int8 keeps the residual path inside the conv's requantization.
// Preconditions: the Conv has no fused activation yet, its output feeds only
// the Add and is not a graph output, and no broadcasting is involved.
#include "engine/passes/pass.h"
#include "engine/plan/shape_inference.h"

namespace q8::engine {
namespace {

class FuseResidualAddPass : public Pass {
 public:
  const char* name() const override { return "fuse_residual_add"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext& ctx) const override {
    auto dims = InferValueDims(g, ctx.opset, 1);
    if (!dims.ok()) return 0;  // shapes are reported precisely later; fusing is optional
    int changed = 0;
    for (size_t ai = 0; ai < g.nodes().size(); ++ai) {
      Node& add = g.nodes()[ai];
      if (add.removed || add.op_type != "Add" || add.inputs.size() != 2 || !add.fused.empty()) continue;
      for (int side = 0; side < 2; ++side) {
        const ValueId conv_out = add.inputs[side];
        const ValueId residual = add.inputs[1 - side];
        if (conv_out == kNoValue || residual == kNoValue || conv_out == residual) continue;
        const int producer = g.value(conv_out).producer;
        if (producer < 0 || g.IsConstant(residual)) continue;
        Node& conv = g.nodes()[producer];
        if (conv.removed || conv.op_type != "Conv" || conv.accumulate || !conv.fused.empty()) continue;
        if (g.IsGraphOutput(conv_out) || g.Consumers(conv_out).size() != 1) continue;
        if ((*dims)[conv_out] != (*dims)[residual]) continue;
        conv.inputs.resize(4, kNoValue);
        conv.inputs[3] = residual;
        conv.accumulate = true;
        g.ReplaceAllUses(add.outputs[0], conv_out);
        add.removed = true;
        ++changed;
        break;
      }
    }
    // The residual (e.g. a ResNet downsample branch) may be computed after
    // the conv in the original order; the conv now reads it, so re-sort.
    if (changed > 0) {
      absl::Status sorted = g.SortTopologically();
      if (!sorted.ok()) return sorted;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseResidualAddPass() { return std::make_unique<FuseResidualAddPass>(); }

}  // namespace q8::engine
