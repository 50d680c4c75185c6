// Resolution of the ONNX ops that read integer or boolean values at run time
// (kernels/value_ops.h): GatherElements, ScatterElements, GatherND, ScatterND,
// ArgMax/ArgMin, CumSum, Trilu, Hardmax, Mod, CastLike, the two losses, TopK,
// EyeLike, plus the runtime forms of Gather, Cast, Clip and Dropout. Attributes are
// read and checked here; the result is a ResolvedDataOp, so the op table's
// InferDataOp/LowerDataOp (data_op.cc) serve these rows too. Such values
// travel as FP32 inside a plan (engine/ops/edge_types.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/data_op.h"
#include "engine/ops/op_impls.h"

namespace q8::engine {
namespace {

using Resolved = ResolvedDataOp;

Resolved One(std::vector<int> inputs, kernels::ValueOp op, core::Dims dims) {
  Resolved r;
  r.data_inputs = std::move(inputs);
  r.outputs.push_back({kernels::DataOp{std::move(op)}, std::move(dims)});
  return r;
}

absl::StatusOr<int> AxisAttr(const OpContext& ctx, int64_t fallback, int64_t rank) {
  Q8_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attrs.GetInt("axis", fallback));
  Q8_ASSIGN_OR_RETURN(int64_t a, ops::NormalizeAxis(ctx, axis, rank, false));
  return static_cast<int>(a);
}

// ONNX's `reduction` attribute of ScatterElements and ScatterND.
absl::StatusOr<kernels::ScatterReduction> ScatterReductionAttr(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(std::string reduction, ctx.node.attrs.GetString("reduction", "none"));
  using R = kernels::ScatterReduction;
  if (reduction == "none") return R::kNone;
  if (reduction == "add") return R::kAdd;
  if (reduction == "mul") return R::kMul;
  if (reduction == "max") return R::kMax;
  if (reduction == "min") return R::kMin;
  return ctx.Error(absl::StrCat("unknown reduction '", reduction, "'"));
}

absl::StatusOr<Resolved> GatherElements(const OpContext& ctx, bool scatter) {
  const core::Dims& x = ctx.input_dims[0];
  Q8_ASSIGN_OR_RETURN(int axis, AxisAttr(ctx, 0, x.size()));
  if (!scatter) return One({0, 1}, kernels::GatherElementsOp{axis}, ctx.input_dims[1]);
  Q8_ASSIGN_OR_RETURN(kernels::ScatterReduction r, ScatterReductionAttr(ctx));
  return One({0, 1, 2}, kernels::ScatterElementsOp{axis, r}, x);
}

// GatherND / ScatterND: dims checked here for the node's message; the kernel
// checks them again, and every index per run.
absl::StatusOr<Resolved> GatherScatterND(const OpContext& ctx, bool scatter) {
  const core::Dims& x = ctx.input_dims[0];
  const core::Dims& idx = ctx.input_dims[1];
  int64_t b = 0;
  if (!scatter) {
    Q8_ASSIGN_OR_RETURN(b, ctx.node.attrs.GetInt("batch_dims", 0));
  }
  if (x.empty() || idx.empty()) return ctx.Error("data and indices need rank >= 1");
  if (b < 0 || b >= static_cast<int64_t>(std::min(x.size(), idx.size()))) {
    return ctx.Error(absl::StrCat("batch_dims ", b, " must be below the ranks of data and indices"));
  }
  if (!std::equal(x.begin(), x.begin() + b, idx.begin())) return ctx.Error("data and indices differ in batch dims");
  const int64_t k = idx.back();
  if (k < 1 || k > static_cast<int64_t>(x.size()) - b) {
    return ctx.Error(absl::StrCat("the last axis of indices (", k, ") must be in [1, ", x.size() - b, "]"));
  }
  core::Dims slices(idx.begin(), idx.end() - 1);
  slices.insert(slices.end(), x.begin() + b + k, x.end());
  if (!scatter) return One({0, 1}, kernels::GatherNDOp{static_cast<int>(b)}, std::move(slices));
  if (ctx.input_dims[2] != slices) {
    return ctx.Error(
        absl::StrCat("updates are ", core::DimsToString(ctx.input_dims[2]), "; expected ", core::DimsToString(slices)));
  }
  Q8_ASSIGN_OR_RETURN(kernels::ScatterReduction r, ScatterReductionAttr(ctx));
  return One({0, 1, 2}, kernels::ScatterNDOp{r}, x);
}

absl::StatusOr<Resolved> ArgReduce(const OpContext& ctx, bool max) {
  const core::Dims& x = ctx.input_dims[0];
  Q8_ASSIGN_OR_RETURN(int axis, AxisAttr(ctx, 0, x.size()));
  Q8_ASSIGN_OR_RETURN(int64_t keepdims, ctx.node.attrs.GetInt("keepdims", 1));
  Q8_ASSIGN_OR_RETURN(int64_t last, ctx.node.attrs.GetInt("select_last_index", 0));
  if (x[axis] < 1) return ctx.Error("cannot reduce an empty axis");
  kernels::ArgReduceOp op{axis, keepdims != 0, last != 0, max};
  core::Dims out = x;
  if (op.keepdims) {
    out[axis] = 1;
  } else {
    out.erase(out.begin() + axis);
  }
  return One({0}, op, std::move(out));
}

absl::StatusOr<Resolved> CumSum(const OpContext& ctx) {
  // The axis may be a runtime scalar: it changes no dims, the kernel checks it per request.
  if (ctx.input_dims[0].empty()) return ctx.Error("input must have rank >= 1");
  if (core::NumElements(ctx.input_dims[1]) != 1) return ctx.Error("axis must be one integer");
  if (ctx.constant(1) != nullptr) {
    Q8_ASSIGN_OR_RETURN(std::vector<int64_t> axis, ops::ConstantInts(ctx, 1, "axis"));
    Q8_RETURN_IF_ERROR(ops::NormalizeAxis(ctx, axis[0], ctx.input_dims[0].size(), false).status());
  }
  Q8_ASSIGN_OR_RETURN(int64_t exclusive, ctx.node.attrs.GetInt("exclusive", 0));
  Q8_ASSIGN_OR_RETURN(int64_t reverse, ctx.node.attrs.GetInt("reverse", 0));
  return One({0, 1}, kernels::CumSumOp{exclusive != 0, reverse != 0}, ctx.input_dims[0]);
}

absl::StatusOr<Resolved> Trilu(const OpContext& ctx) {
  if (ctx.input_dims[0].size() < 2) return ctx.Error("input must have rank >= 2");
  Q8_ASSIGN_OR_RETURN(int64_t upper, ctx.node.attrs.GetInt("upper", 1));
  std::vector<int> inputs = {0};
  if (ctx.has_input(1)) {
    if (core::NumElements(ctx.input_dims[1]) != 1) return ctx.Error("k must be a scalar");
    inputs.push_back(1);
  }
  return One(std::move(inputs), kernels::TriluOp{upper != 0}, ctx.input_dims[0]);
}

absl::StatusOr<Resolved> Hardmax(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  if (ctx.opset < 13) return ctx.Unsupported("Hardmax before opset 13 (2-D coerced semantics)");
  Q8_ASSIGN_OR_RETURN(int axis, AxisAttr(ctx, -1, x.size()));
  return One({0}, kernels::HardmaxOp{axis}, x);
}

absl::StatusOr<Resolved> Mod(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int64_t fmod, ctx.node.attrs.GetInt("fmod", 0));
  core::Dims out;
  if (!kernels::BroadcastAll({ctx.input_dims[0], ctx.input_dims[1]}, &out)) {
    return ctx.Error("input shapes do not broadcast");
  }
  return One({0, 1}, kernels::ModOp{fmod != 0}, std::move(out));
}

