// THE list of ONNX ops q8serve supports, and for each: its layout policy,
// its signature (arity and element types, checked before any op code runs),
// its shape function and its lowering to kernel params. Adding an op means
// one row in op_table.cc and one function pair in ops/<kind>_op.cc.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/graph/graph.h"
#include "kernels/kernel_params.h"

namespace q8::engine {

// How an op wants its 4-D activations laid out in memory.
enum class LayoutPolicy {
  kChannelsLast,  // conv-like: 4-D inputs/outputs NHWC
  kFollowInput,   // element-wise/concat/softmax: whatever input 0 uses
  kPlain,         // reshape-like and GEMM: logical row-major order
};

// Everything an op function may look at for one node, with concrete dims.
struct OpContext {
  const Graph& graph;
  const Node& node;
  int64_t opset;
  std::vector<core::Dims> input_dims;  // empty Dims for omitted inputs

  int num_inputs() const { return static_cast<int>(node.inputs.size()); }
  bool has_input(int i) const { return i < num_inputs() && node.inputs[i] != kNoValue; }
  // The constant tensor behind input i, or null when it is a runtime value.
  const core::Tensor* constant(int i) const;
  std::shared_ptr<const core::Tensor> shared_constant(int i) const;
  // INVALID_ARGUMENT naming the node: "node 'x' (Conv): <what>".
  absl::Status Error(absl::string_view what) const;
  absl::Status Unsupported(absl::string_view what) const;
};

// A node lowered to kernel terms. Computed once per model (batch-independent).
struct Lowering {
  enum class Kind {
    kKernel,  // one kernel step
    kAlias,   // output 0 is input 0's bytes under new dims (Reshape, Flatten, Identity)
  };
  Kind kind = Kind::kKernel;
  kernels::KernelParams params;
  // Node input indices feeding the kernel, in kernel order (constants that
  // went into params are not listed).
  std::vector<int> runtime_inputs;
  // Nodes with several outputs (Split): one more step per further output,
  // reading the same runtime inputs; more_outputs[k] computes output k + 1.
  std::vector<kernels::KernelParams> more_outputs;
  // One step computes every present output of the node, in node order, all
  // plain f32 (LSTM's Y, Y_h, Y_c).
  bool one_step = false;

  // A Conv or MatMul that adds a fused residual (its runtime input 1) into
  // its output's bytes (fuse_residual_add).
  bool accumulates() const {
    if (const auto* c = std::get_if<kernels::ConvParams>(&params)) return c->accumulate;
    if (const auto* m = std::get_if<kernels::MatMulParams>(&params)) return m->accumulate;
    return false;
  }
};

// Element types as a bit set (bit = DataType value), for signature rows.
using TypeMask = uint32_t;
constexpr TypeMask TypeBit(core::DataType t) { return TypeMask{1} << static_cast<int>(t); }
inline constexpr TypeMask kF32 = TypeBit(core::DataType::kFloat32);
inline constexpr TypeMask kI64 = TypeBit(core::DataType::kInt64);
inline constexpr TypeMask kBool = TypeBit(core::DataType::kBool);
// What constant evaluation computes with (shape arithmetic in exported graphs).
inline constexpr TypeMask kNumeric = kF32 | kI64 | TypeBit(core::DataType::kFloat64) | TypeBit(core::DataType::kInt32);

// What a node of an op may look like, checked at import before any op code
// reads node.inputs[i]: input/output counts (slots below min_inputs must be
// present; slots from min_inputs on are optional and may be omitted with "")
// and the element types each input slot accepts. Slot i uses
// input_types[min(i, 2)], so the last entry covers variadic inputs.
struct OpSignature {
  int min_inputs = 1, max_inputs = 1;  // max_inputs -1: unbounded (Concat)
  int min_outputs = 1, max_outputs = 1;
  std::array<TypeMask, 3> input_types = {kF32, kF32, kF32};
  // Integer / BOOL element types a slot that does not read FP32 data (an
  // index, a condition, a class target) still accepts from a runtime value,
  // same indexing. Such values travel as FP32 (exact integers up to 2^24,
  // see edge_types.h) and the op's kernel validates them per request. A slot
  // listing nothing here reads those types only from constants.
  std::array<TypeMask, 3> runtime_types = {0, 0, 0};
};

struct OpDef {
  const char* op_type;
  LayoutPolicy layout;
  OpSignature signature;
  absl::StatusOr<std::vector<core::Dims>> (*infer)(const OpContext&);
  absl::StatusOr<Lowering> (*lower)(const OpContext&);
};

// Null when the op is not supported.
const OpDef* FindOp(absl::string_view op_type);
std::vector<std::string> SupportedOps();
// Ops only constant evaluation computes: their nodes must fold away at load.
std::vector<std::string> ConstantOnlyOps();
// "FP32/INT64", in DataType order.
std::string TypeMaskNames(TypeMask mask);

// Signature of a table op or of an op that only constant evaluation handles
// (Constant, Shape, Cast, ...); null when neither knows it.
const OpSignature* FindSignature(absl::string_view op_type);

// INVALID_ARGUMENT naming node, op and what was wrong when `node` does not
// match its op's signature (arity, a missing required input, an input of an
// element type the op does not read). OK for ops without a signature: those
// are reported as unsupported later, if they survive the graph passes.
// Types are checked for constants and graph inputs (what is known at import).
absl::Status CheckSignature(const Graph& graph, const Node& node, int64_t opset);
// The element-type half of the signature, again once the passes have folded
// constants (a Constant node's UINT8 output feeding a Gemm bias, say).
absl::Status CheckInputTypes(const Graph& graph, const Node& node);

}  // namespace q8::engine
