// Plain C++ ops that read integer or boolean values at run time: index ops
// (Gather, GatherElements, ScatterElements, GatherND, ScatterND with runtime
// indices), ArgMax/Min,
// CumSum, Trilu, Hardmax, Mod, runtime Clip bounds, runtime Cast, the two
// losses, LayerNormalization's statistics and the Dropout gate. oneDNN has no
// primitive for any of them. They are members of DataOp (data_ops.h), so one
// DataOpKernel step runs them and constant operands bind like any data op's.
//
// Integers and booleans inside a plan travel as FP32 values (the design is
// described in engine/ops/edge_types.h): an index, a target class or a
// condition arrives here as a float holding an exact integer (or 0/1), and
// integer results (ArgMax) are written as such floats. Constant operands may
// keep their own integer type. Every index read at run time is checked per
// request: a value that is not an integer, or lies outside [-n, n), makes Run
// return INVALID_ARGUMENT naming the op, the flat position and the value --
// never an out-of-bounds read.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"

namespace q8::kernels {

// out = data gathered along `axis` by an index tensor (ONNX Gather).
// Inputs: data, indices; out dims = data[:axis] + indices + data[axis+1:].
struct GatherOp {
  int axis = 0;
};

// out[i] = data[i with axis coordinate replaced by indices[i]] (ONNX
// GatherElements). Inputs: data, indices (same rank); out dims = indices.
struct GatherElementsOp {
  int axis = 0;
};

// How a scatter combines an update with the element it lands on (ONNX's
// `reduction` attribute of ScatterElements and ScatterND).
enum class ScatterReduction { kNone, kAdd, kMul, kMax, kMin };

// out = data with updates written (or combined) at indices along `axis`
// (ONNX ScatterElements). Inputs: data, indices, updates. FP32.
struct ScatterElementsOp {
  using Reduction = ScatterReduction;
  int axis = 0;
  Reduction reduction = Reduction::kNone;
};

// out = slices of data addressed by the last axis of indices (ONNX
// GatherND): indices [b.., m.., k] picks data[b.., i_1..i_k, ...] for the
// first `batch_dims` axes shared by both. Inputs: data, indices; out dims =
// indices[:-1] + data[batch_dims + k:]. Any data element type (bytes copied).
struct GatherNDOp {
  int batch_dims = 0;
};

// out = data with the slices updates[m..] written (or combined) at
// data[indices[m.., :]] (ONNX ScatterND). Inputs: data, indices [m.., k],
// updates = indices[:-1] + data[k:]. Updates apply in order (a duplicate
// index under kNone keeps the last). kNone copies any element type (both
// data and updates of it); the other reductions read FP32.
struct ScatterNDOp {
  ScatterReduction reduction = ScatterReduction::kNone;
};

// Index of the max (min) along `axis`, as an FP32 integer.
struct ArgReduceOp {
  int axis = 0;
  bool keepdims = true;
  bool select_last_index = false;
  bool max = true;
};

// Running sum (ONNX CumSum). Inputs: x, axis (a scalar, constant or read
// per request and checked against x's rank).
struct CumSumOp {
  bool exclusive = false;
  bool reverse = false;
};

// LayerNormalization whose Scale (and B) are runtime inputs (the oneDNN
// kernel takes them as constants). Inputs: x, scale, optional bias, both
// broadcast to the normalized dims x[axis:].
struct LayerNormOp {
  int axis = 0;
  float epsilon = 1e-5f;
  bool has_bias = false;
};

// Keeps the upper (lower) triangle of the last two axes, shifted by an
// optional second input k (a scalar, read per request).
struct TriluOp {
  bool upper = true;
};

// 1 at the first maximum along `axis`, 0 elsewhere.
struct HardmaxOp {
  int axis = 0;
};

// Broadcasting remainder; fmod: sign of the dividend (C fmod), else the
// sign of the divisor (integer Mod).
struct ModOp {
  bool fmod = false;
};

// Clip with bounds as inputs: x, then min if has_min, then max if has_max
// (scalars, read per request).
struct ClipOp {
  bool has_min = false;
  bool has_max = false;
};

// Cast of an FP32 value to `to` and back, so the value is what `to` holds
// (truncation toward zero and saturation for integers, != 0 for BOOL, FP16
// and BF16 rounding); used for Cast/CastLike at run time.
struct RoundTripCastOp {
  core::DataType to = core::DataType::kFloat32;
};

// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. Inputs: scores
// [N, C, d1..], target [N, d1..], optional weight [C]. SCE applies
// log-softmax over axis 1 first. log_prob_output: write the log-softmax
// (SCE's second output) instead of the loss.
struct LossOp {
  enum class Reduction { kNone, kSum, kMean };
  bool softmax = false;
  Reduction reduction = Reduction::kMean;
  bool has_ignore_index = false;
  int64_t ignore_index = 0;
  bool has_weight = false;
  bool log_prob_output = false;
};

// LayerNormalization's optional outputs over the axes from `axis` on:
// Mean, or InvStdDev = 1 / sqrt(var + epsilon). Extra inputs are ignored.
struct LayerNormStatsOp {
  int axis = 0;
  float epsilon = 1e-5f;
  bool inv_std_dev = false;
};

// Gemm forms the oneDNN matmul step does not take: transA, a transposed
// runtime B, a runtime C or a C of any broadcastable shape. Inputs: A, B,
// optional C (FP32). Y = alpha * op(A) op(B) + beta * C.
struct GemmOp {
  float alpha = 1.0f, beta = 1.0f;
  bool trans_a = false, trans_b = false, has_c = false;
};

// Dropout at inference: copies x (or, for the mask output, writes 1 =
// true everywhere). Inputs: x, then training_mode and ratio when present. A
// true training_mode is refused per request (q8serve does not sample dropout
// masks) unless ratio is 0, where training drops nothing either.
struct DropoutGateOp {
  bool training_mode = true;  // input 1 is training_mode
  bool ratio = false;         // the last input is ratio
  bool mask = false;          // write the mask, not the data
};

// log(sum(exp(x))) over `axes` (sorted, unique), max-shifted.
struct ReduceLogSumExpOp {
  std::vector<int64_t> axes;
  bool keepdims = true;
};

// MaxPool's Indices output: per output position the flat index (into the
// whole input tensor, N and C included) of the window's first maximum, as
// ONNX defines it: row-major over the spatial axes (storage_order 0) or
// column-major over a 2-D window's H and W (storage_order 1). Input: plain
// f32 x [N, C, spatial...]; indices travel as exact FP32, so x holds at most
// 2^24 elements. Padding never wins.
struct MaxPoolIndicesOp {
  std::vector<int64_t> kernel, strides, dilations, pads_begin;
  bool column_major = false;  // storage_order 1 (2-D only)
};

// One output of ONNX TopK: the k largest (smallest) values along `axis`,
// sorted, ties in index order, or (indices) their positions as FP32
// integers. k is fixed when the plan is built (a constant, or an input whose
// values key the plan).
struct TopKOp {
  int axis = 0;
  int64_t k = 0;
  bool largest = true;
  bool indices = false;
};

// ONNX EyeLike: ones where column - row == k in the 2-D input's dims, zeros
// elsewhere (the input's values are not read).
struct EyeLikeOp {
  int64_t k = 0;
};

// ONNX Einsum in its general form (the engine lowers matmul-like equations
// to MatMul instead): every letter (and every axis an ellipsis stands for) is
// a label 0..extents.size()-1; inputs[k][a] is the label of input k's axis a
// and `output` the labels of the output's axes. out[o] = sum over the labels
// not in the output of the product of the inputs at those coordinates (a
// label repeated within an input reads its diagonal; an input axis of extent
// 1 broadcasts).
struct EinsumOp {
  std::vector<std::vector<int>> inputs;
  std::vector<int> output;
  std::vector<int64_t> extents;
};

using ValueOp =
    std::variant<GatherOp, GatherElementsOp, ScatterElementsOp, GatherNDOp, ScatterNDOp, ArgReduceOp, CumSumOp, TriluOp,
                 HardmaxOp, ModOp, ClipOp, RoundTripCastOp, LossOp, LayerNormStatsOp, LayerNormOp, DropoutGateOp,
                 ReduceLogSumExpOp, GemmOp, MaxPoolIndicesOp, TopKOp, EyeLikeOp, EinsumOp>;

// Result element type for these input types (FP32 for all but the gathers
// and ScatterND, which keep the data's type); INVALID_ARGUMENT for a wrong arity.
absl::StatusOr<core::DataType> ValueOpOutputType(const ValueOp& op, absl::Span<const core::DataType> inputs);

// Checks dims and types (not values): after this, Run only fails for
// values a request sends (an index out of range, training_mode true).
absl::Status ValidateValueOp(const ValueOp& op, absl::Span<const core::TensorView> inputs,
                             const core::MutableTensorView& output);

// Computes `output` from validated views; INVALID_ARGUMENT for a bad value
// (checked before anything is written). Allocates nothing.
absl::Status RunValueOp(const ValueOp& op, absl::Span<const core::TensorView> inputs,
                        const core::MutableTensorView& output);

}  // namespace q8::kernels
