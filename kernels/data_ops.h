// Plain C++ data-movement and index ops (oneDNN has none of these): one
// implementation serves both constant evaluation at model load
// (engine/passes/constant_eval.cc) and runtime steps of a Program
// (kernels/data_op_kernel.cc). No dnnl types here.
//
// The engine resolves ONNX attributes and index inputs (negative indices,
// clamping, axes) into these plain ops; the run functions still check every
// index against the dims they are given, so a wrong op can only yield
// INVALID_ARGUMENT, never an out-of-bounds access.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "kernels/value_ops.h"

namespace q8::kernels {

// out[o_0, .., o_k] = in[.., index[d][o_d] along axis src_axis[d], ..] over
// views of both tensors (`in_dims`, `out_dims`: same bytes as the actual
// values, equal element counts). src_axis is a permutation of the input
// view's axes; index[d] has out_dims[d] entries, each a source index in
// [0, in_dims[src_axis[d]]) or -1 for "write `fill`". Gather (on one axis),
// Slice, Pad, Tile, Expand, Transpose and DepthToSpace/SpaceToDepth are all
// this one op with different index maps.
struct AxisMapOp {
  core::Dims in_dims;
  core::Dims out_dims;
  std::vector<int> src_axis;
  std::vector<std::vector<int64_t>> index;
  double fill = 0.0;
};

// Inputs joined along `axis` (all inputs share dtype and the other dims).
struct ConcatOp {
  int axis = 0;
};

// out = cond ? x : y with numpy broadcasting; cond is BOOL, or FP32 (!= 0)
// at run time, where booleans travel as FP32 (value_ops.h).
struct WhereOp {};

// Element type conversion, ONNX Cast semantics for numeric types (float to
// integer truncates toward zero; out-of-range values are saturated rather
// than undefined; NaN becomes 0 for integers; to BOOL: x != 0).
struct CastOp {
  core::DataType to = core::DataType::kFloat32;
};

// Element-wise logic with numpy broadcasting (Not is unary): BOOL in, BOOL
// out; or FP32 in (!= 0 is true), FP32 0/1 out at run time.
struct LogicalOp {
  enum class Kind { kNot, kAnd, kOr, kXor };
  Kind kind = Kind::kNot;
};

using DataOp = std::variant<AxisMapOp, ConcatOp, WhereOp, CastOp, LogicalOp, ValueOp>;

// Element type of the result for these input types; INVALID_ARGUMENT when
// the op does not accept them (input count, BOOL where required, ...).
absl::StatusOr<core::DataType> DataOpOutputType(const DataOp& op, absl::Span<const core::DataType> inputs);

// Checks `op` against the input and output dims (indices in range,
// element counts, broadcasting), so Run can index without further checks.
absl::Status ValidateDataOp(const DataOp& op, absl::Span<const core::TensorView> inputs,
                            const core::MutableTensorView& output);

// Computes `output` (preallocated, dense row-major). Validates first unless
// `validated` (runtime steps validate once at creation). Allocates nothing.
// A validated op fails only for values a request sends (ValueOp indices).
absl::Status RunDataOp(const DataOp& op, absl::Span<const core::TensorView> inputs,
                       const core::MutableTensorView& output, bool validated = false);

// Broadcast result of several shapes (numpy rules); false when incompatible.
bool BroadcastAll(absl::Span<const core::Dims> shapes, core::Dims* out);

}  // namespace q8::kernels
