// THE list of ONNX ops q8serve supports, and for each: its layout policy,
// its shape function and its lowering to kernel params. Adding an op means
// one row in op_table.cc and one function pair in ops/<kind>_op.cc.
#pragma once

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
};

struct OpDef {
  const char* op_type;
  LayoutPolicy layout;
  absl::StatusOr<std::vector<core::Dims>> (*infer)(const OpContext&);
  absl::StatusOr<Lowering> (*lower)(const OpContext&);
};

// Null when the op is not supported.
const OpDef* FindOp(absl::string_view op_type);
std::vector<std::string> SupportedOps();

}  // namespace q8::engine
