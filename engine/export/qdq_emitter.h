// QdqEmitter: writes an optimized Graph into an onnx::GraphProto as float
// ONNX ops, with QuantizeLinear -> DequantizeLinear pairs wherever the
// engine's plan stores or reads a value as int8 and with int8 layers'
// weights as DequantizeLinear(int8 initializer). Every consumer reads the
// dequantized tensor, so the file computes what the engine computes, up to
// float accumulation order. Internal to engine/export (see qdq_exporter.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "engine/export/onnx_graph_writer.h"
#include "engine/plan/planner.h"
#include "engine/quant/quant_spec.h"

namespace q8::engine {

struct QdqSource {
  const Graph& graph;
  const LoweredGraph& fp32;                     // float params: windows, Softmax axis, Clip bounds
  const QuantSpec* quant;                       // null or empty for a float export
  const std::vector<NodePrecision>& precision;  // per node, from the precision stage
};

class QdqEmitter {
 public:
  QdqEmitter(const QdqSource& src, OnnxGraphWriter& w) : src_(src), w_(w) {}

  // Emits every node; afterwards each graph output's public name is a
  // tensor of the GraphProto. Graph input/output value infos are the
  // caller's.
  absl::Status EmitAll();

 private:
  // One op after a node's main op: a bias/residual Add, alpha Mul or a
  // fused activation, taking the running tensor as input 0.
  // An extra input kActivationInput names the running tensor as it was at
  // the op that opened the current activation (GELU reads x twice).
  struct TailOp {
    std::string op;
    std::vector<std::string> extra_inputs;
    bool opens_activation = false;
  };
  static constexpr char kActivationInput[] = "<activation input>";

  // qdq_emitter.cc: naming, reading values in a precision, Q/DQ placement.
  absl::Status EmitNode(int index);
  std::string OutputName(ValueId v, const std::string& suffix);
  std::string Read(ValueId v, const ValuePrecision& p);
  std::string Constant(ValueId v);
  std::vector<std::string> NodeInputs(int index);

  // qdq_ops.cc: the ops themselves.
  absl::Status EmitFloatOp(int index, const std::vector<std::string>& ins, const std::string& out);
  absl::Status EmitLayer(int index, const LayerQuant& lq, const std::vector<std::string>& ins, const std::string& out);
  std::vector<TailOp> ActivationTail(const Node& n);
  // An op without an opset-17 form (Gelu, Mish, the internal Swish) as the
  // elementwise ops it computes: a main op, then tail ops on the running
  // tensor. nullopt for ops that have one.
  struct Decomposition {
    std::string op;
    std::vector<std::string> args;
    std::vector<TailOp> tail;
  };
  std::optional<Decomposition> Decompose(int index, const std::string& op, const std::string& x);
  // GELU on the running tensor x (erf or tanh form) as tail ops.
  std::vector<TailOp> GeluOps(const Node& n, bool tanh, const std::string& x);
  // Main op writes to a fresh tensor (or `out` when `tail` is empty); then
  // the tail ops in order, the last writing `out`. Returns the main op.
  onnx::NodeProto& EmitWithTail(const Node& n, const std::string& op, std::vector<std::string> ins,
                                const std::vector<TailOp>& tail, const std::string& out);

  const QdqSource& src_;
  OnnxGraphWriter& w_;
  std::vector<std::string> real_;                          // per value: the tensor holding its (dequantized) value
  std::vector<ValuePrecision> stored_;                     // per value: how the engine stores it
  std::multimap<ValueId, std::string> unclaimed_outputs_;  // graph output names not yet produced
  std::map<ValueId, std::string> constants_;
  std::map<std::tuple<ValueId, core::DataType, float, int32_t>, std::string> requantized_;
};

}  // namespace q8::engine
