// Layout assignment, aliasing, in-place accumulation and arena packing (see
// planner.h). Precision is the precision stage's (precision.h): the planner
// only realises it, adding one Reorder wherever a value is needed in another
// layout or precision than it is stored in, shared by all consumers that
// need that form.
#include "engine/plan/planner.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/plan/shape_inference.h"

namespace q8::engine {
namespace {

using core::DataType;
using kernels::Layout;
constexpr int64_t kAlign = 64;

struct Buffer {
  int64_t bytes = 0;
  int first = -1, last = -1;  // step indices that define / last read it
  kernels::Storage storage = kernels::Storage::kArena;
  int slot = 0;
  int64_t offset = 0;
  std::vector<ValueId> graph_values;  // graph values whose bytes live here
};

struct PlanValue {
  core::Dims dims;
  Layout layout = Layout::kPlain;
  DataType dtype = DataType::kFloat32;
  float scale = 1.0f;
  int32_t zero_point = 0;
  int buffer = -1;
  std::string name;
};

// Plain and NHWC are the same bytes when there is nothing to interleave.
bool SameBytes(const core::Dims& d) { return d.size() != 4 || d[1] == 1 || d[2] * d[3] == 1; }

struct Form {
  Layout layout;
  DataType dtype;
  float scale;
  int32_t zero_point = 0;  // asymmetric u8 only
};

class Planner {
 public:
  Planner(const LoweredGraph& lg, std::vector<core::Dims> dims) : lg_(lg), g_(*lg.graph), dims_(std::move(dims)) {}

  absl::StatusOr<kernels::ProgramSpec> Build() {
    AnalyseConsumers();
    current_.assign(g_.num_values(), -1);
    for (size_t i = 0; i < g_.inputs().size(); ++i) {
      const ValueId v = g_.inputs()[i].value;
      const int b = NewBuffer(dims_[v], g_.value(v).dtype);
      buffers_[b].storage = kernels::Storage::kInput;
      buffers_[b].slot = static_cast<int>(i);
      current_[v] = NewValue(v, {Layout::kPlain, g_.value(v).dtype, 1.0f}, b, g_.value(v).name);
    }
    for (size_t i = 0; i < g_.nodes().size(); ++i) {
      if (!g_.nodes()[i].removed) Q8_RETURN_IF_ERROR(PlanNode(static_cast<int>(i)));
    }
    Q8_RETURN_IF_ERROR(BindOutputs());
    PackArena();
    return Emit();
  }

 private:
  // Per graph value: its last consumer node.
  void AnalyseConsumers() {
    last_consumer_.assign(g_.num_values(), -1);
    for (size_t i = 0; i < g_.nodes().size(); ++i) {
      const Node& n = g_.nodes()[i];
      if (n.removed) continue;
      for (ValueId in : n.inputs) {
        if (in != kNoValue) last_consumer_[in] = static_cast<int>(i);
      }
    }
    for (const GraphOutput& o : g_.outputs()) last_consumer_[o.value] = static_cast<int>(g_.nodes().size());
  }

  int NewBuffer(const core::Dims& dims, DataType dtype) {
    buffers_.push_back({core::NumElements(dims) * core::SizeOf(dtype)});
    return static_cast<int>(buffers_.size() - 1);
  }
  int NewValue(ValueId graph_value, Form form, int buffer, std::string name) {
    values_.push_back(
        {dims_[graph_value], form.layout, form.dtype, form.scale, form.zero_point, buffer, std::move(name)});
    if (graph_value != kNoValue) buffers_[buffer].graph_values.push_back(graph_value);
    return static_cast<int>(values_.size() - 1);
  }
  int NewView(int of, core::Dims dims, Form form) {
    PlanValue v = values_[of];
    v.dims = std::move(dims);
    v.layout = form.layout;
    v.dtype = form.dtype;
    v.scale = form.scale;
    v.zero_point = form.zero_point;
    values_.push_back(std::move(v));
    return static_cast<int>(values_.size() - 1);
  }
  void Touch(int value, int step) {
    Buffer& b = buffers_[values_[value].buffer];
    if (b.first < 0) b.first = step;
    b.last = std::max(b.last, step);
  }
  void AddStep(kernels::StepSpec step) {
    const int index = static_cast<int>(steps_.size());
    for (int in : step.inputs) Touch(in, index);
    for (int out : step.outputs) Touch(out, index);
    steps_.push_back(std::move(step));
  }
  // A plain FP32 value that one step fills with constant `c` on every run.
  int WriteConstant(ValueId v, const std::shared_ptr<const core::Tensor>& c, const std::string& name) {
    const int out =
        NewValue(v, {Layout::kPlain, DataType::kFloat32, 1.0f}, NewBuffer(c->dims(), DataType::kFloat32), name);
    kernels::DataOpParams write{kernels::CastOp{DataType::kFloat32}, {c}};
    AddStep({absl::StrCat(name, ":constant"), "Cast", std::move(write), {}, {out}});
    return out;
  }
  Form FormOf(int value) const {
    const PlanValue& v = values_[value];
    return {v.layout, v.dtype, v.scale, v.zero_point};
  }