// The element type CastLike's second input is declared with.
absl::StatusOr<core::DataType> DeclaredType(const OpContext& ctx, int i) {
  if (const core::Tensor* c = ctx.constant(i)) return c->dtype();
  const ValueId v = ctx.node.inputs[i];
  for (const GraphInput& in : ctx.graph.inputs()) {
    if (in.value == v) return in.dtype;
  }
  return ctx.Unsupported("a target_type computed by another node (its element type is not known)");
}

absl::StatusOr<Resolved> Loss(const OpContext& ctx, bool softmax) {
  const core::Dims& s = ctx.input_dims[0];
  if (s.size() < 2) return ctx.Error("scores must be [N, C, d1, ...]");
  core::Dims target = {s[0]};
  target.insert(target.end(), s.begin() + 2, s.end());
  if (ctx.input_dims[1] != target) return ctx.Error(absl::StrCat("target must be ", core::DimsToString(target)));
  kernels::LossOp op;
  op.softmax = softmax;
  Q8_ASSIGN_OR_RETURN(std::string reduction, ctx.node.attrs.GetString("reduction", "mean"));
  if (reduction == "none") {
    op.reduction = kernels::LossOp::Reduction::kNone;
  } else if (reduction == "sum") {
    op.reduction = kernels::LossOp::Reduction::kSum;
  } else if (reduction != "mean") {
    return ctx.Error(absl::StrCat("unknown reduction '", reduction, "'"));
  }
  op.has_ignore_index = ctx.node.attrs.Has("ignore_index");
  Q8_ASSIGN_OR_RETURN(op.ignore_index, ctx.node.attrs.GetInt("ignore_index", 0));
  std::vector<int> inputs = {0, 1};
  if (ctx.has_input(2)) {
    if (ctx.input_dims[2] != core::Dims{s[1]}) return ctx.Error("weight must be [C]");
    op.has_weight = true;
    inputs.push_back(2);
  }
  Resolved r = One(inputs, op, op.reduction == kernels::LossOp::Reduction::kNone ? target : core::Dims{});
  if (softmax && ctx.node.outputs.size() > 1) {
    op.log_prob_output = true;
    r.outputs.push_back({kernels::DataOp{kernels::ValueOp{op}}, s});
  }
  return r;
}

