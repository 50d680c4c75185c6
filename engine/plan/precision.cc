// The precision stage (see precision.h).
#include "engine/plan/precision.h"

#include <variant>

#include "kernels/program.h"

namespace q8::engine {
namespace {

const ValueQuant* QuantOf(const QuantSpec* quant, ValueId v) {
  if (quant == nullptr) return nullptr;
  auto it = quant->values.find(v);
  return it == quant->values.end() ? nullptr : &it->second;
}

// Weights only a request supplies: no scales to quantize them with (precision.h).
bool HasRuntimeWeights(const Lowering& l) {
  const auto* conv = std::get_if<kernels::ConvParams>(&l.params);
  return conv != nullptr && (conv->runtime_weights || conv->runtime_bias);
}

bool IsStaticInt8Layer(const QuantSpec* quant, int node) {
  if (quant == nullptr) return false;
  auto it = quant->layers.find(node);
  return it != quant->layers.end() && !it->second.dynamic;
}

// A bf16 layer: listed, a Conv or MatMul whose weights are constants, and a
// CPU that computes bf16 natively (precision.h).
bool IsBf16Layer(const QuantSpec* quant, const Lowering& l, int node, bool cpu_bf16) {
  if (quant == nullptr || !cpu_bf16 || !quant->bf16_layers.count(node) || HasRuntimeWeights(l)) return false;
  if (std::holds_alternative<kernels::ConvParams>(l.params)) return true;
  const auto* mm = std::get_if<kernels::MatMulParams>(&l.params);
  return mm != nullptr && mm->weights != nullptr && !mm->dynamic;
}

ValuePrecision Of(const ValueQuant& q) { return {q.dtype, q.scale, q.zero_point}; }

bool IsMatMul(const Lowering& l) { return std::holds_alternative<kernels::MatMulParams>(l.params); }

// Whether int8 layer `l` can read or write asymmetric `q` (precision.h).
bool TakesZeroPoint(const Lowering& l, const ValueQuant* q) { return q == nullptr || !q->asymmetric() || IsMatMul(l); }

// A MatMul with a fused residual (node input 3) adds it in f32 and stores
// f32, as the separate Add did: a transformer's residual stream stays f32
// (quantizing it would cost accuracy and a dequantize before each LayerNorm).
constexpr size_t kResidualInput = 3;
bool ResidualStaysF32(const Lowering& l) {
  const auto* mm = std::get_if<kernels::MatMulParams>(&l.params);
  return mm != nullptr && mm->accumulate;
}

}  // namespace

std::vector<NodePrecision> AssignPrecision(const Graph& g, const std::vector<Lowering>& lowerings,
                                           const QuantSpec* quant) {
  const auto& nodes = g.nodes();
  auto transparent = [&](size_t i) {
    return KeepsInputScale(nodes[i].op_type) || lowerings[i].kind == Lowering::Kind::kAlias;
  };
  // Values some consumer could read as int8: an int8 layer's or a transparent op's input.
  std::vector<bool> int8_reader(g.num_values(), false);
  // Values every consumer of which reads bf16 (cleared by any other consumer).
  const bool cpu_bf16 = quant != nullptr && !quant->bf16_layers.empty() && kernels::HasBf16Compute();
  std::vector<bool> bf16_layer(nodes.size(), false);
  std::vector<int> bf16_reads(g.num_values(), 0), reads(g.num_values(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].removed) continue;
    bf16_layer[i] = IsBf16Layer(quant, lowerings[i], static_cast<int>(i), cpu_bf16);
    for (ValueId in : nodes[i].inputs) {
      if (in == kNoValue) continue;
      ++reads[in];
      if (bf16_layer[i]) ++bf16_reads[in];
    }
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    const bool int8_layer = IsStaticInt8Layer(quant, static_cast<int>(i)) && !HasRuntimeWeights(lowerings[i]);
    if (nodes[i].removed || (!int8_layer && !transparent(i))) continue;
    const bool f32_residual = ResidualStaysF32(lowerings[i]);
    for (size_t k = 0; k < nodes[i].inputs.size(); ++k) {
      const ValueId in = nodes[i].inputs[k];
      if (in != kNoValue && !(f32_residual && k == kResidualInput)) int8_reader[in] = true;
    }
  }

  std::vector<ValuePrecision> stored(g.num_values());  // graph inputs are f32
  std::vector<NodePrecision> result(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    const Lowering& l = lowerings[i];
    NodePrecision& np = result[i];
    if (n.removed || l.runtime_inputs.empty()) continue;  // removed: folded for one plan's shapes
    std::vector<ValueId> ins;
    for (int k : l.runtime_inputs) ins.push_back(n.inputs[k]);
    const ValuePrecision first = stored[ins[0]];
    const bool int8_layer = IsStaticInt8Layer(quant, static_cast<int>(i)) && !HasRuntimeWeights(l) &&
                            QuantOf(quant, ins[0]) != nullptr && TakesZeroPoint(l, QuantOf(quant, ins[0]));
    const bool passthrough = transparent(i) && first.is_int8() && first.zero_point == 0;
    const auto* conv = std::get_if<kernels::ConvParams>(&l.params);
    if (bf16_layer[i]) {
      np.inputs.assign(ins.size(), ValuePrecision{core::DataType::kBFloat16});
      const ValueId out_v = n.outputs[0];
      const bool bf16_out = bf16_reads[out_v] == reads[out_v] && !g.IsGraphOutput(out_v) && !l.accumulates();
      np.output = {bf16_out ? core::DataType::kBFloat16 : core::DataType::kFloat32};
      if (l.accumulates() && np.inputs.size() > 1) np.inputs[1] = np.output;
      stored[out_v] = np.output;
      continue;
    }

    for (ValueId v : ins) {
      ValuePrecision p;
      if (passthrough) {
        p = first;
      } else if (const ValueQuant* q = QuantOf(quant, v); int8_layer && q != nullptr) {
        p = Of(*q);
      }
      np.inputs.push_back(p);
    }
    const ValueId out_v = n.outputs[0];
    const ValueQuant* out_q = QuantOf(quant, out_v);
    if (passthrough) {
      np.output = first;
    } else if (int8_layer && out_q != nullptr && int8_reader[out_v] && !g.IsGraphOutput(out_v) &&
               TakesZeroPoint(l, out_q)) {
      np.output = Of(*out_q);
    }
    if (conv != nullptr && conv->accumulate && np.inputs.size() > 1 &&
        core::SizeOf(np.inputs[1].dtype) != core::SizeOf(np.output.dtype)) {
      np.inputs[1] = np.output;
    }
    if (ResidualStaysF32(l) && np.inputs.size() > 1) {
      np.inputs[1] = {};
      np.output = {};
    }
    stored[out_v] = np.output;
  }
  return result;
}

}  // namespace q8::engine