  // The plan value holding graph value `v` in `want`, adding a Reorder (once) if needed.
  int InForm(ValueId v, Form want) {
    const int cur = current_[v];
    const PlanValue& c = values_[cur];
    const bool same_grid = c.scale == want.scale && c.zero_point == want.zero_point;
    if (c.layout == want.layout && c.dtype == want.dtype && (c.dtype == DataType::kFloat32 || same_grid)) {
      return cur;
    }
    auto key = std::make_tuple(v, want.layout, want.dtype, want.scale, want.zero_point);
    if (auto it = converted_.find(key); it != converted_.end()) return it->second;
    int out;
    if (c.dtype == want.dtype && same_grid && SameBytes(c.dims)) {
      out = NewView(cur, c.dims, want);
    } else {
      const std::string name =
          absl::StrCat(c.name, ":", want.layout == Layout::kNhwc ? "nhwc" : "plain", ":", core::OipName(want.dtype));
      out = NewValue(v, want, NewBuffer(c.dims, want.dtype), name);
      AddStep({name, "Reorder", kernels::ReorderParams{}, {cur}, {out}});
    }
    converted_[key] = out;
    return out;
  }

  // True when the output may overwrite `residual`'s bytes: nothing reads
  // them after this node, the node's main input is elsewhere (y = Conv(r) + r
  // would read what it writes) and they are not the caller's.
  bool CanAccumulateInPlace(int node, int input_value, int residual_value, const Form& out) const {
    const PlanValue& r = values_[residual_value];
    const Buffer& b = buffers_[r.buffer];
    if (b.storage != kernels::Storage::kArena || values_[input_value].buffer == r.buffer) return false;
    if (r.layout != out.layout || core::SizeOf(r.dtype) != core::SizeOf(out.dtype)) return false;
    for (ValueId gv : b.graph_values) {
      if (last_consumer_[gv] > node || g_.IsGraphOutput(gv)) return false;
    }
    return true;
  }

  // The int8 form in which every reader of `v` reads it, when they all
  // agree and each is a plain one-output kernel step; nullopt otherwise.
  std::optional<ValuePrecision> SoleInt8Reading(ValueId v) const {
    if (g_.IsGraphOutput(v)) return std::nullopt;
    std::optional<ValuePrecision> common;
    for (int c : g_.Consumers(v)) {
      const Lowering& cl = lg_.lowerings[c];
      if (cl.kind != Lowering::Kind::kKernel || cl.one_step || !cl.more_outputs.empty()) return std::nullopt;
      const Node& cn = g_.nodes()[c];
      for (size_t pos = 0; pos < cl.runtime_inputs.size(); ++pos) {
        if (cn.inputs[cl.runtime_inputs[pos]] != v) continue;
        const ValuePrecision& p = lg_.precision[c].inputs[pos];
        if (!p.is_int8() || (common.has_value() && !(*common == p))) return std::nullopt;
        common = p;
      }
    }
    return common;
  }

