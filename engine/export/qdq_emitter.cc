// QdqEmitter driver: value naming and the placement of QuantizeLinear/
// DequantizeLinear. The rule follows the precision stage (engine/plan/precision.h):
//  - a value the plan stores as int8 gets Q -> DQ right after its producer,
//    and every consumer reads the DQ output (reading it as f32 in the
//    engine is a lossless int8 -> f32 reorder);
//  - a consumer that reads int8 in another precision than the stored one
//    (an int8 layer reading an f32 value, a Concat aligning its inputs to
//    the first input's scale, a residual read in the output's precision)
//    gets its own Q -> DQ of the stored value, shared between such readers.
#include "engine/export/qdq_emitter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace q8::engine {

absl::Status QdqEmitter::EmitAll() {
  const Graph& g = src_.graph;
  real_.assign(g.num_values(), "");
  stored_.assign(g.num_values(), ValuePrecision{});
  for (const GraphInput& in : g.inputs()) real_[in.value] = g.value(in.value).name;
  for (const GraphOutput& o : g.outputs()) unclaimed_outputs_.emplace(o.value, o.name);
  for (size_t i = 0; i < g.nodes().size(); ++i) Q8_RETURN_IF_ERROR(EmitNode(static_cast<int>(i)));
  // Outputs not produced under their public name (a graph input that is also
  // an output, one value listed as two outputs) are copies.
  for (const GraphOutput& o : g.outputs()) {
    if (real_[o.value].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("graph output '", o.name, "' is not computed from inputs"));
    }
    if (real_[o.value] != o.name) w_.Node("Identity", o.name, {real_[o.value]}, {o.name});
  }
  return absl::OkStatus();
}

// The public output name when `v` is a graph output not yet produced, else a
// fresh name: the value's own plus `suffix`.
std::string QdqEmitter::OutputName(ValueId v, const std::string& suffix) {
  auto it = unclaimed_outputs_.find(v);
  if (it == unclaimed_outputs_.end()) return w_.Fresh(src_.graph.value(v).name + suffix);
  std::string name = it->second;
  unclaimed_outputs_.erase(it);
  return name;
}

std::string QdqEmitter::Read(ValueId v, const ValuePrecision& p) {
  if (!p.is_int8() || p == stored_[v]) return real_[v];
  auto key = std::make_tuple(v, p.dtype, p.scale, p.zero_point);
  auto it = requantized_.find(key);
  if (it != requantized_.end()) return it->second;
  const std::string out = w_.Fresh(absl::StrCat(real_[v], "_", p.dtype == core::DataType::kUInt8 ? "u8" : "s8"));
  w_.QuantDequant(real_[v], p.dtype, p.scale, p.zero_point, out);
  requantized_[key] = out;
  return out;
}

std::string QdqEmitter::Constant(ValueId v) {
  auto it = constants_.find(v);
  if (it != constants_.end()) return it->second;
  const std::string name = w_.Initializer(src_.graph.value(v).name, *src_.graph.value(v).constant);
  constants_[v] = name;
  return name;
}

// Names for each node input: constants as initializers, runtime inputs in
// the precision the plan reads them in.
std::vector<std::string> QdqEmitter::NodeInputs(int index) {
  const Node& n = src_.graph.nodes()[index];
  const Lowering& l = src_.fp32.lowerings[index];
  const NodePrecision& np = src_.precision[index];
  std::vector<std::string> names;
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const ValueId v = n.inputs[k];
    if (v == kNoValue) {
      names.emplace_back();
    } else if (src_.graph.IsConstant(v)) {
      names.emplace_back();  // filled lazily by the op emitters (int8 layers skip float weights)
    } else {
      auto pos = std::find(l.runtime_inputs.begin(), l.runtime_inputs.end(), static_cast<int>(k));
      names.push_back(pos == l.runtime_inputs.end() ? real_[v] : Read(v, np.inputs[pos - l.runtime_inputs.begin()]));
    }
  }
  return names;
}

absl::Status QdqEmitter::EmitNode(int index) {
  const Node& n = src_.graph.nodes()[index];
  const ValueId out_v = n.outputs[0];
  const ValuePrecision out_p = src_.precision[index].output;
  std::vector<std::string> ins = NodeInputs(index);
  // The op writes the float result under the value's name; an int8-stored
  // output then passes through Q -> DQ, whose output is what consumers (and
  // callers) see.
  const std::string raw = out_p.is_int8() ? w_.Fresh(src_.graph.value(out_v).name) : OutputName(out_v, "");
  const LayerQuant* lq = nullptr;
  if (src_.quant != nullptr) {
    auto it = src_.quant->layers.find(index);
    if (it != src_.quant->layers.end()) lq = &it->second;
  }
  if (lq != nullptr) {
    Q8_RETURN_IF_ERROR(EmitLayer(index, *lq, ins, raw));
  } else {
    for (size_t k = 0; k < ins.size(); ++k) {
      if (n.inputs[k] != kNoValue && src_.graph.IsConstant(n.inputs[k])) ins[k] = Constant(n.inputs[k]);
    }
    Q8_RETURN_IF_ERROR(EmitFloatOp(index, ins, raw));
  }
  stored_[out_v] = out_p;
  if (out_p.is_int8()) {
    real_[out_v] = OutputName(out_v, "_dequantized");
    w_.QuantDequant(raw, out_p.dtype, out_p.scale, out_p.zero_point, real_[out_v]);
  } else {
    real_[out_v] = raw;
  }
  return absl::OkStatus();
}

}  // namespace q8::engine
