// Owns ResolveDataOp (data_op.h): ONNX semantics of each data-movement op,
// per opset, reduced to index maps. Every size is overflow-checked before
// anything is sized from it; out-of-range indices are refused (Gather) or
// clamped as the ONNX spec says (Slice).
#include "engine/ops/data_op.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine {
namespace {

using kernels::AxisMapOp;
using Resolved = ResolvedDataOp;

absl::StatusOr<int64_t> Axis(const OpContext& ctx, int64_t axis, int64_t rank) {
  return ops::NormalizeAxis(ctx, axis, rank, /*inclusive_end=*/false);
}

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// The identity map over `dims` (copy); ops then edit the axes they change.
AxisMapOp Identity(const core::Dims& dims) {
  AxisMapOp op;
  op.in_dims = op.out_dims = dims;
  for (size_t d = 0; d < dims.size(); ++d) {
    op.src_axis.push_back(static_cast<int>(d));
    op.index.push_back(Iota(dims[d]));
  }
  return op;
}

Resolved Single(std::vector<int> inputs, kernels::DataOp op, core::Dims dims) {
  Resolved r;
  r.data_inputs = std::move(inputs);
  r.outputs.push_back({std::move(op), std::move(dims)});
  return r;
}

absl::Status CheckSize(const OpContext& ctx, const core::Dims& dims) {
  absl::Status s = core::CheckedByteSize(core::DataType::kFloat64, dims, ctx.node.Describe()).status();
  return s.ok() ? s : absl::InvalidArgumentError(s.message());
}

absl::StatusOr<Resolved> Gather(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  Q8_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.attrs.GetInt("axis", 0));
  Q8_ASSIGN_OR_RETURN(int64_t axis, Axis(ctx, axis_attr, x.size()));
  // Runtime indices (token ids) are checked per request by the kernel.
  if (ctx.constant(1) == nullptr) return ResolveRuntimeGather(ctx, static_cast<int>(axis));
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> indices, ops::ConstantInts(ctx, 1, "indices"));
  const int64_t n = x[axis];
  for (int64_t& i : indices) {
    if (i < -n || i >= n) return ctx.Error(absl::StrCat("index ", i, " is out of range for axis size ", n));
    if (i < 0) i += n;
  }
  AxisMapOp op = Identity(x);
  op.out_dims[axis] = static_cast<int64_t>(indices.size());
  op.index[axis] = std::move(indices);
  core::Dims out(x.begin(), x.begin() + axis);
  const core::Dims& idx_dims = ctx.constant(1)->dims();
  out.insert(out.end(), idx_dims.begin(), idx_dims.end());
  out.insert(out.end(), x.begin() + axis + 1, x.end());
  Q8_RETURN_IF_ERROR(CheckSize(ctx, out));
  return Single({0}, std::move(op), std::move(out));
}

// One axis of a Slice, clamped as the ONNX spec says.
absl::Status SliceAxis(const OpContext& ctx, AxisMapOp& op, int64_t axis, int64_t start, int64_t end, int64_t step) {
  if (step == 0) return ctx.Error("slice step must not be 0");
  const int64_t n = op.in_dims[axis];
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, 0, n);
  } else {
    start = std::clamp<int64_t>(start, 0, n - 1);
    end = std::clamp<int64_t>(end, -1, n - 1);
  }
  // |end - start| <= n + 1 here, so nothing below overflows.
  const int64_t span = end - start;
  const int64_t count = (step > 0) == (span > 0) && span != 0 ? (span + step + (step > 0 ? -1 : 1)) / step : 0;
  std::vector<int64_t> index(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (size_t o = 0; o < index.size(); ++o) index[o] = start + static_cast<int64_t>(o) * step;
  op.out_dims[axis] = static_cast<int64_t>(index.size());
  op.index[axis] = std::move(index);
  return absl::OkStatus();
}