// TopK: K must be known when the plan is built (a constant, or a graph input
// whose values key the plan); outputs Values and Indices, one step each.
absl::StatusOr<Resolved> TopK(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  if (x.empty()) return ctx.Error("input must have rank >= 1");
  Q8_ASSIGN_OR_RETURN(int axis, AxisAttr(ctx, -1, x.size()));
  kernels::TopKOp op;
  op.axis = axis;
  if (ctx.opset < 10) {
    Q8_ASSIGN_OR_RETURN(op.k, ctx.node.attrs.GetInt("k", -1));
  } else {
    Q8_ASSIGN_OR_RETURN(std::vector<int64_t> k, ops::ConstantInts(ctx, 1, "K"));
    if (k.size() != 1) return ctx.Error("K must hold one value");
    op.k = k[0];
  }
  if (op.k < 0 || op.k > x[axis]) {
    return ctx.Error(absl::StrCat("K=", op.k, " is outside [0, ", x[axis], "] for axis ", axis));
  }
  Q8_ASSIGN_OR_RETURN(int64_t largest, ctx.node.attrs.GetInt("largest", 1));
  op.largest = largest != 0;
  core::Dims out = x;
  out[axis] = op.k;
  Resolved r = One({0}, op, out);
  op.indices = true;
  r.outputs.push_back({kernels::DataOp{kernels::ValueOp{op}}, out});
  return r;
}

