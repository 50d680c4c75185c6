// fold_batchnorm: Conv -> BatchNormalization (inference) becomes one Conv with
// W' = W * s[oc] and b' = (b - mean) * s + beta, where s = gamma / sqrt(var + eps).
// Preconditions: constant conv weights and BN params, the conv output read by
// the BN only and not a graph output.
#include <cmath>

#include "engine/passes/pass.h"

namespace q8::engine {
namespace {

class FoldBatchNormPass : public Pass {
 public:
  const char* name() const override { return "fold_batchnorm"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext&) const override {
    int changed = 0;
    for (size_t bi = 0; bi < g.nodes().size(); ++bi) {
      Node& bn = g.nodes()[bi];
      if (bn.removed || bn.op_type != "BatchNormalization" || bn.inputs.size() < 5) continue;
      const ValueId x = bn.inputs[0];
      const int producer = g.value(x).producer;
      if (producer < 0) continue;
      Node& conv = g.nodes()[producer];
      if (conv.removed || conv.op_type != "Conv" || !conv.fused.empty()) continue;
      if (g.IsGraphOutput(x) || g.Consumers(x).size() != 1) continue;
      if (!g.IsConstant(conv.inputs[1])) continue;
      if (conv.inputs.size() > 2 && conv.inputs[2] != kNoValue && !g.IsConstant(conv.inputs[2])) continue;
      bool params_const = true;
      for (int i = 1; i <= 4; ++i) params_const &= g.IsConstant(bn.inputs[i]);
      if (!params_const) continue;
      bool extra_outputs = false;
      for (size_t i = 1; i < bn.outputs.size(); ++i) {
        extra_outputs |= bn.outputs[i] != kNoValue && !g.Consumers(bn.outputs[i]).empty();
      }
      auto training = bn.attrs.GetInt("training_mode", 0);
      auto eps_or = bn.attrs.GetFloat("epsilon", 1e-5f);
      if (extra_outputs || !training.ok() || *training != 0 || !eps_or.ok()) continue;

      const core::Tensor& w = *g.value(conv.inputs[1]).constant;
      const int64_t oc = w.dims().empty() ? 0 : w.dims()[0];
      auto param = [&](int i) { return g.value(bn.inputs[i]).constant->span<float>(); };
      if (w.dtype() != core::DataType::kFloat32 || oc == 0) continue;
      bool sizes_ok = true;
      for (int i = 1; i <= 4; ++i) sizes_ok &= static_cast<int64_t>(param(i).size()) == oc;
      if (!sizes_ok) continue;
      auto gamma = param(1), beta = param(2), mean = param(3), var = param(4);

      auto new_w = std::make_shared<core::Tensor>(w.Clone());
      auto new_b = std::make_shared<core::Tensor>(core::DataType::kFloat32, core::Dims{oc});
      const bool has_bias = conv.inputs.size() > 2 && conv.inputs[2] != kNoValue;
      const int64_t per_oc = w.num_elements() / oc;
      auto wd = new_w->span<float>();
      auto bd = new_b->span<float>();
      for (int64_t o = 0; o < oc; ++o) {
        const float s = gamma[o] / std::sqrt(var[o] + *eps_or);
        for (int64_t k = 0; k < per_oc; ++k) wd[o * per_oc + k] *= s;
        const float b = has_bias ? g.value(conv.inputs[2]).constant->span<float>()[o] : 0.0f;
        bd[o] = (b - mean[o]) * s + beta[o];
      }
      const ValueId w_id = g.AddConstant(conv.name + ".folded_weight", std::move(new_w));
      const ValueId b_id = g.AddConstant(conv.name + ".folded_bias", std::move(new_b));
      Node& conv_again = g.nodes()[producer];  // AddConstant does not touch nodes, but be explicit
      conv_again.inputs.resize(3);
      conv_again.inputs[1] = w_id;
      conv_again.inputs[2] = b_id;
      g.ReplaceAllUses(g.nodes()[bi].outputs[0], x);
      g.nodes()[bi].removed = true;
      ++changed;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFoldBatchNormPass() { return std::make_unique<FoldBatchNormPass>(); }

}  // namespace q8::engine