absl::StatusOr<Resolved> Slice(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  const int64_t rank = x.size();
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {
    Q8_ASSIGN_OR_RETURN(starts, ctx.node.attrs.GetInts("starts", {}));
    Q8_ASSIGN_OR_RETURN(ends, ctx.node.attrs.GetInts("ends", {}));
    Q8_ASSIGN_OR_RETURN(axes, ctx.node.attrs.GetInts("axes", {}));
  } else {
    if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.Error("starts and ends are required");
    Q8_ASSIGN_OR_RETURN(starts, ops::ConstantInts(ctx, 1, "starts"));
    Q8_ASSIGN_OR_RETURN(ends, ops::ConstantInts(ctx, 2, "ends"));
    if (ctx.has_input(3)) {
      Q8_ASSIGN_OR_RETURN(axes, ops::ConstantInts(ctx, 3, "axes"));
    }
    if (ctx.has_input(4)) {
      Q8_ASSIGN_OR_RETURN(steps, ops::ConstantInts(ctx, 4, "steps"));
    }
  }
  if (axes.empty()) axes = Iota(static_cast<int64_t>(starts.size()));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    return ctx.Error("starts, ends, axes and steps differ in length");
  }
  AxisMapOp op = Identity(x);
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < starts.size(); ++k) {
    Q8_ASSIGN_OR_RETURN(int64_t axis, Axis(ctx, axes[k], rank));
    if (seen[axis]) return ctx.Error(absl::StrCat("axis ", axis, " is sliced twice"));
    seen[axis] = true;
    Q8_RETURN_IF_ERROR(SliceAxis(ctx, op, axis, starts[k], ends[k], steps[k]));
  }
  core::Dims out = op.out_dims;
  return Single({0}, std::move(op), std::move(out));
}

absl::StatusOr<Resolved> Split(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  Q8_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.attrs.GetInt("axis", 0));
  Q8_ASSIGN_OR_RETURN(int64_t axis, Axis(ctx, axis_attr, x.size()));
  std::vector<int64_t> sizes;
  if (ctx.opset >= 13 && ctx.has_input(1)) {
    Q8_ASSIGN_OR_RETURN(sizes, ops::ConstantInts(ctx, 1, "split"));
  } else if (ctx.opset < 13) {
    Q8_ASSIGN_OR_RETURN(sizes, ctx.node.attrs.GetInts("split", {}));
  }
  const int64_t n = x[axis];
  const int64_t outputs = static_cast<int64_t>(ctx.node.outputs.size());
  if (sizes.empty()) {
    Q8_ASSIGN_OR_RETURN(int64_t num_outputs, ctx.node.attrs.GetInt("num_outputs", outputs));
    if (num_outputs != outputs || outputs <= 0) return ctx.Error("num_outputs differs from the node's outputs");
    const int64_t chunk = (n + outputs - 1) / outputs;
    if (ctx.opset < 18 && n % outputs != 0) {
      return ctx.Error(absl::StrCat("axis of size ", n, " does not split evenly into ", outputs));
    }
    for (int64_t k = 0, left = n; k < outputs; ++k, left -= chunk) sizes.push_back(std::min(chunk, left));
  }
  if (static_cast<int64_t>(sizes.size()) != outputs) return ctx.Error("split sizes differ from the output count");
  int64_t total = 0;
  for (int64_t s : sizes) {
    const std::optional<int64_t> next = s < 0 ? std::nullopt : core::CheckedAdd(total, s);
    if (!next) return ctx.Error("split sizes are negative or overflow");
    total = *next;
  }
  if (total != n) return ctx.Error(absl::StrCat("split sizes add up to ", total, ", not the axis size ", n));
  Resolved r;
  r.data_inputs = {0};
  int64_t begin = 0;
  for (int64_t s : sizes) {
    AxisMapOp op = Identity(x);
    Q8_RETURN_IF_ERROR(SliceAxis(ctx, op, axis, begin, begin + s, 1));
    begin += s;
    core::Dims dims = op.out_dims;
    r.outputs.push_back({std::move(op), std::move(dims)});
  }
  return r;
}

// Source index along one padded axis; -1 = the constant value.
int64_t PadSource(int64_t s, int64_t n, absl::string_view mode) {
  if (s >= 0 && s < n) return s;
  if (mode == "constant") return -1;
  if (mode == "edge" || n == 1) return s < 0 ? 0 : n - 1;
  const int64_t period = 2 * (n - 1);  // reflect without repeating the edge
  int64_t r = s % period;
  if (r < 0) r += period;
  return r < n ? r : period - r;
}

