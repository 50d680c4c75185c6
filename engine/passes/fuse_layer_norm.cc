// fuse_layer_norm: LayerNorm written out op by op (what exporters emit for
// custom or pre-opset-17 layer norms) becomes one LayerNormalization node:
//   mean = ReduceMean(x, axes=[-1]); d = Sub(x, mean)
//   var = ReduceMean(Pow(d, 2) | Mul(d, d), axes=[-1])
//   y = Div(d, Sqrt(Add(var, eps)))  [then Mul(y, gamma)] [then Add(., beta)]
// Both means must reduce the last axis only with keepdims=1, and every
// intermediate must be private to the pattern. gamma/beta must be constants;
// without a gamma the scale is a constant 1 (broadcast by the op).
#include "absl/strings/str_cat.h"
#include "engine/ops/op_impls.h"
#include "engine/passes/pass.h"
#include "engine/passes/pattern_util.h"

namespace q8::engine {
namespace {

using namespace patterns;  // NOLINT: local matchers

// ReduceMean over the last axis only, keepdims=1 (axes as attribute or as a
// constant input).
bool IsLastAxisMean(const Graph& g, const Node& n) {
  if (n.op_type != "ReduceMean" || n.inputs.empty()) return false;
  auto keepdims = n.attrs.GetInt("keepdims", 1);
  if (!keepdims.ok() || *keepdims != 1) return false;
  std::vector<int64_t> axes;
  if (n.inputs.size() > 1 && n.inputs[1] != kNoValue) {
    // The op table's reader of constant integer inputs (opset plays no part in it).
    auto a = ops::ConstantInts(OpContext{g, n, 0, {}}, 1, "axes");
    if (!a.ok()) return false;
    axes = *a;
  } else {
    auto a = n.attrs.GetInts("axes", {});
    if (!a.ok()) return false;
    axes = *a;
  }
  return axes.size() == 1 && axes[0] == -1;
}

class FuseLayerNormPass : public Pass {
 public:
  const char* name() const override { return "fuse_layer_norm"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext&) const override {
    int changed = 0;
    for (size_t di = 0; di < g.nodes().size(); ++di) {
      const int div = static_cast<int>(di);
      const Node& dn = g.nodes()[div];
      if (dn.removed || dn.op_type != "Div" || dn.inputs.size() != 2 || !dn.fused.empty()) continue;
      const ValueId d = dn.inputs[0];
      const int sub = ProducerOf(g, d, "Sub");
      const int sqrt = ProducerOf(g, dn.inputs[1], "Sqrt");
      if (sub < 0 || sqrt < 0 || !PrivateTo(g, dn.inputs[1], div)) continue;
      const Node& sn = g.nodes()[sub];
      if (!sn.fused.empty()) continue;
      const ValueId x = sn.inputs[0];
      const int mean = ProducerOf(g, sn.inputs[1], "ReduceMean");
      if (mean < 0 || g.nodes()[mean].inputs[0] != x || !IsLastAxisMean(g, g.nodes()[mean]) ||
          !PrivateTo(g, sn.inputs[1], sub)) {
        continue;
      }
      const int add_eps = ProducerOf(g, g.nodes()[sqrt].inputs[0], "Add");
      if (add_eps < 0 || !PrivateTo(g, g.nodes()[sqrt].inputs[0], sqrt) || !g.nodes()[add_eps].fused.empty()) continue;
      const Node& an = g.nodes()[add_eps];
      int var = ProducerOf(g, an.inputs[0], "ReduceMean");
      std::optional<float> eps = ScalarConstant(g, an.inputs[1]);
      if (var < 0) {
        var = ProducerOf(g, an.inputs[1], "ReduceMean");
        eps = ScalarConstant(g, an.inputs[0]);
      }
      if (var < 0 || !eps.has_value() || !(*eps >= 0.0f) || !IsLastAxisMean(g, g.nodes()[var]) ||
          !PrivateTo(g, g.nodes()[var].outputs[0], add_eps)) {
        continue;
      }
      const ValueId sq_v = g.nodes()[var].inputs[0];
      const int sq = ProducerOf(g, sq_v);
      if (sq < 0 || !PrivateTo(g, sq_v, var) || !g.nodes()[sq].fused.empty()) continue;
      const Node& qn = g.nodes()[sq];
      const bool squares = (qn.op_type == "Pow" && qn.inputs.size() == 2 && qn.inputs[0] == d &&
                            Near(ScalarConstant(g, qn.inputs[1]), 2.0f, 1e-6f)) ||
                           (qn.op_type == "Mul" && qn.inputs.size() == 2 && qn.inputs[0] == d && qn.inputs[1] == d);
      if (!squares) continue;
      // d feeds exactly the square and the Div.
      const std::vector<int> d_readers = g.Consumers(d);
      if (g.IsGraphOutput(d) || d_readers.size() != 2) continue;

      // Optional affine tail.
      int last = div;
      ValueId scale = kNoValue, bias = kNoValue;
      const int mul = SoleConsumer(g, dn.outputs[0], "Mul");
      if (mul >= 0 && g.nodes()[mul].fused.empty()) {
        const ValueId other = OtherInput(g.nodes()[mul], dn.outputs[0]);
        if (g.IsConstant(other)) {
          scale = other;
          last = mul;
        }
      }
      const int add = SoleConsumer(g, g.nodes()[last].outputs[0], "Add");
      if (add >= 0 && g.nodes()[add].fused.empty()) {
        const ValueId other = OtherInput(g.nodes()[add], g.nodes()[last].outputs[0]);
        if (g.IsConstant(other)) {
          bias = other;
          last = add;
        }
      }
      if (scale == kNoValue) {
        auto one = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{1});
        one->span<float>()[0] = 1.0f;
        scale = g.AddConstant(absl::StrCat(g.nodes()[last].name, "/unit_scale"), std::move(one));
      }
      std::vector<ValueId> inputs{x, scale};
      if (bias != kNoValue) inputs.push_back(bias);
      Node& out = g.nodes()[last];
      Rewrite(out, "LayerNormalization", std::move(inputs));
      out.attrs.Set("axis", int64_t{-1});
      out.attrs.Set("epsilon", *eps);
      ++changed;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseLayerNormPass() { return std::make_unique<FuseLayerNormPass>(); }

}  // namespace q8::engine
