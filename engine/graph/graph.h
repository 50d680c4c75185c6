// Graph: the engine's mutable model representation between import and
// planning. Values are numbered densely (ValueId); nodes refer to values by
// id, never by name, so passes rewire integers. Names survive only for
// messages and for the model's public input/output names.
//
// Not thread-safe: a Graph is owned by one compilation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/tensor.h"
#include "engine/graph/attributes.h"

namespace q8::engine {

using ValueId = int;
inline constexpr ValueId kNoValue = -1;  // an omitted optional input

struct Value {
  std::string name;
  core::DataType dtype = core::DataType::kFloat32;
  // Set for initializers and folded constants; null for runtime values.
  std::shared_ptr<const core::Tensor> constant;
  int producer = -1;  // node index, -1 for graph inputs and constants
};

// A Relu, Sigmoid, Clip or (on MatMul/Gemm) GELU folded into the node that
// produced its input; lowering makes it a kernel post-op. The graph states
// what is computed, not how: kernel types stay below the engine's lowering.
struct FusedActivation {
  enum class Kind { kRelu, kSigmoid, kClip, kGeluErf, kGeluTanh };
  Kind kind = Kind::kRelu;
  float lo = 0, hi = 0;  // Clip bounds
};

struct Node {
  std::string name;
  std::string op_type;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Attributes attrs;
  // Activations fused into this node by the fuse_activation pass.
  std::vector<FusedActivation> fused;
  // Set by fuse_residual_add on a Conv: inputs[3] is added to the output
  // (before `fused` activations), replacing a following Add node.
  bool accumulate = false;
  bool removed = false;  // passes mark nodes removed; Compact() drops them

  // "node 'conv1' (Conv)", the form used in every message.
  std::string Describe() const;
};

// The size a dynamic axis other than the batch axis takes when no request
// says otherwise (load-time checks, metadata, warm-up), unless the model only
// accepts smaller ones (GraphInput::representative_size).
inline constexpr int64_t kRepresentativeSize = 32;

struct GraphInput {
  ValueId value;
  core::Dims dims;  // kDynamicDim for the batch dimension
  // kRepresentativeSize, or the largest smaller size the model accepts
  // (a text model's position table caps its sequence axis): set when the
  // graph is prepared, used wherever a dynamic non-batch axis needs a size.
  int64_t representative_size = kRepresentativeSize;
  // What callers send (the model's declared type). The value's own dtype is
  // what the kernels read; where they differ, the model converts once at the
  // edge (engine/ops/edge_types.h decides).
  core::DataType dtype = core::DataType::kFloat32;
};

struct GraphOutput {
  std::string name;  // public name; survives rewiring of `value`
  ValueId value;
  // What callers receive (the model's declared type); converted at the edge
  // from what the program computes. kUndefined: the model declares none.
  core::DataType dtype = core::DataType::kUndefined;
};

class Graph {
 public:
  ValueId AddValue(Value v);
  ValueId AddConstant(std::string name, std::shared_ptr<const core::Tensor> t);
  int AddNode(Node n);  // sets producer of its outputs

  Value& value(ValueId id) { return values_[id]; }
  const Value& value(ValueId id) const { return values_[id]; }
  int num_values() const { return static_cast<int>(values_.size()); }
  std::vector<Node>& nodes() { return nodes_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<GraphInput>& inputs() { return inputs_; }
  const std::vector<GraphInput>& inputs() const { return inputs_; }
  std::vector<GraphOutput>& outputs() { return outputs_; }
  const std::vector<GraphOutput>& outputs() const { return outputs_; }

  bool IsConstant(ValueId id) const { return id != kNoValue && values_[id].constant != nullptr; }
  bool IsGraphOutput(ValueId id) const;
  // Live nodes reading `id` (each node once).
  std::vector<int> Consumers(ValueId id) const;
  // Every use of `from` (node inputs and graph outputs) now reads `to`.
  void ReplaceAllUses(ValueId from, ValueId to);
  // Drops removed nodes and renumbers producers; values are kept.
  void Compact();
  int num_live_nodes() const;

  // Nodes in topological order, every input defined before use, no value
  // produced twice. INVALID_ARGUMENT naming the first offending node.
  absl::Status Validate() const;
  // Reorders nodes topologically (ONNX requires it, but be lenient).
  absl::Status SortTopologically();

  // A copy whose float constants of at least `min_bytes` keep their dims but
  // drop their bytes (core::Tensor::Placeholder). For models whose kernels
  // already hold those weights: shapes stay inferable, memory is not paid twice.
  Graph WithoutLargeConstants(int64_t min_bytes) const;
  // Bytes held by constants with storage (each tensor once).
  int64_t ConstantBytes() const;

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<GraphInput> inputs_;
  std::vector<GraphOutput> outputs_;
};

}  // namespace q8::engine