absl::StatusOr<Resolved> Pad(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  const int64_t rank = x.size();
  Q8_ASSIGN_OR_RETURN(std::string mode, ctx.node.attrs.GetString("mode", "constant"));
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    return ctx.Unsupported(absl::StrCat("Pad mode '", mode, "'"));
  }
  std::vector<int64_t> pads;
  double value = 0;
  std::vector<int64_t> axes = Iota(rank);
  if (ctx.opset < 11) {
    Q8_ASSIGN_OR_RETURN(pads, ctx.node.attrs.GetInts(ctx.opset < 2 ? "paddings" : "pads", {}));
    Q8_ASSIGN_OR_RETURN(float v, ctx.node.attrs.GetFloat("value", 0.0f));
    value = v;
  } else {
    Q8_ASSIGN_OR_RETURN(pads, ops::ConstantInts(ctx, 1, "pads"));
    if (ctx.has_input(2)) {
      const core::Tensor* c = ctx.constant(2);
      if (c == nullptr) return ctx.Unsupported("a runtime constant_value (only a constant)");
      if (c->num_elements() != 1 || !c->has_storage()) return ctx.Error("constant_value must be one element");
      core::Tensor as_double(core::DataType::kFloat64, {});
      Q8_RETURN_IF_ERROR(kernels::RunDataOp(kernels::CastOp{core::DataType::kFloat64}, {c->view()},
                                            core::MutableTensorView{as_double.dtype(), c->dims(), as_double.data()}));
      value = as_double.span<double>()[0];
    }
    if (ctx.has_input(3)) {
      Q8_ASSIGN_OR_RETURN(axes, ops::ConstantInts(ctx, 3, "axes"));
      for (int64_t& a : axes) {
        Q8_ASSIGN_OR_RETURN(a, Axis(ctx, a, rank));
      }
    }
  }
  const size_t k = axes.size();
  if (pads.size() != 2 * k) return ctx.Error(absl::StrCat("pads has ", pads.size(), " entries; expected ", 2 * k));
  AxisMapOp op = Identity(x);
  op.fill = value;
  for (size_t j = 0; j < k; ++j) {
    const int64_t axis = axes[j], n = x[axis], begin = pads[j], end = pads[j + k];
    const std::optional<int64_t> grown = core::CheckedAdd(n, begin);
    const std::optional<int64_t> out = grown ? core::CheckedAdd(*grown, end) : std::nullopt;
    if (!out || *out < 0) return ctx.Error("padded size is negative or overflows");
    if (n == 0 && *out > 0 && mode != "constant") return ctx.Error("cannot reflect or extend an empty axis");
    Q8_RETURN_IF_ERROR(CheckSize(ctx, {*out}));
    std::vector<int64_t> index(static_cast<size_t>(*out));
    for (int64_t o = 0; o < *out; ++o) index[o] = PadSource(o - begin, n, mode);
    op.out_dims[axis] = *out;
    op.index[axis] = std::move(index);
  }
  core::Dims out = op.out_dims;
  Q8_RETURN_IF_ERROR(CheckSize(ctx, out));
  return Single({0}, std::move(op), std::move(out));
}

absl::StatusOr<Resolved> Expand(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ops::ConstantInts(ctx, 1, "shape"));
  for (int64_t d : shape) {
    if (d < 0) return ctx.Error("shape has a negative dimension");
  }
  core::Dims out;
  if (!core::BroadcastShapes(ctx.input_dims[0], shape, &out)) {
    return ctx.Error(
        absl::StrCat("cannot expand ", core::DimsToString(ctx.input_dims[0]), " to ", core::DimsToString(shape)));
  }
  Q8_RETURN_IF_ERROR(CheckSize(ctx, out));
  const core::Dims in = core::PadLeft(ctx.input_dims[0], out.size());
  AxisMapOp op = Identity(in);
  op.out_dims = out;
  for (size_t d = 0; d < out.size(); ++d) {
    if (in[d] == 1) op.index[d].assign(static_cast<size_t>(out[d]), 0);
  }
  return Single({0}, std::move(op), std::move(out));
}

