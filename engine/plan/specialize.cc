// Plan specialization (see specialize.h).
#include "engine/plan/specialize.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_table.h"
#include "engine/passes/constant_eval.h"
#include "engine/plan/shape_inference.h"

namespace q8::engine {
namespace {

// Whether input `slot` of `op_type` is a shape parameter read at plan time.
bool IsShapeSlot(const std::string& op_type, size_t slot) {
  if (op_type == "ConstantOfShape" || op_type == "Range") return true;
  if (slot == 0) return false;
  for (const char* op : {"Reshape", "Slice", "Unsqueeze", "Squeeze", "Expand", "Tile", "Pad", "Split"}) {
    if (op_type == op) return true;
  }
  return op_type.rfind("Reduce", 0) == 0 && slot == 1;
}

bool IsInteger(core::DataType t) { return t == core::DataType::kInt64 || t == core::DataType::kInt32; }

}  // namespace

std::vector<bool> ShapeValueInputs(const Graph& graph) {
  // shape_only[v]: v has uses and each is a shape slot or feeds a node that
  // constant_eval computes and whose outputs are all shape-only. Grows
  // monotonically to a fixed point.
  std::vector<bool> shape_only(graph.num_values(), false);
  std::vector<std::vector<std::pair<int, size_t>>> uses(graph.num_values());
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& n = graph.nodes()[i];
    if (n.removed) continue;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (n.inputs[k] != kNoValue) uses[n.inputs[k]].push_back({static_cast<int>(i), k});
    }
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (ValueId v = 0; v < graph.num_values(); ++v) {
      if (shape_only[v] || uses[v].empty() || graph.IsGraphOutput(v)) continue;
      bool all = true;
      for (const auto& [node, slot] : uses[v]) {
        const Node& n = graph.nodes()[node];
        if (IsShapeSlot(n.op_type, slot)) continue;
        bool feeds_shape = CanEvaluateConstant(n.op_type) && n.op_type != "Shape" && n.op_type != "Size";
        for (ValueId out : n.outputs) feeds_shape = feeds_shape && (out == kNoValue || shape_only[out]);
        if (!feeds_shape) {
          all = false;
          break;
        }
      }
      if (all) shape_only[v] = changed = true;
    }
  }
  std::vector<bool> result;
  for (const GraphInput& in : graph.inputs()) result.push_back(IsInteger(in.dtype) && shape_only[in.value]);
  return result;
}

std::vector<bool> PlanConstantValues(const Graph& graph) {
  std::vector<bool> known(graph.num_values(), false);
  for (ValueId v = 0; v < graph.num_values(); ++v) known[v] = graph.IsConstant(v);
  const std::vector<bool> shape_inputs = ShapeValueInputs(graph);
  for (size_t i = 0; i < graph.inputs().size(); ++i) known[graph.inputs()[i].value] = shape_inputs[i];
  for (bool changed = true; changed;) {  // one pass in topological order; repeats only if not
    changed = false;
    for (const Node& n : graph.nodes()) {
      if (n.removed || n.inputs.empty() || !CanEvaluateConstant(n.op_type)) continue;
      bool all = true;
      if (n.op_type != "Shape" && n.op_type != "Size") {
        for (ValueId in : n.inputs) all = all && (in == kNoValue || known[in]);
      }
      for (ValueId out : n.outputs) {
        if (all && out != kNoValue && !known[out]) known[out] = changed = true;
      }
    }
  }
  return known;
}

bool NeedsSpecialization(const Graph& graph) {
  for (const GraphInput& in : graph.inputs()) {
    for (size_t d = 1; d < in.dims.size(); ++d) {
      if (in.dims[d] == core::kDynamicDim) return true;
    }
  }
  for (const Node& n : graph.nodes()) {
    if (!n.removed && (n.op_type == "Shape" || n.op_type == "Size")) return true;
  }
  for (bool v : ShapeValueInputs(graph)) {
    if (v) return true;
  }
  return false;
}

absl::StatusOr<Graph> SpecializeGraph(const Graph& graph, int64_t opset, const PlanShapes& shapes) {
  if (shapes.dims.size() != graph.inputs().size()) return absl::InternalError("plan shapes do not match the inputs");
  Graph s = graph;
  std::vector<core::Dims> dims(s.num_values());
  for (ValueId v = 0; v < s.num_values(); ++v) {
    if (s.value(v).constant) dims[v] = s.value(v).constant->dims();
  }
  for (size_t i = 0; i < s.inputs().size(); ++i) {
    GraphInput& in = s.inputs()[i];
    in.dims = shapes.dims[i];
    dims[in.value] = in.dims;
    if (i < shapes.values.size() && shapes.values[i] != nullptr) {
      // The kernels never read it: its uses fold below. Keep its type for
      // CheckInputTypes (INT32 requests arrive as INT32).
      s.value(in.value).constant = shapes.values[i];
      s.value(in.value).dtype = shapes.values[i]->dtype();
    }
  }
  auto fold = [&](Node& n, std::vector<std::shared_ptr<const core::Tensor>> outs) {
    for (size_t o = 0; o < n.outputs.size() && o < outs.size(); ++o) {
      const ValueId v = n.outputs[o];
      if (v == kNoValue) continue;
      s.value(v).constant = outs[o];
      s.value(v).dtype = outs[o]->dtype();
      s.value(v).producer = -1;
      dims[v] = outs[o]->dims();
    }
    n.removed = true;
  };
  for (size_t i = 0; i < s.nodes().size(); ++i) {
    Node& n = s.nodes()[i];
    if (n.removed) continue;
    if ((n.op_type == "Shape" || n.op_type == "Size") && !n.inputs.empty() && n.inputs[0] != kNoValue) {
      Q8_ASSIGN_OR_RETURN(auto outs, EvaluateShapeOf(n, dims[n.inputs[0]]));
      fold(n, std::move(outs));
      continue;
    }
    if (CanEvaluateConstant(n.op_type) && n.op_type != "Constant" && !n.inputs.empty() && n.inputs[0] != kNoValue) {
      bool all_const = true;
      for (ValueId in : n.inputs) {
        all_const &=
            in == kNoValue ||
            (s.IsConstant(in) && (s.value(in).constant->has_storage() || s.value(in).constant->num_elements() == 0));
      }
      if (all_const) {
        auto outs = EvaluateConstantNode(s, n, opset);
        if (outs.ok()) {
          fold(n, *std::move(outs));
          continue;
        }
        // Not computable here (e.g. a type constant_eval lacks): the op
        // table may still run it; its shape rule reports what is wrong.
      }
    }
    const OpDef* def = FindOp(n.op_type);
    if (def == nullptr) {
      Q8_RETURN_IF_ERROR(ResolveOps(s).status());  // the standard message
      return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": unsupported op"));
    }
    Q8_RETURN_IF_ERROR(InferNodeDims(s, n, *def, opset, dims));
  }
  return s;
}

}  // namespace q8::engine
