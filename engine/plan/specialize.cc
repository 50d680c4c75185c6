// Plan specialization (see specialize.h).
#include "engine/plan/specialize.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_table.h"
#include "engine/passes/constant_eval.h"
#include "engine/plan/shape_inference.h"

namespace q8::engine {
namespace {

// Whether input `slot` of `op_type` is a plan parameter: read when the plan
// is built (a shape, axes, Resize's roi/scales/sizes, Pad's constant_value),
// never by a kernel.
bool IsParameterSlot(const std::string& op_type, size_t slot) {
  if (op_type == "ConstantOfShape" || op_type == "Range") return true;
  if (slot == 0) return false;
  for (const char* op :
       {"Reshape", "Slice", "Unsqueeze", "Squeeze", "Expand", "Tile", "Pad", "Split", "Resize", "Upsample", "TopK"}) {
    if (op_type == op) return true;
  }
  return op_type.rfind("Reduce", 0) == 0 && slot == 1;
}

// The element types constant evaluation computes with (constant_eval.h).
bool IsPlanValueType(core::DataType t) {
  return t == core::DataType::kInt64 || t == core::DataType::kInt32 || t == core::DataType::kFloat32 ||
         t == core::DataType::kFloat64;
}

// True when `n` has outputs and each present one has no elements.
bool AllEmpty(const Node& n, const std::vector<core::Dims>& out) {
  bool any = false;
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    if (n.outputs[k] == kNoValue) continue;
    if (k >= out.size() || core::NumElements(out[k]) != 0) return false;
    any = true;
  }
  return any;
}

}  // namespace

std::vector<bool> ShapeValueInputs(const Graph& graph) {
  // sets_params[v]: a use of v is a parameter slot, or a node that
  // constant_eval computes (not Shape/Size, which read dims only) has an
  // output that sets parameters. Grows monotonically to a fixed point. Such a
  // value's other uses (data, say, as in an exported window function that
  // also multiplies by its length) then see the plan's constant too: still
  // the same numbers, so the plan stays exact.
  std::vector<bool> sets_params(graph.num_values(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (const Node& n : graph.nodes()) {
      if (n.removed) continue;
      const bool evaluable = CanEvaluateConstant(n.op_type) && n.op_type != "Shape" && n.op_type != "Size";
      bool outputs_set = false;
      for (ValueId out : n.outputs) outputs_set = outputs_set || (out != kNoValue && sets_params[out]);
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const ValueId v = n.inputs[k];
        if (v == kNoValue || sets_params[v]) continue;
        if (IsParameterSlot(n.op_type, k) || (evaluable && outputs_set)) sets_params[v] = changed = true;
      }
    }
  }
  std::vector<bool> result;
  for (const GraphInput& in : graph.inputs()) {
    result.push_back(IsPlanValueType(in.dtype) && sets_params[in.value] && !graph.IsGraphOutput(in.value));
  }
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
    // A node whose every output is empty (a Slice past the end) needs no
    // step: its outputs are empty constants of this plan.
    if (auto out = def->infer(MakeOpContext(s, n, opset, dims)); out.ok() && AllEmpty(n, *out)) {
      std::vector<std::shared_ptr<const core::Tensor>> empty;
      for (const core::Dims& d : *out) empty.push_back(std::make_shared<core::Tensor>(core::DataType::kFloat32, d));
      fold(n, std::move(empty));
      continue;
    }
    Q8_RETURN_IF_ERROR(InferNodeDims(s, n, *def, opset, dims));
  }
  return s;
}

}  // namespace q8::engine