  absl::Status PlanNode(int index) {
    const Node& n = g_.nodes()[index];
    const Lowering* lowered = &lg_.lowerings[index];
    // Data ops (index maps) are sized for concrete dims: lower them again
    // for this plan's batch (cheap; the rest of the lowering is batch-free),
    // unless the whole graph was lowered at this plan's dims.
    Lowering relowered;
    const auto* first = lg_.concrete ? nullptr : std::get_if<kernels::DataOpParams>(&lowered->params);
    if (first != nullptr) {
      Q8_ASSIGN_OR_RETURN(relowered, lg_.defs[index]->lower(MakeOpContext(g_, n, lg_.opset, dims_)));
      // The model's graph has dropped the bytes of large float constants;
      // the first lowering still holds them.
      auto keep_operands = [&](kernels::KernelParams& params) {
        if (auto* p = std::get_if<kernels::DataOpParams>(&params)) p->operands = first->operands;
      };
      keep_operands(relowered.params);
      for (kernels::KernelParams& more : relowered.more_outputs) keep_operands(more);
      lowered = &relowered;
    }
    const Lowering& l = *lowered;
    const LayoutPolicy policy = lg_.defs[index]->layout;
    std::vector<ValueId> ins;
    for (int k : l.runtime_inputs) ins.push_back(n.inputs[k]);
    for (ValueId v : ins) {
      if (current_[v] >= 0) continue;
      // A constant that reaches a kernel slot (a plan's folded window
      // function into Cos, say): written into the arena by one step per run.
      const std::shared_ptr<const core::Tensor>& c = g_.value(v).constant;
      if (c == nullptr || !c->has_storage() || c->num_elements() == 0) {
        return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": input '", g_.value(v).name,
                                                       "' is a constant where a runtime tensor is needed"));
      }
      current_[v] = WriteConstant(v, c, g_.value(v).name);
    }
    if (l.one_step) {
      // Recurrent ops: one step reads plain f32 and writes every present output.
      const Form plain{Layout::kPlain, DataType::kFloat32, 1.0f};
      std::vector<int> in_values, out_values;
      for (ValueId v : ins) in_values.push_back(InForm(v, plain));
      for (ValueId v : n.outputs) {
        if (v == kNoValue) continue;
        current_[v] = NewValue(v, plain, NewBuffer(dims_[v], DataType::kFloat32), g_.value(v).name);
        out_values.push_back(current_[v]);
      }
      AddStep({n.name, n.op_type, l.params, in_values, out_values});
      return absl::OkStatus();
    }
    // Conv-like ops read activations NHWC (input 0, a conv's residual);
    // runtime weights and parameters they read as they come, plain.
    const auto* accumulating = std::get_if<kernels::ConvParams>(&l.params);
    const size_t activations = accumulating != nullptr && accumulating->accumulate ? 2 : 1;
    auto layout_for = [&](ValueId v, size_t pos) {
      if (policy == LayoutPolicy::kPlain) return Layout::kPlain;
      if (policy == LayoutPolicy::kChannelsLast) {
        return dims_[v].size() == 4 && pos < activations ? Layout::kNhwc : Layout::kPlain;
      }
      const Layout first = values_[current_[ins[0]]].layout;
      if (pos == 0) return first;
      return dims_[v].size() == 4 ? first : Layout::kPlain;
    };

    const ValueId out_v = n.outputs[0];
    const NodePrecision& precision = lg_.precision[index];
    std::vector<int> in_values;
    for (size_t pos = 0; pos < ins.size(); ++pos) {
      const ValuePrecision& p = precision.inputs[pos];
      in_values.push_back(InForm(ins[pos], {layout_for(ins[pos], pos), p.dtype, p.scale, p.zero_point}));
    }

    const core::Dims& out_dims = dims_[out_v];
    Form out{Layout::kPlain, precision.output.dtype, precision.output.scale, precision.output.zero_point};
    // LayerNorm + quantize: a LayerNorm whose readers all read its output as
    // int8 in one scale writes that int8 itself (kernels' quantizing
    // LayerNorm) instead of f32 plus a Reorder. The same numbers, one pass.
    // Symmetric readings only: the quantizing LayerNorm has no zero point.
    if (std::holds_alternative<kernels::LayerNormParams>(l.params) && out.dtype == DataType::kFloat32) {
      if (std::optional<ValuePrecision> q = SoleInt8Reading(out_v); q.has_value() && q->zero_point == 0) {
        out.dtype = q->dtype;
        out.scale = q->scale;
      }
    }
    if (policy == LayoutPolicy::kChannelsLast && out_dims.size() == 4) out.layout = Layout::kNhwc;
    if (policy == LayoutPolicy::kFollowInput && out_dims.size() == 4) out.layout = values_[in_values[0]].layout;

