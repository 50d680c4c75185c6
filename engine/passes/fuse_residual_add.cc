// fuse_residual_add: Add(Conv(x), r) with r a runtime tensor of the same
// shape becomes one Conv that accumulates into r (oneDNN's sum post-op), as
// in every ResNet block. Saves a full read+write of the block output, and in
// int8 keeps the residual path inside the conv's requantization.
// The same for Add(MatMul(x, W), r) with a constant 2-D W (a transformer's
// attention output projection and FFN down projection, bias fused or not):
// one primitive instead of two per residual, which at a small model's sizes
// is a large share of the run. The residual then sits at input 3 of both.
// Preconditions: the producer has no fused activation yet, its output feeds
// only the Add and is not a graph output, and no broadcasting is involved.
#include "engine/passes/pass.h"
#include "engine/plan/shape_inference.h"
#include "engine/plan/specialize.h"

namespace q8::engine {
namespace {

// Value dims with every dynamic input axis at `size`. A graph whose shapes
// flow through runtime Shape arithmetic (a transformer's head reshapes) is
// specialized first (node and value ids are kept), as its plans will be.
absl::StatusOr<std::vector<core::Dims>> DimsAt(const Graph& g, int64_t opset, int64_t size) {
  auto direct = InferValueDims(g, opset, size);
  if (direct.ok() || !NeedsSpecialization(g)) return direct;
  for (bool shape_value : ShapeValueInputs(g)) {
    if (shape_value) return direct;  // plans keyed by input values: not known here
  }
  PlanShapes shapes;
  for (const GraphInput& in : g.inputs()) shapes.dims.push_back(RepresentativeDims(in, size, size));
  shapes.values.resize(g.inputs().size());
  auto specialized = SpecializeGraph(g, opset, shapes);
  if (!specialized.ok()) return specialized.status();
  return InferValueDims(*specialized, opset, shapes.dims);
}

// Ops whose kernel can add a residual as it writes: Conv, and MatMul with
// constant [K, N] weights (a runtime B, e.g. attention's, stays unfused).
bool Accumulates(const Graph& g, const Node& n) {
  if (n.op_type == "Conv") return true;
  if (n.op_type != "MatMul" || n.inputs.size() < 2 || n.inputs.size() > 3 || !g.IsConstant(n.inputs[1])) return false;
  return g.value(n.inputs[1]).constant->dims().size() == 2;
}

class FuseResidualAddPass : public Pass {
 public:
  const char* name() const override { return "fuse_residual_add"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext& ctx) const override {
    // Two sizes of every dynamic axis, so a residual that broadcasts only
    // when an axis is not 1 is not mistaken for a full tensor.
    auto dims = DimsAt(g, ctx.opset, 1);
    auto dims2 = DimsAt(g, ctx.opset, 2);
    if (!dims.ok() || !dims2.ok()) return 0;  // shapes are reported precisely later; fusing is optional
    int changed = 0;
    for (size_t ai = 0; ai < g.nodes().size(); ++ai) {
      Node& add = g.nodes()[ai];
      if (add.removed || add.op_type != "Add" || add.inputs.size() != 2 || !add.fused.empty()) continue;
      for (int side = 0; side < 2; ++side) {
        const ValueId sum_in = add.inputs[side];
        const ValueId residual = add.inputs[1 - side];
        if (sum_in == kNoValue || residual == kNoValue || sum_in == residual) continue;
        const int producer = g.value(sum_in).producer;
        if (producer < 0 || g.IsConstant(residual)) continue;
        Node& target = g.nodes()[producer];
        if (target.removed || !Accumulates(g, target) || target.accumulate || !target.fused.empty()) continue;
        if (g.IsGraphOutput(sum_in) || g.Consumers(sum_in).size() != 1) continue;
        if ((*dims)[sum_in] != (*dims)[residual] || (*dims2)[sum_in] != (*dims2)[residual]) continue;
        target.inputs.resize(4, kNoValue);
        target.inputs[3] = residual;
        target.accumulate = true;
        g.ReplaceAllUses(add.outputs[0], sum_in);
        add.removed = true;
        ++changed;
        break;
      }
    }
    // The residual (e.g. a ResNet downsample branch) may be computed after
    // producer in the original order; the producer now reads it, so re-sort.
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
