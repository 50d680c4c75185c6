// fuse_matmul_bias: MatMul(A, B) with a constant 2-D B [K, N] followed by
// Add(., bias) with a constant bias of N elements (shaped [N], [1, N], ...)
// becomes one MatMul whose third input is the bias, which the matmul kernel
// adds in its epilogue (what Gemm does; torch exports Linear on 3-D inputs
// this way). The bias value is reshaped to [N] here. MatMul's signature
// takes two inputs, so a three-input MatMul only ever comes from this pass.
#include "absl/strings/str_cat.h"
#include "engine/passes/pass.h"
#include "engine/passes/pattern_util.h"

namespace q8::engine {
namespace {

using namespace patterns;  // NOLINT: local matchers

class FuseMatMulBiasPass : public Pass {
 public:
  const char* name() const override { return "fuse_matmul_bias"; }

  absl::StatusOr<int> Run(Graph& g, const PassContext&) const override {
    int changed = 0;
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      const int mm = static_cast<int>(i);
      const Node& mn = g.nodes()[mm];
      if (mn.removed || mn.op_type != "MatMul" || mn.inputs.size() != 2 || !mn.fused.empty()) continue;
      if (!g.IsConstant(mn.inputs[1])) continue;
      const core::Tensor& b = *g.value(mn.inputs[1]).constant;
      if (b.dims().size() != 2 || b.dtype() != core::DataType::kFloat32) continue;
      const int64_t n = b.dims()[1];
      const ValueId y = mn.outputs[0];
      const int add = SoleConsumer(g, y, "Add");
      if (add < 0) continue;
      const ValueId bias = OtherInput(g.nodes()[add], y);
      if (!g.IsConstant(bias)) continue;
      const core::Tensor& t = *g.value(bias).constant;
      // Only a bias varying along the last axis (all other dims 1) is a per-column bias.
      bool row = t.dtype() == core::DataType::kFloat32 && t.num_elements() == n && !t.dims().empty() &&
                 t.dims().back() == n && t.dims().size() <= 2;
      if (!row) continue;
      auto flat = std::make_shared<core::Tensor>(t.Clone());
      flat->Reshape({n});
      const ValueId bias_flat = g.AddConstant(absl::StrCat(g.nodes()[add].name, "/bias"), std::move(flat));
      Node& m = g.nodes()[mm];
      m.inputs.push_back(bias_flat);
      m.fused = g.nodes()[add].fused;
      g.ReplaceAllUses(g.nodes()[add].outputs[0], y);
      g.nodes()[add].removed = true;
      ++changed;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseMatMulBiasPass() { return std::make_unique<FuseMatMulBiasPass>(); }

}  // namespace q8::engine