absl::StatusOr<Resolved> EyeLike(const OpContext& ctx) {
  if (ctx.input_dims[0].size() != 2) return ctx.Error("input must be 2-D");
  Q8_ASSIGN_OR_RETURN(int64_t k, ctx.node.attrs.GetInt("k", 0));
  return One({0}, kernels::EyeLikeOp{k}, ctx.input_dims[0]);
}

}  // namespace

bool IsValueOp(absl::string_view t) {
  for (const char* name :
       {"GatherElements", "ScatterElements", "GatherND", "ScatterND", "ArgMax", "ArgMin", "CumSum", "Trilu", "Hardmax",
        "Mod", "CastLike", "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "TopK", "EyeLike"}) {
    if (t == name) return true;
  }
  return false;
}

absl::StatusOr<ResolvedDataOp> ResolveValueOp(const OpContext& ctx) {
  const std::string& t = ctx.node.op_type;
  if (t == "GatherElements") return GatherElements(ctx, false);
  if (t == "ScatterElements") return GatherElements(ctx, true);
  if (t == "GatherND") return GatherScatterND(ctx, false);
  if (t == "ScatterND") return GatherScatterND(ctx, true);
  if (t == "ArgMax") return ArgReduce(ctx, true);
  if (t == "ArgMin") return ArgReduce(ctx, false);
  if (t == "CumSum") return CumSum(ctx);
  if (t == "Trilu") return Trilu(ctx);
  if (t == "Hardmax") return Hardmax(ctx);
  if (t == "Mod") return Mod(ctx);
  if (t == "TopK") return TopK(ctx);
  if (t == "EyeLike") return EyeLike(ctx);
  if (t == "CastLike") {
    Q8_ASSIGN_OR_RETURN(core::DataType to, DeclaredType(ctx, 1));
    return One({0}, kernels::RoundTripCastOp{to}, ctx.input_dims[0]);
  }
  if (t == "NegativeLogLikelihoodLoss") return Loss(ctx, false);
  if (t == "SoftmaxCrossEntropyLoss") return Loss(ctx, true);
  return ctx.Unsupported("not a value op");
}

absl::StatusOr<ResolvedDataOp> ResolveRuntimeGather(const OpContext& ctx, int axis) {
  const core::Dims& x = ctx.input_dims[0];
  core::Dims out(x.begin(), x.begin() + axis);
  out.insert(out.end(), ctx.input_dims[1].begin(), ctx.input_dims[1].end());
  out.insert(out.end(), x.begin() + axis + 1, x.end());
  return One({0, 1}, kernels::GatherOp{axis}, std::move(out));
}

}  // namespace q8::engine

