// Pipeline order, and why:
//  1. fold_constants first: Constant nodes and shape arithmetic become
//     initializers, which the later passes need to see as constants.
//  2. split_variadic: Max/Min/Sum/Mean of n inputs become two-input chains
//     (the single-input form becomes an Identity for the next pass).
//  3. eliminate_identity: Identity/Dropout would otherwise hide Conv->BN and
//     Conv->Relu adjacency.
//  4. fold_batchnorm before the fusions: the pattern is Conv->BN->Relu, and
//     Relu can only fuse once BN is gone.
//  5. fuse_layer_norm, fuse_gelu_swish, fuse_matmul_bias before
//     fuse_activation: their patterns contain Add -> Clip and MatMul -> Add
//     pairs that fuse_activation / the bias fusion would otherwise split.
//  6. fuse_residual_add before fuse_activation: in Conv->Add->Relu the sum must
//     come first, and a Conv that already fused an activation cannot take it.
//  7. eliminate_dead_nodes last: folding leaves unused producers behind.
#include "engine/passes/pipeline.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace q8::engine {
namespace {

std::vector<std::unique_ptr<Pass>> AllPasses() {
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(MakeFoldConstantsPass());
  passes.push_back(MakeSplitVariadicPass());
  passes.push_back(MakeEliminateIdentityPass());
  passes.push_back(MakeFoldBatchNormPass());
  passes.push_back(MakeFuseLayerNormPass());
  passes.push_back(MakeFuseGeluSwishPass());
  passes.push_back(MakeFuseMatMulBiasPass());
  passes.push_back(MakeFuseResidualAddPass());
  passes.push_back(MakeFuseActivationPass());
  passes.push_back(MakeEliminateDeadNodesPass());
  return passes;
}

constexpr int kMaxRounds = 8;

}  // namespace

std::vector<std::string> PassNames() {
  std::vector<std::string> names;
  for (const auto& p : AllPasses()) names.push_back(p->name());
  return names;
}

absl::StatusOr<std::vector<std::string>> RunPassPipeline(Graph& graph, const PassContext& ctx,
                                                         const std::vector<std::string>& disabled) {
  std::map<std::string, int> counts;
  std::vector<std::string> order;
  auto passes = AllPasses();
  for (int round = 0; round < kMaxRounds; ++round) {
    int changed = 0;
    for (const auto& pass : passes) {
      if (std::find(disabled.begin(), disabled.end(), pass->name()) != disabled.end()) continue;
      Q8_ASSIGN_OR_RETURN(int n, pass->Run(graph, ctx));
      if (n > 0) {
        if (!counts.count(pass->name())) order.push_back(pass->name());
        counts[pass->name()] += n;
        changed += n;
        graph.Compact();
      }
    }
    if (changed == 0) break;
  }
  std::vector<std::string> applied;
  for (const std::string& name : order) applied.push_back(absl::StrCat(name, " x", counts[name]));
  return applied;
}

}  // namespace q8::engine
