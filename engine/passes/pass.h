// A graph pass: a named, local rewrite. Run returns how many rewrites it made
// (0 = nothing changed). Passes stay conservative: a pattern they cannot prove
// safe is left unchanged, never turned into an error.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"

namespace q8::engine {

struct PassContext {
  int64_t opset = 13;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual const char* name() const = 0;
  virtual absl::StatusOr<int> Run(Graph& graph, const PassContext& ctx) const = 0;
};

std::unique_ptr<Pass> MakeEliminateIdentityPass();
std::unique_ptr<Pass> MakeFoldConstantsPass();
std::unique_ptr<Pass> MakeFoldBatchNormPass();
std::unique_ptr<Pass> MakeFuseResidualAddPass();
std::unique_ptr<Pass> MakeFuseActivationPass();
std::unique_ptr<Pass> MakeEliminateDeadNodesPass();
std::unique_ptr<Pass> MakeSplitVariadicPass();
std::unique_ptr<Pass> MakeFuseLayerNormPass();
std::unique_ptr<Pass> MakeFuseGeluSwishPass();
std::unique_ptr<Pass> MakeFuseMatMulBiasPass();

}  // namespace q8::engine
