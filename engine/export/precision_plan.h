// PrecisionPlan: for every node of a lowered graph, the precision in which
// the executed plan reads each runtime input and stores output 0 (f32, or
// u8/s8 with a scale). The QDQ exporter places QuantizeLinear/
// DequantizeLinear exactly where these differ from f32, so the exported
// model rounds where the engine rounds.
//
// Why not re-derive the planner's precision rules here: they depend on
// consumer analysis, transparent ops, scale propagation through Concat and
// the in-place residual accumulation, and a second copy would drift. This
// reads the decisions from the planner's own output (PlanProgram at batch 1;
// precision does not depend on the batch size), which needs no kernels.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "engine/plan/planner.h"

namespace q8::engine {

// f32 (scale unused), or int8 with real = scale * q.
struct ValuePrecision {
  core::DataType dtype = core::DataType::kFloat32;
  float scale = 1.0f;

  bool is_int8() const { return dtype == core::DataType::kUInt8 || dtype == core::DataType::kInt8; }
  bool operator==(const ValuePrecision& o) const { return dtype == o.dtype && (!is_int8() || scale == o.scale); }
};

struct NodePrecision {
  std::vector<ValuePrecision> inputs;  // per Lowering::runtime_inputs entry, in that order
  ValuePrecision output;               // how output 0 is stored
};

// One entry per node of `lowered.graph`. INTERNAL if the plan's steps do not
// line up with the graph's nodes (a planner change this file must follow).
absl::StatusOr<std::vector<NodePrecision>> PlanPrecision(const LoweredGraph& lowered);

}  // namespace q8::engine