absl::StatusOr<Resolved> Tile(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, ops::ConstantInts(ctx, 1, "repeats"));
  if (repeats.size() != x.size()) return ctx.Error("repeats length differs from the input rank");
  AxisMapOp op = Identity(x);
  for (size_t d = 0; d < x.size(); ++d) {
    const std::optional<int64_t> n = repeats[d] < 0 ? std::nullopt : core::CheckedMul(x[d], repeats[d]);
    if (!n) return ctx.Error("repeats are negative or overflow");
    Q8_RETURN_IF_ERROR(CheckSize(ctx, {*n}));
    op.out_dims[d] = *n;
    op.index[d].resize(static_cast<size_t>(*n));
    for (int64_t o = 0; o < *n; ++o) op.index[d][o] = o % x[d];
  }
  core::Dims out = op.out_dims;
  Q8_RETURN_IF_ERROR(CheckSize(ctx, out));
  return Single({0}, std::move(op), std::move(out));
}

absl::StatusOr<Resolved> Transpose(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ops::Permutation(ctx));
  AxisMapOp op = Identity(x);
  for (size_t d = 0; d < x.size(); ++d) {
    const int64_t p = perm[d];
    op.src_axis[d] = static_cast<int>(p);
    op.out_dims[d] = x[p];
    op.index[d] = Iota(x[p]);
  }
  core::Dims out = op.out_dims;
  return Single({0}, std::move(op), std::move(out));
}

// DepthToSpace / SpaceToDepth: a reshape to 6-D, a transpose, a reshape back.
absl::StatusOr<Resolved> DepthSpace(const OpContext& ctx, bool to_space) {
  const core::Dims& x = ctx.input_dims[0];
  if (x.size() != 4) return ctx.Error("input must be 4-D");
  Q8_ASSIGN_OR_RETURN(int64_t b, ctx.node.attrs.GetInt("blocksize", 0));
  Q8_ASSIGN_OR_RETURN(std::string mode, ctx.node.attrs.GetString("mode", "DCR"));
  const int64_t n = x[0], c = x[1], h = x[2], w = x[3];
  const std::optional<int64_t> bb = b > 0 ? core::CheckedMul(b, b) : std::nullopt;
  if (!bb) return ctx.Error("blocksize must be positive");
  core::Dims view, out;
  std::vector<int> perm;
  if (to_space) {
    if (c % *bb != 0) return ctx.Error("channels are not a multiple of blocksize^2");
    if (mode != "DCR" && mode != "CRD") return ctx.Error("mode must be DCR or CRD");
    const int64_t oc = c / *bb;
    view = mode == "DCR" ? core::Dims{n, b, b, oc, h, w} : core::Dims{n, oc, b, b, h, w};
    perm = mode == "DCR" ? std::vector<int>{0, 3, 4, 1, 5, 2} : std::vector<int>{0, 1, 4, 2, 5, 3};
    const std::optional<int64_t> oh = core::CheckedMul(h, b), ow = core::CheckedMul(w, b);
    if (!oh || !ow) return ctx.Error("output size overflows");
    out = {n, oc, *oh, *ow};
  } else {
    if (h % b != 0 || w % b != 0) return ctx.Error("height and width must be multiples of blocksize");
    view = {n, c, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
    const std::optional<int64_t> oc = core::CheckedMul(c, *bb);
    if (!oc) return ctx.Error("output size overflows");
    out = {n, *oc, h / b, w / b};
  }
  AxisMapOp op = Identity(view);
  for (size_t d = 0; d < 6; ++d) {
    op.src_axis[d] = perm[d];
    op.out_dims[d] = view[perm[d]];
    op.index[d] = Iota(view[perm[d]]);
  }
  Q8_RETURN_IF_ERROR(CheckSize(ctx, out));
  return Single({0}, std::move(op), std::move(out));
}

absl::StatusOr<Resolved> Concat(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int64_t axis, ops::ConcatAxis(ctx));
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> out, ops::InferConcat(ctx));
  Q8_RETURN_IF_ERROR(CheckSize(ctx, out[0]));
  std::vector<int> inputs(ctx.num_inputs());
  std::iota(inputs.begin(), inputs.end(), 0);
  return Single(std::move(inputs), kernels::ConcatOp{static_cast<int>(axis)}, std::move(out[0]));
}

