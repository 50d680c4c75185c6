// Walks nodes in topological order applying each op's shape function.
#include "engine/plan/shape_inference.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/checked_math.h"
#include "core/quote.h"
#include "core/status_macros.h"

namespace q8::engine {

OpContext MakeOpContext(const Graph& graph, const Node& node, int64_t opset, const std::vector<core::Dims>& dims) {
  OpContext ctx{graph, node, opset, {}};
  for (ValueId in : node.inputs) ctx.input_dims.push_back(in == kNoValue ? core::Dims{} : dims[in]);
  return ctx;
}

absl::StatusOr<std::vector<const OpDef*>> ResolveOps(const Graph& graph) {
  std::vector<const OpDef*> defs;
  for (const Node& n : graph.nodes()) {
    if (n.removed) {  // folded for one plan's shapes (specialize.h)
      defs.push_back(nullptr);
      continue;
    }
    const OpDef* def = FindOp(n.op_type);
    if (def == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unsupported op '", core::Quote(n.op_type), "' (node '",
                                                     core::Quote(n.name),
                                                     "'); q8serve supports: ", absl::StrJoin(SupportedOps(), ", ")));
    }
    defs.push_back(def);
  }
  return defs;
}

core::Dims RepresentativeDims(const GraphInput& in, int64_t batch, int64_t other) {
  core::Dims dims = in.dims;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == core::kDynamicDim) dims[d] = d == 0 ? batch : (other > 0 ? other : in.representative_size);
  }
  return dims;
}

absl::StatusOr<std::vector<core::Dims>> InferValueDims(const Graph& graph, int64_t opset, int64_t batch) {
  std::vector<core::Dims> input_dims;
  for (const GraphInput& in : graph.inputs()) input_dims.push_back(RepresentativeDims(in, batch));
  return InferValueDims(graph, opset, input_dims);
}

absl::Status InferNodeDims(const Graph& graph, const Node& n, const OpDef& def, int64_t opset,
                           std::vector<core::Dims>& dims) {
  OpContext ctx = MakeOpContext(graph, n, opset, dims);
  Q8_RETURN_IF_ERROR(CheckInputTypes(graph, n));
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    if (n.inputs[k] != kNoValue && graph.value(n.inputs[k]).dtype != core::DataType::kFloat32 &&
        !graph.IsConstant(n.inputs[k])) {
      const Value& value = graph.value(n.inputs[k]);
      return ctx.Unsupported(absl::StrCat("input ", k, " ('", core::Quote(value.name), "') is a runtime ",
                                          core::OipName(value.dtype), " tensor; ", n.op_type, " reads ",
                                          core::OipName(value.dtype), " there only from a constant"));
    }
  }
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> out, def.infer(ctx));
  for (size_t k = 0; k < out.size() && k < n.outputs.size(); ++k) {
    if (n.outputs[k] == kNoValue) continue;
    // No op's shape rule may produce a negative, overflowing or over-limit
    // tensor: the planner allocates exactly what these dims say.
    absl::Status size_ok =
        core::CheckedByteSize(core::DataType::kFloat32, out[k], absl::StrCat("output ", k, " of ", n.Describe()))
            .status();
    if (!size_ok.ok()) return absl::InvalidArgumentError(size_ok.message());
    // Empty tensors would reach kernels and per-channel quantization as
    // divisions by zero; no model we serve needs one.
    if (core::NumElements(out[k]) == 0) {
      return ctx.Unsupported(absl::StrCat("output ", k, " of shape ", core::DimsToString(out[k]), " has no elements"));
    }
    dims[n.outputs[k]] = std::move(out[k]);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<core::Dims>> InferValueDims(const Graph& graph, int64_t opset,
                                                       const std::vector<core::Dims>& input_dims) {
  std::vector<core::Dims> dims(graph.num_values());
  for (ValueId v = 0; v < graph.num_values(); ++v) {
    if (graph.value(v).constant) dims[v] = graph.value(v).constant->dims();
  }
  for (size_t i = 0; i < graph.inputs().size() && i < input_dims.size(); ++i) {
    dims[graph.inputs()[i].value] = input_dims[i];
  }
  Q8_ASSIGN_OR_RETURN(std::vector<const OpDef*> defs, ResolveOps(graph));
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    if (defs[i] == nullptr) continue;
    Q8_RETURN_IF_ERROR(InferNodeDims(graph, graph.nodes()[i], *defs[i], opset, dims));
  }
  return dims;
}

}  // namespace q8::engine