// Op-table rows whose runtime form is a value op but whose constant form
// lowers elsewhere: Clip (oneDNN eltwise with constant bounds), Dropout (a
// free alias unless training_mode is a runtime input or the mask is read).
namespace q8::engine::ops {

namespace {
Lowering ValueLowering(const OpContext& ctx, std::vector<int> inputs, kernels::ValueOp op) {
  Lowering l;
  kernels::DataOpParams p;
  p.op = kernels::DataOp{std::move(op)};
  for (int i : inputs) {
    auto c = ctx.shared_constant(i);
    if (c == nullptr) l.runtime_inputs.push_back(i);
    p.operands.push_back(std::move(c));
  }
  l.params = std::move(p);
  return l;
}

bool RuntimeClipBounds(const OpContext& ctx) {
  return ctx.opset >= 11 && ((ctx.has_input(1) && !ctx.constant(1)) || (ctx.has_input(2) && !ctx.constant(2)));
}

bool RuntimeTrainingMode(const OpContext& ctx) { return ctx.has_input(2) && ctx.constant(2) == nullptr; }

bool MaskUsed(const OpContext& ctx) {
  if (ctx.node.outputs.size() < 2 || ctx.node.outputs[1] == kNoValue) return false;
  const ValueId mask = ctx.node.outputs[1];
  return ctx.graph.IsGraphOutput(mask) || !ctx.graph.Consumers(mask).empty();
}
}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferClip(const OpContext& ctx) {
  if (!RuntimeClipBounds(ctx)) return InferActivation(ctx);
  for (int i = 1; i <= 2; ++i) {
    if (ctx.has_input(i) && core::NumElements(ctx.input_dims[i]) != 1) return ctx.Error("Clip bounds are scalars");
  }
  return std::vector<core::Dims>{ctx.input_dims[0]};
}

absl::StatusOr<Lowering> LowerClip(const OpContext& ctx) {
  if (!RuntimeClipBounds(ctx)) return LowerActivation(ctx);
  Q8_RETURN_IF_ERROR(InferClip(ctx).status());
  std::vector<int> inputs = {0};
  for (int i = 1; i <= 2; ++i) {
    if (ctx.has_input(i)) inputs.push_back(i);
  }
  return ValueLowering(ctx, std::move(inputs), kernels::ClipOp{ctx.has_input(1), ctx.has_input(2)});
}

absl::StatusOr<std::vector<core::Dims>> InferDropout(const OpContext& ctx) {
  if (ctx.has_input(1) && core::NumElements(ctx.input_dims[1]) != 1) return ctx.Error("ratio must be a scalar");
  if (ctx.has_input(2) && core::NumElements(ctx.input_dims[2]) != 1) return ctx.Error("training_mode must be a scalar");
  // A constant ratio of 0 drops nothing even in training (torchvision 0.14's
  // Swin exports its attention dropout so: training_mode true, p = 0).
  const core::Tensor* ratio = ctx.has_input(1) ? ctx.constant(1) : nullptr;
  const bool no_drop = ratio != nullptr && ratio->has_storage() && ratio->dtype() == core::DataType::kFloat32 &&
                       ratio->span<float>()[0] == 0.0f;
  if (ctx.has_input(2) && !RuntimeTrainingMode(ctx) && ctx.constant(2)->span<uint8_t>()[0] != 0 && !no_drop) {
    return ctx.Unsupported("training_mode other than a constant false (Dropout in training)");
  }
  std::vector<core::Dims> dims = {ctx.input_dims[0]};
  if (ctx.node.outputs.size() > 1 && ctx.node.outputs[1] != kNoValue) dims.push_back(ctx.input_dims[0]);
  return dims;
}

absl::StatusOr<Lowering> LowerDropout(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferDropout(ctx).status());
  const bool runtime_mode = RuntimeTrainingMode(ctx);
  if (!runtime_mode && !MaskUsed(ctx)) return LowerIdentity(ctx);
  // x, then a runtime training_mode and the ratio that may excuse it.
  std::vector<int> inputs = {0};
  if (runtime_mode) inputs.push_back(2);
  const bool ratio = runtime_mode && ctx.has_input(1);
  if (ratio) inputs.push_back(1);
  kernels::DropoutGateOp gate{runtime_mode, ratio, false};
  Lowering l = ValueLowering(ctx, inputs, gate);
  if (MaskUsed(ctx)) {
    // Whenever the gate lets a request through nothing is dropped: the mask is all true.
    gate.mask = true;
    l.more_outputs.push_back(ValueLowering(ctx, inputs, gate).params);
  }
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferCast(const OpContext& ctx) { return InferDataOp(ctx); }

absl::StatusOr<Lowering> LowerCast(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int64_t to, ctx.node.attrs.GetInt("to", 0));
  const std::optional<core::DataType> dtype = core::FromOnnxCode(static_cast<int>(to));
  if (!dtype) return ctx.Unsupported(absl::StrCat("Cast to ONNX element type ", to));
  if (ctx.constant(0) != nullptr) return ctx.Unsupported("a node whose inputs are all constants but were not folded");
  return ValueLowering(ctx, {0}, kernels::RoundTripCastOp{*dtype});
}

}  // namespace q8::engine::ops
