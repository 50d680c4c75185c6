// Layout assignment, aliasing and arena packing (see planner.h).
#include "engine/plan/planner.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/plan/shape_inference.h"

namespace q8::engine {
namespace {

using kernels::Layout;
constexpr int64_t kAlign = 64;

struct Buffer {
  int64_t bytes = 0;
  int first = -1, last = -1;  // step indices that define / last read it
  kernels::Storage storage = kernels::Storage::kArena;
  int slot = 0;
  int64_t offset = 0;
};

struct PlanValue {
  core::Dims dims;
  Layout layout = Layout::kPlain;
  int buffer = -1;
  std::string name;
};

// Plain and NHWC are the same bytes when there is nothing to interleave.
bool SameBytes(const core::Dims& d) { return d.size() != 4 || d[1] == 1 || d[2] * d[3] == 1; }

class Planner {
 public:
  Planner(const LoweredGraph& lg, std::vector<core::Dims> dims) : lg_(lg), g_(*lg.graph), dims_(std::move(dims)) {}

  absl::StatusOr<kernels::ProgramSpec> Build() {
    current_.assign(g_.num_values(), -1);
    for (size_t i = 0; i < g_.inputs().size(); ++i) {
      const ValueId v = g_.inputs()[i].value;
      const int b = NewBuffer(dims_[v]);
      buffers_[b].storage = kernels::Storage::kInput;
      buffers_[b].slot = static_cast<int>(i);
      current_[v] = NewValue(dims_[v], Layout::kPlain, b, g_.value(v).name);
    }
    for (size_t i = 0; i < g_.nodes().size(); ++i) Q8_RETURN_IF_ERROR(PlanNode(static_cast<int>(i)));
    Q8_RETURN_IF_ERROR(BindOutputs());
    PackArena();
    return Emit();
  }

 private:
  int NewBuffer(const core::Dims& dims) {
    buffers_.push_back({core::NumElements(dims) * 4, -1, -1});
    return static_cast<int>(buffers_.size() - 1);
  }
  int NewValue(core::Dims dims, Layout layout, int buffer, std::string name) {
    values_.push_back({std::move(dims), layout, buffer, std::move(name)});
    return static_cast<int>(values_.size() - 1);
  }
  void Touch(int value, int step) {
    Buffer& b = buffers_[values_[value].buffer];
    if (b.first < 0) b.first = step;
    b.last = std::max(b.last, step);
  }
  int AddStep(kernels::StepSpec step) {
    const int index = static_cast<int>(steps_.size());
    for (int in : step.inputs) Touch(in, index);
    for (int out : step.outputs) Touch(out, index);
    steps_.push_back(std::move(step));
    return index;
  }

  // The plan value holding graph value `v` in `layout`, adding a reorder (once) if needed.
  int InLayout(ValueId v, Layout layout) {
    const int cur = current_[v];
    if (values_[cur].layout == layout) return cur;
    auto key = std::make_pair(v, layout);
    if (auto it = converted_.find(key); it != converted_.end()) return it->second;
    int out;
    if (SameBytes(values_[cur].dims)) {
      out = NewValue(values_[cur].dims, layout, values_[cur].buffer, values_[cur].name);
    } else {
      out = NewValue(values_[cur].dims, layout, NewBuffer(values_[cur].dims),
                     absl::StrCat(values_[cur].name, layout == Layout::kNhwc ? ":nhwc" : ":plain"));
      AddStep({values_[out].name, "Reorder", kernels::ReorderParams{}, {cur}, {out}});
    }
    converted_[key] = out;
    return out;
  }