    if (l.kind == Lowering::Kind::kAlias) {
      const int src = in_values[0];
      current_[out_v] = NewValue(out_v, FormOf(src), values_[src].buffer, g_.value(out_v).name);
      return absl::OkStatus();
    }
    // A lower-rank broadcast operand is viewed with leading 1s (same bytes).
    if (std::holds_alternative<kernels::BinaryParams>(l.params) && in_values.size() == 2 &&
        values_[in_values[1]].dims.size() < out_dims.size()) {
      const int b = in_values[1];
      in_values[1] = NewView(b, core::PadLeft(values_[b].dims, out_dims.size()), FormOf(b));
    }
    int out_buffer;
    if (l.accumulates()) {
      // The step adds into the residual's bytes; copy the residual first
      // (in the output's layout, its own precision) when those bytes are
      // still needed elsewhere.
      if (!CanAccumulateInPlace(index, in_values[0], in_values[1], out)) {
        const Form res{out.layout, values_[in_values[1]].dtype, values_[in_values[1]].scale,
                       values_[in_values[1]].zero_point};
        in_values[1] = InForm(ins[1], res);
        if (!CanAccumulateInPlace(index, in_values[0], in_values[1], out)) {
          const int copy =
              NewValue(ins[1], res, NewBuffer(out_dims, res.dtype), absl::StrCat(values_[in_values[1]].name, ":acc"));
          AddStep({values_[copy].name, "Reorder", kernels::ReorderParams{}, {in_values[1]}, {copy}});
          in_values[1] = copy;
        }
      }
      out_buffer = values_[in_values[1]].buffer;
    } else {
      out_buffer = NewBuffer(out_dims, out.dtype);
    }
    current_[out_v] = NewValue(out_v, out, out_buffer, g_.value(out_v).name);
    AddStep({n.name, n.op_type, l.params, in_values, {current_[out_v]}});
    // Further outputs (Split, MaxPool's Indices, Dropout's mask): one plain
    // C++ step each over the same inputs, read and written plain f32 (a
    // channels-last or int8 input of the main step gets one Reorder).
    std::vector<int> plain_ins;
    for (size_t k = 0; k < l.more_outputs.size() && k + 1 < n.outputs.size(); ++k) {
      const ValueId v = n.outputs[k + 1];
      if (v == kNoValue) continue;
      if (plain_ins.empty()) {
        for (ValueId in : ins) plain_ins.push_back(InForm(in, {Layout::kPlain, DataType::kFloat32, 1.0f}));
      }
      current_[v] = NewValue(v, {Layout::kPlain, DataType::kFloat32, 1.0f}, NewBuffer(dims_[v], DataType::kFloat32),
                             g_.value(v).name);
      AddStep({absl::StrCat(n.name, ":", k + 1), n.op_type, l.more_outputs[k], plain_ins, {current_[v]}});
    }
    return absl::OkStatus();
  }