absl::StatusOr<Resolved> Broadcasting(const OpContext& ctx, kernels::DataOp op) {
  std::vector<int> inputs;
  for (int i = 0; i < ctx.num_inputs(); ++i) inputs.push_back(i);
  core::Dims out;
  if (!kernels::BroadcastAll(ctx.input_dims, &out)) return ctx.Error("input shapes do not broadcast");
  Q8_RETURN_IF_ERROR(CheckSize(ctx, out));
  return Single(std::move(inputs), std::move(op), std::move(out));
}

absl::StatusOr<Resolved> Cast(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(int64_t to, ctx.node.attrs.GetInt("to", 0));
  const std::optional<core::DataType> dtype = core::FromOnnxCode(static_cast<int>(to));
  if (!dtype) return ctx.Unsupported(absl::StrCat("Cast to ONNX element type ", to));
  return Single({0}, kernels::CastOp{*dtype}, ctx.input_dims[0]);
}

}  // namespace

bool IsDataOp(absl::string_view t) {
  // GatherND and ScatterND are value ops whose result keeps the data's type,
  // so constant evaluation folds them too (Swin's shifted-window attention
  // mask is a ScatterND over per-plan constants).
  for (const char* name :
       {"Gather", "Slice", "Split", "Pad", "Expand", "Tile", "Transpose", "DepthToSpace", "SpaceToDepth", "Concat",
        "Where", "Cast", "Not", "And", "Or", "Xor", "GatherND", "ScatterND"}) {
    if (t == name) return true;
  }
  return false;
}

absl::StatusOr<ResolvedDataOp> ResolveDataOp(const OpContext& ctx) {
  const std::string& t = ctx.node.op_type;
  if (ctx.input_dims.empty()) return ctx.Error("needs an input");
  if (ctx.input_dims[0].size() > 16) return ctx.Unsupported("tensors of rank above 16");
  if (IsValueOp(t)) return ResolveValueOp(ctx);
  if (t == "Gather") return Gather(ctx);
  if (t == "Slice") return Slice(ctx);
  if (t == "Split") return Split(ctx);
  if (t == "Pad") return Pad(ctx);
  if (t == "Expand") return Expand(ctx);
  if (t == "Tile") return Tile(ctx);
  if (t == "Transpose") return Transpose(ctx);
  if (t == "DepthToSpace") return DepthSpace(ctx, true);
  if (t == "SpaceToDepth") return DepthSpace(ctx, false);
  if (t == "Concat") return Concat(ctx);
  if (t == "Where") return Broadcasting(ctx, kernels::WhereOp{});
  if (t == "Cast") return Cast(ctx);
  if (t == "Not") return Broadcasting(ctx, kernels::LogicalOp{kernels::LogicalOp::Kind::kNot});
  if (t == "And") return Broadcasting(ctx, kernels::LogicalOp{kernels::LogicalOp::Kind::kAnd});
  if (t == "Or") return Broadcasting(ctx, kernels::LogicalOp{kernels::LogicalOp::Kind::kOr});
  if (t == "Xor") return Broadcasting(ctx, kernels::LogicalOp{kernels::LogicalOp::Kind::kXor});
  return ctx.Unsupported("not a data op");
}

}  // namespace q8::engine

