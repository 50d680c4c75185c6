// Planner: optimized Graph + per-node Lowerings + their precisions + a batch
// size -> the kernels::ProgramSpec for that batch size. It decides each
// value's memory layout (NHWC for conv-like sections, plain elsewhere, reorders only where
// the two meet), turns Reshape/Flatten/Identity into aliases, writes graph
// outputs straight into the caller's buffers when it can, and packs the
// remaining buffers into one arena by liveness.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/ops/op_table.h"
#include "engine/plan/precision.h"
#include "engine/plan/specialize.h"
#include "engine/quant/quant_spec.h"
#include "kernels/program.h"

namespace q8::engine {

// Batch-independent lowering of every node, computed once per model.
struct LoweredGraph {
  const Graph* graph = nullptr;
  int64_t opset = 13;
  std::vector<const OpDef*> defs;        // per node (null for removed nodes)
  std::vector<Lowering> lowerings;       // per node
  const QuantSpec* quant = nullptr;      // null for fp32 models
  std::vector<NodePrecision> precision;  // per node: the precision stage's decisions
  // Plans are built by specializing `graph` to each plan's shapes and
  // lowering that (specialize.h); defs, lowerings and precision stay empty.
  bool specialize = false;
  std::vector<bool> shape_value_inputs;  // per graph input (specialize only)
  // Lowered at one plan's concrete dims: the planner uses it as it is.
  bool concrete = false;
};

// `quant` (optional) switches the listed layers' params to int8 weights; it
// must outlive the LoweredGraph.
absl::StatusOr<LoweredGraph> LowerGraph(const Graph& graph, int64_t opset, const QuantSpec* quant = nullptr);

// The lowering of a model whose plans are built by specialization.
LoweredGraph SpecializingLowering(const Graph& graph, int64_t opset, const QuantSpec* quant = nullptr);

// The plan for concrete inputs.
absl::StatusOr<kernels::ProgramSpec> PlanProgram(const LoweredGraph& lowered, const PlanShapes& shapes);
// The plan for the inputs' RepresentativeDims at `batch`.
absl::StatusOr<kernels::ProgramSpec> PlanProgram(const LoweredGraph& lowered, int64_t batch);

// Output dims of the plan for `shapes` (a model planned per shape), from
// specialization and shape inference only: no kernels are built.
absl::StatusOr<std::vector<core::Dims>> PlanOutputDims(const LoweredGraph& lowered, const PlanShapes& shapes);

// The per-node lowering the quantizer and the exporter read: LowerGraph of
// `graph` itself or, for a model planned per shape (specialize.h), of its
// specialization at the representative input shapes (batch 1), kept alive
// in `*specialized`. Node indices are the graph's either way.
absl::StatusOr<LoweredGraph> LowerForAnalysis(const Graph& graph, int64_t opset, const QuantSpec* quant,
                                              std::unique_ptr<Graph>* specialized);

}  // namespace q8::engine