  // Graph outputs are plain f32, in the caller's buffers. The producing step
  // writes there directly unless the bytes are also a graph input, another
  // output, int8 or NHWC; then one Reorder fills the output.
  absl::Status BindOutputs() {
    for (size_t i = 0; i < g_.outputs().size(); ++i) {
      const GraphOutput& o = g_.outputs()[i];
      if (current_[o.value] < 0) {
        const std::shared_ptr<const core::Tensor>& c = g_.value(o.value).constant;
        if (c == nullptr || (!c->has_storage() && c->num_elements() > 0)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "graph output '", o.name, "' is a large constant; q8serve needs outputs computed from inputs"));
        }
        // Known when the plan is built (e.g. a Shape of an input): one step
        // writes it (as FP32, like every output) into the caller's buffer;
        // an empty one needs no step, only its dims.
        const int out = c->num_elements() == 0 ? NewValue(o.value, {Layout::kPlain, DataType::kFloat32, 1.0f},
                                                          NewBuffer(c->dims(), DataType::kFloat32), o.name)
                                               : WriteConstant(o.value, c, o.name);
        buffers_[values_[out].buffer].storage = kernels::Storage::kOutput;
        buffers_[values_[out].buffer].slot = static_cast<int>(i);
        continue;
      }
      const int v = current_[o.value];
      Buffer& b = buffers_[values_[v].buffer];
      const bool direct =
          values_[v].dtype == DataType::kFloat32 && (values_[v].layout == Layout::kPlain || SameBytes(values_[v].dims));
      if (direct && b.storage == kernels::Storage::kArena) {
        b.storage = kernels::Storage::kOutput;
        b.slot = static_cast<int>(i);
        continue;
      }
      const int out = NewValue(o.value, {Layout::kPlain, DataType::kFloat32, 1.0f},
                               NewBuffer(values_[v].dims, DataType::kFloat32), o.name);
      buffers_[values_[out].buffer].storage = kernels::Storage::kOutput;
      buffers_[values_[out].buffer].slot = static_cast<int>(i);
      AddStep({absl::StrCat(o.name, ":output"), "Reorder", kernels::ReorderParams{}, {v}, {out}});
    }
    return absl::OkStatus();
  }

  // Greedy first-fit by decreasing size over buffers whose lifetimes overlap.
  void PackArena() {
    std::vector<int> order;
    for (size_t b = 0; b < buffers_.size(); ++b) {
      if (buffers_[b].storage == kernels::Storage::kArena && buffers_[b].first >= 0) order.push_back(b);
    }
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return buffers_[a].bytes > buffers_[b].bytes; });
    std::vector<int> placed;
    for (int b : order) {
      Buffer& buf = buffers_[b];
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (int p : placed) {
        const Buffer& o = buffers_[p];
        if (o.first <= buf.last && buf.first <= o.last) busy.push_back({o.offset, o.offset + o.bytes});
      }
      std::sort(busy.begin(), busy.end());
      int64_t offset = 0;
      for (auto [lo, hi] : busy) {
        if (offset + buf.bytes <= lo) break;
        offset = std::max(offset, (hi + kAlign - 1) / kAlign * kAlign);
      }
      buf.offset = offset;
      arena_bytes_ = std::max(arena_bytes_, (offset + buf.bytes + kAlign - 1) / kAlign * kAlign);
      placed.push_back(b);
    }
  }

  kernels::ProgramSpec Emit() {
    kernels::ProgramSpec spec;
    for (const PlanValue& v : values_) {
      const Buffer& b = buffers_[v.buffer];
      kernels::ValueSpec s;
      s.dtype = v.dtype;
      s.scale = v.scale;
      s.zero_point = v.zero_point;
      s.dims = v.dims;
      s.layout = v.layout;
      s.storage = b.storage;
      s.offset = b.offset;
      s.slot = b.slot;
      spec.values.push_back(std::move(s));
    }
    spec.steps = std::move(steps_);
    spec.arena_bytes = arena_bytes_;
    spec.num_inputs = static_cast<int>(g_.inputs().size());
    spec.num_outputs = static_cast<int>(g_.outputs().size());
    return spec;
  }

  const LoweredGraph& lg_;
  const Graph& g_;
  std::vector<core::Dims> dims_;
  std::vector<int> last_consumer_;
  std::vector<int> current_;  // graph value -> plan value holding it
  std::map<std::tuple<ValueId, Layout, DataType, float, int32_t>, int> converted_;
  std::vector<PlanValue> values_;
  std::vector<Buffer> buffers_;
  std::vector<kernels::StepSpec> steps_;
  int64_t arena_bytes_ = 0;
};

// Swaps an int8 layer's float weights for the quantizer's.
// A MatMul whose input is asymmetric also gets its weights' column sums (the
// kernel folds the zero point into the bias with them).
void ApplyLayerQuant(const LayerQuant& q, uint64_t id, bool asymmetric_input, kernels::KernelParams& params) {
  auto apply = [&](auto& p) {
    p.weights = nullptr;
    p.qweights = {q.qweights, q.weight_scales};
    p.weights_id = id;
    if (q.bias) p.bias = q.bias;
  };
  if (auto* conv = std::get_if<kernels::ConvParams>(&params)) {
    apply(*conv);
    conv->dynamic = q.dynamic;
  }
  if (auto* mm = std::get_if<kernels::MatMulParams>(&params)) {
    apply(*mm);
    mm->dynamic = q.dynamic;
    if (asymmetric_input && q.qweights != nullptr) mm->qweights.column_sums = kernels::MatMulColumnSums(*q.qweights);
  }
}

}  // namespace