// The op-table face of the data ops: shapes and lowering to a DataOpParams
// step (or a free alias for Squeeze/Unsqueeze).
namespace q8::engine::ops {
namespace {

// Squeeze/Unsqueeze axes: an attribute before opset 13, input 1 from then on.
absl::StatusOr<std::vector<int64_t>> SqueezeAxes(const OpContext& ctx) {
  if (ctx.opset >= 13) {
    if (!ctx.has_input(1)) return std::vector<int64_t>{};
    return ops::ConstantInts(ctx, 1, "axes");
  }
  return ctx.node.attrs.GetInts("axes", {});
}

}  // namespace

// The integers of constant input `i` (INT64 or INT32), or "not supported"
// when that input is computed at run time.
absl::StatusOr<std::vector<int64_t>> ConstantInts(const OpContext& ctx, int i, absl::string_view what) {
  const core::Tensor* t = ctx.constant(i);
  if (t == nullptr) return ctx.Unsupported(absl::StrCat("a runtime ", what, " input (only constant ", what, ")"));
  if (!t->has_storage()) return ctx.Error(absl::StrCat(what, " has no data"));
  std::vector<int64_t> v;
  if (t->dtype() == core::DataType::kInt64) {
    v.assign(t->span<int64_t>().begin(), t->span<int64_t>().end());
  } else if (t->dtype() == core::DataType::kInt32) {
    v.assign(t->span<int32_t>().begin(), t->span<int32_t>().end());
  } else {
    return ctx.Error(absl::StrCat(what, " must be INT64 or INT32"));
  }
  return v;
}

absl::StatusOr<std::vector<core::Dims>> InferDataOp(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(ResolvedDataOp r, ResolveDataOp(ctx));
  std::vector<core::Dims> dims;
  for (ResolvedDataOp::Output& o : r.outputs) dims.push_back(std::move(o.dims));
  return dims;
}

absl::StatusOr<Lowering> LowerDataOp(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(ResolvedDataOp r, ResolveDataOp(ctx));
  Lowering l;
  kernels::DataOpParams p;
  p.op = std::move(r.outputs[0].op);
  std::vector<core::DataType> types;
  for (int i : r.data_inputs) {
    auto c = ctx.shared_constant(i);
    types.push_back(c ? c->dtype() : core::DataType::kFloat32);  // runtime tensors are FP32
    if (c == nullptr) l.runtime_inputs.push_back(i);
    p.operands.push_back(std::move(c));
  }
  for (size_t k = 1; k < r.outputs.size(); ++k) {
    kernels::DataOpParams more = p;
    more.op = std::move(r.outputs[k].op);
    l.more_outputs.push_back(std::move(more));
  }
  auto type = kernels::DataOpOutputType(p.op, types);
  if (!type.ok()) return ctx.Unsupported(absl::StrCat(type.status().message(), " (runtime tensors are FP32)"));
  if (*type != core::DataType::kFloat32) {
    return ctx.Unsupported(absl::StrCat("a ", core::OipName(*type), " result computed from runtime tensors"));
  }
  if (l.runtime_inputs.empty()) return ctx.Unsupported("a node whose inputs are all constants but were not folded");
  l.params = std::move(p);
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferSqueeze(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  const int64_t rank = x.size();
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> axes, SqueezeAxes(ctx));
  std::vector<bool> drop(rank, false);
  for (int64_t a : axes) {
    Q8_ASSIGN_OR_RETURN(int64_t axis, Axis(ctx, a, rank));
    if (x[axis] != 1) return ctx.Error(absl::StrCat("cannot squeeze axis ", axis, " of size ", x[axis]));
    drop[axis] = true;
  }
  core::Dims out;
  for (int64_t d = 0; d < rank; ++d) {
    if (!(axes.empty() ? x[d] == 1 : drop[d])) out.push_back(x[d]);
  }
  return std::vector<core::Dims>{out};
}

absl::StatusOr<std::vector<core::Dims>> InferUnsqueeze(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> axes, SqueezeAxes(ctx));
  const std::optional<int64_t> rank = core::CheckedAdd(static_cast<int64_t>(x.size()), axes.size());
  if (axes.empty() || !rank || *rank > 64) return ctx.Error("axes must list 1 to 64 new axes");
  std::vector<bool> added(*rank, false);
  for (int64_t a : axes) {
    Q8_ASSIGN_OR_RETURN(int64_t axis, Axis(ctx, a, *rank));
    if (added[axis]) return ctx.Error(absl::StrCat("axis ", axis, " is listed twice"));
    added[axis] = true;
  }
  core::Dims out;
  size_t next = 0;
  for (int64_t d = 0; d < *rank; ++d) out.push_back(added[d] ? 1 : x[next++]);
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerSqueeze(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferSqueeze(ctx).status());
  return AliasLowering();
}

absl::StatusOr<Lowering> LowerUnsqueeze(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferUnsqueeze(ctx).status());
  return AliasLowering();
}

}  // namespace q8::engine::ops
