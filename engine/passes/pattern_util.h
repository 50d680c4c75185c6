// Small matchers shared by the pattern-fusion passes (fuse_layer_norm,
// fuse_gelu_swish, fuse_matmul_bias): who produces a value, whether a value
// is a given scalar constant, whether an intermediate is private to one node.
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include "engine/graph/graph.h"

namespace q8::engine::patterns {

// Index of the live node producing `v` when its op is `op` ("" = any), else -1.
inline int ProducerOf(const Graph& g, ValueId v, const std::string& op = "") {
  if (v == kNoValue) return -1;
  const int p = g.value(v).producer;
  if (p < 0 || g.nodes()[p].removed) return -1;
  return op.empty() || g.nodes()[p].op_type == op ? p : -1;
}

// The value of a one-element numeric constant.
inline std::optional<float> ScalarConstant(const Graph& g, ValueId v) {
  if (!g.IsConstant(v)) return std::nullopt;
  const core::Tensor& t = *g.value(v).constant;
  if (t.num_elements() != 1) return std::nullopt;
  switch (t.dtype()) {
    case core::DataType::kFloat32:
      return t.span<float>()[0];
    case core::DataType::kFloat64:
      return static_cast<float>(t.span<double>()[0]);
    case core::DataType::kInt64:
      return static_cast<float>(t.span<int64_t>()[0]);
    case core::DataType::kInt32:
      return static_cast<float>(t.span<int32_t>()[0]);
    default:
      return std::nullopt;
  }
}

// Exporters print these constants with 4 to 8 significant digits.
inline bool Near(std::optional<float> v, float want, float rel = 1e-3f) {
  return v.has_value() && std::fabs(*v - want) <= rel * std::fabs(want);
}

// True when `v` is read by node `node` only and is no graph output, so the
// node may absorb its producer.
inline bool PrivateTo(const Graph& g, ValueId v, int node) {
  if (g.IsGraphOutput(v)) return false;
  const std::vector<int> c = g.Consumers(v);
  return c.size() == 1 && c[0] == node;
}

// The input of binary node `n` that is not `v` (kNoValue if neither is `v`).
inline ValueId OtherInput(const Node& n, ValueId v) {
  if (n.inputs.size() != 2) return kNoValue;
  if (n.inputs[0] == v) return n.inputs[1];
  if (n.inputs[1] == v) return n.inputs[0];
  return kNoValue;
}

// The single live consumer of `v` with op `op`, when `v` has exactly one reader.
inline int SoleConsumer(const Graph& g, ValueId v, const std::string& op) {
  if (g.IsGraphOutput(v)) return -1;
  const std::vector<int> c = g.Consumers(v);
  if (c.size() != 1 || g.nodes()[c[0]].op_type != op) return -1;
  return c[0];
}

// Node `n` becomes `op` over `inputs` (keeping its name and output); its old
// producers die in eliminate_dead_nodes once nothing reads them.
inline void Rewrite(Node& n, const std::string& op, std::vector<ValueId> inputs) {
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.attrs = Attributes();
  n.attrs.set_owner(n.Describe());
  n.fused.clear();
  n.outputs.resize(1);
}

}  // namespace q8::engine::patterns