// GCC 12 at -O3 reports the variant's shared_ptr members as maybe-uninitialized
// after the StatusOr move below (a known false positive with std::variant).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
absl::StatusOr<LoweredGraph> LowerGraph(const Graph& graph, int64_t opset, const QuantSpec* quant) {
  LoweredGraph lg;
  lg.graph = &graph;
  lg.opset = opset;
  lg.quant = quant;
  Q8_ASSIGN_OR_RETURN(lg.defs, ResolveOps(graph));
  // Lowering is batch-independent; batch 1 dims give every static dim it needs.
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, InferValueDims(graph, opset, 1));
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    if (lg.defs[i] == nullptr) {  // folded for this plan
      lg.lowerings.emplace_back();
      continue;
    }
    OpContext ctx = MakeOpContext(graph, graph.nodes()[i], opset, dims);
    Q8_ASSIGN_OR_RETURN(Lowering l, lg.defs[i]->lower(ctx));
    // Ids let the kernels keep weights once built, so the model can drop its copies.
    const uint64_t weights_id = i + 1;
    std::visit(
        [&](auto& p) {
          using P = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<P, kernels::ConvParams> || std::is_same_v<P, kernels::MatMulParams>) {
            if (p.weights != nullptr) p.weights_id = weights_id;  // a runtime B has nothing to keep
          }
        },
        l.params);
    if (quant != nullptr) {
      if (auto it = quant->layers.find(static_cast<int>(i)); it != quant->layers.end()) {
        const Node& n = graph.nodes()[i];
        auto in = l.runtime_inputs.empty() ? quant->values.end() : quant->values.find(n.inputs[l.runtime_inputs[0]]);
        ApplyLayerQuant(it->second, weights_id, in != quant->values.end() && in->second.asymmetric(), l.params);
      }
    }
    lg.lowerings.push_back(std::move(l));
  }
  lg.precision = AssignPrecision(graph, lg.lowerings, quant);
  return lg;
}
#pragma GCC diagnostic pop

LoweredGraph SpecializingLowering(const Graph& graph, int64_t opset, const QuantSpec* quant) {
  LoweredGraph lg;
  lg.graph = &graph;
  lg.opset = opset;
  lg.quant = quant;
  lg.specialize = true;
  lg.shape_value_inputs = ShapeValueInputs(graph);
  return lg;
}

absl::StatusOr<kernels::ProgramSpec> PlanProgram(const LoweredGraph& lowered, const PlanShapes& shapes) {
  if (!lowered.specialize) {
    Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, InferValueDims(*lowered.graph, lowered.opset, shapes.dims));
    return Planner(lowered, std::move(dims)).Build();
  }
  // Shape subgraphs fold into this plan's constants; every node is lowered
  // at these dims, so nothing is lowered again inside the planner.
  Q8_ASSIGN_OR_RETURN(Graph specialized, SpecializeGraph(*lowered.graph, lowered.opset, shapes));
  Q8_ASSIGN_OR_RETURN(LoweredGraph lg, LowerGraph(specialized, lowered.opset, lowered.quant));
  lg.concrete = true;
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, InferValueDims(specialized, lowered.opset, shapes.dims));
  return Planner(lg, std::move(dims)).Build();
}

absl::StatusOr<std::vector<core::Dims>> PlanOutputDims(const LoweredGraph& lowered, const PlanShapes& shapes) {
  const Graph* g = lowered.graph;
  Graph specialized;
  if (lowered.specialize) {
    Q8_ASSIGN_OR_RETURN(specialized, SpecializeGraph(*lowered.graph, lowered.opset, shapes));
    g = &specialized;
  }
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, InferValueDims(*g, lowered.opset, shapes.dims));
  std::vector<core::Dims> out;
  for (const GraphOutput& o : g->outputs()) out.push_back(dims[o.value]);
  return out;
}

absl::StatusOr<LoweredGraph> LowerForAnalysis(const Graph& graph, int64_t opset, const QuantSpec* quant,
                                              std::unique_ptr<Graph>* specialized) {
  if (!NeedsSpecialization(graph)) return LowerGraph(graph, opset, quant);
  PlanShapes shapes;
  const std::vector<bool> shape_values = ShapeValueInputs(graph);
  for (size_t i = 0; i < graph.inputs().size(); ++i) {
    if (shape_values[i]) {
      return absl::UnimplementedError(absl::StrCat("graph input '", graph.value(graph.inputs()[i].value).name,
                                                   "' sets shapes at run time; quantizing or exporting such a "
                                                   "model is not supported yet"));
    }
    shapes.dims.push_back(RepresentativeDims(graph.inputs()[i], 1));
    shapes.values.push_back(nullptr);
  }
  Q8_ASSIGN_OR_RETURN(Graph g, SpecializeGraph(graph, opset, shapes));
  *specialized = std::make_unique<Graph>(std::move(g));
  return LowerGraph(**specialized, opset, quant);
}

absl::StatusOr<kernels::ProgramSpec> PlanProgram(const LoweredGraph& lowered, int64_t batch) {
  PlanShapes shapes;
  for (const GraphInput& in : lowered.graph->inputs()) {
    shapes.dims.push_back(RepresentativeDims(in, batch));
    shapes.values.push_back(nullptr);
  }
  return PlanProgram(lowered, shapes);
}

}  // namespace q8::engine
