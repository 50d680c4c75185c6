// Plan specialization: the model's graph made concrete for one set of input
// shapes (and the values of small inputs that set shapes or other plan
// parameters: a Reshape shape, Resize scales, Range bounds...).
// Shape/Size of values whose dims are then known, and every node computable
// from constants (shape arithmetic: Gather/Concat/Slice/Cast/Unsqueeze/Range/
// ConstantOfShape/Add...), are evaluated with constant_eval and become
// constants of that plan, so a plan's steps never compute shapes.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "engine/graph/graph.h"

namespace q8::engine {

// Largest element count of an input whose values key a plan.
inline constexpr int64_t kMaxShapeValueElements = 64;

// The concrete inputs of one plan.
struct PlanShapes {
  std::vector<core::Dims> dims;  // per graph input, no dynamic dim left
  // Per graph input: its values when it is a shape-value input (see
  // ShapeValueInputs), else null.
  std::vector<std::shared_ptr<const core::Tensor>> values;
};

// Per graph input: true for an INT64/INT32/FP32/FP64 input that sets a plan
// parameter (Reshape shape, Slice starts/ends/axes/steps, Squeeze/Unsqueeze/
// Reduce axes, Expand shape, Tile repeats, TopK's K, Pad pads and constant_value, Split
// sizes, Resize/Upsample roi, scales and sizes, ConstantOfShape/Range
// arguments), directly or through arithmetic that constant evaluation
// computes. Plans are keyed by its values (at most kMaxShapeValueElements of
// them), so the op sees a constant; the plan cache's bound (max_cached_plans)
// bounds what ever-new values can cost: plan rebuilds, never memory.
std::vector<bool> ShapeValueInputs(const Graph& graph);

// Per value: true when every plan's specialization turns it into a constant
// (constants, shape-value inputs, Shape/Size outputs and what constant
// evaluation computes from those). Such values are shape arithmetic, never
// activations: calibration does not capture them.
std::vector<bool> PlanConstantValues(const Graph& graph);

// True when plans must be built by specialization: an input axis other than
// the first is dynamic, a Shape/Size node reads a runtime value, or an input
// is a shape-value input.
bool NeedsSpecialization(const Graph& graph);

// A copy of `graph` with concrete input dims, shape-value inputs turned into
// constants and every node computable at plan time folded (marked removed;
// node indices are kept, so QuantSpec and weight ids still apply).
// INVALID_ARGUMENT naming the node whose shape rule fails for these shapes.
absl::StatusOr<Graph> SpecializeGraph(const Graph& graph, int64_t opset, const PlanShapes& shapes);

}  // namespace q8::engine