  absl::Status PlanNode(int index) {
    const Node& n = g_.nodes()[index];
    const Lowering& l = lg_.lowerings[index];
    const LayoutPolicy policy = lg_.defs[index]->layout;
    std::vector<ValueId> ins;
    for (int k : l.runtime_inputs) ins.push_back(n.inputs[k]);
    for (ValueId v : ins) {
      if (current_[v] < 0) {
        return absl::InvalidArgumentError(absl::StrCat(n.Describe(), ": input '", g_.value(v).name,
                                                       "' is a constant where a runtime tensor is needed"));
      }
    }
    auto wanted = [&](ValueId v, size_t pos) {
      if (policy == LayoutPolicy::kPlain) return Layout::kPlain;
      if (policy == LayoutPolicy::kChannelsLast) return dims_[v].size() == 4 ? Layout::kNhwc : Layout::kPlain;
      // kFollowInput: operand 0 keeps its layout; others match it where rank allows.
      const Layout first = values_[current_[ins[0]]].layout;
      if (pos == 0) return first;
      return dims_[v].size() == 4 ? first : Layout::kPlain;
    };
    std::vector<int> in_values;
    for (size_t pos = 0; pos < ins.size(); ++pos) in_values.push_back(InLayout(ins[pos], wanted(ins[pos], pos)));
    const ValueId out_v = n.outputs[0];
    const core::Dims& out_dims = dims_[out_v];
    Layout out_layout = Layout::kPlain;
    if (policy == LayoutPolicy::kChannelsLast && out_dims.size() == 4) out_layout = Layout::kNhwc;
    if (policy == LayoutPolicy::kFollowInput && out_dims.size() == 4) out_layout = values_[in_values[0]].layout;

    if (l.kind == Lowering::Kind::kAlias) {
      const PlanValue& src = values_[in_values[0]];
      current_[out_v] = NewValue(out_dims, src.layout, src.buffer, g_.value(out_v).name);
      Touch(in_values[0], static_cast<int>(steps_.size()) - 1);
      return absl::OkStatus();
    }
    // A lower-rank broadcast operand is viewed with leading 1s (same bytes).
    if (std::holds_alternative<kernels::BinaryParams>(l.params) && in_values.size() == 2 &&
        values_[in_values[1]].dims.size() < out_dims.size()) {
      const PlanValue& b = values_[in_values[1]];
      in_values[1] = NewValue(core::PadLeft(b.dims, out_dims.size()), Layout::kPlain, b.buffer, b.name);
    }
    current_[out_v] = NewValue(out_dims, out_layout, NewBuffer(out_dims), g_.value(out_v).name);
    AddStep({n.name, n.op_type, l.params, in_values, {current_[out_v]}});
    return absl::OkStatus();
  }

  // Graph outputs are plain, in the caller's buffers. The producing step writes
  // there directly unless the bytes are also a graph input, another output, or
  // NHWC; then one copy/reorder step fills the output.
  absl::Status BindOutputs() {
    for (size_t i = 0; i < g_.outputs().size(); ++i) {
      const GraphOutput& o = g_.outputs()[i];
      if (current_[o.value] < 0) {
        return absl::InvalidArgumentError(absl::StrCat("graph output '", o.name,
                                                       "' is a constant; q8serve needs outputs computed from inputs"));
      }
      const int v = current_[o.value];
      Buffer& b = buffers_[values_[v].buffer];
      const bool direct = values_[v].layout == Layout::kPlain || SameBytes(values_[v].dims);
      if (direct && b.storage == kernels::Storage::kArena) {
        b.storage = kernels::Storage::kOutput;
        b.slot = static_cast<int>(i);
        continue;
      }
      const int out = NewValue(values_[v].dims, Layout::kPlain, NewBuffer(values_[v].dims), o.name);
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
    std::sort(order.begin(), order.end(), [&](int a, int b) { return buffers_[a].bytes > buffers_[b].bytes; });
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
      s.dtype = core::DataType::kFloat32;
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
  std::vector<int> current_;  // graph value -> plan value holding it
  std::map<std::pair<ValueId, Layout>, int> converted_;
  std::vector<PlanValue> values_;
  std::vector<Buffer> buffers_;
  std::vector<kernels::StepSpec> steps_;
  int64_t arena_bytes_ = 0;
};

}  // namespace

absl::StatusOr<LoweredGraph> LowerGraph(const Graph& graph, int64_t opset) {
  LoweredGraph lg;
  lg.graph = &graph;
  lg.opset = opset;
  Q8_ASSIGN_OR_RETURN(lg.defs, ResolveOps(graph));
  // Lowering is batch-independent; batch 1 dims give every static dim it needs.
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, InferValueDims(graph, opset, 1));
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    OpContext ctx = MakeOpContext(graph, graph.nodes()[i], opset, dims);
    Q8_ASSIGN_OR_RETURN(Lowering l, lg.defs[i]->lower(ctx));
    lg.lowerings.push_back(std::move(l));
  }
  return lg;
}

absl::StatusOr<kernels::ProgramSpec> PlanProgram(const LoweredGraph& lowered, int64_t batch) {
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, InferValueDims(*lowered.graph, lowered.opset, batch));
  Planner planner(lowered, std::move(dims));
  return planner.Build();
}

}  // namespace q8::engine
