// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool on 1-D, 2-D and
// 3-D spatial tensors (rank 3 to 5, N and C first). MaxPool's Indices output,
// when read, is a second step (kernels' MaxPoolIndicesOp).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"
#include "engine/ops/spatial.h"

namespace q8::engine::ops {
namespace {

absl::StatusOr<Window> PoolWindow(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(const size_t spatial, RequireSpatial(ctx));
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, ctx.node.attrs.GetInts("kernel_shape", {}));
  if (kernel.size() != spatial) return ctx.Error(absl::StrCat("kernel_shape must have ", spatial, " entries"));
  const core::Dims& x = ctx.input_dims[0];
  return ResolveWindow(ctx, {x.begin() + 2, x.end()}, kernel, /*allow_ceil_mode=*/true);
}

std::vector<core::Dims> PooledDims(const core::Dims& x, const Window& w) {
  core::Dims out{x[0], x[1]};
  out.insert(out.end(), w.output.begin(), w.output.end());
  return {out};
}

Lowering PoolLowering(const Window& w, kernels::PoolParams::Kind kind, bool count_include_pad) {
  kernels::PoolParams p;
  p.kind = kind;
  p.kernel = w.kernel;
  p.strides = w.strides;
  p.dilations = w.dilations;
  p.pads_begin = w.pads_begin;
  p.pads_end = w.pads_end;
  p.count_include_pad = count_include_pad;
  Lowering l;
  l.params = std::move(p);
  l.runtime_inputs = {0};
  return l;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferMaxPool(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Window w, PoolWindow(ctx));
  Q8_ASSIGN_OR_RETURN(int64_t storage_order, ctx.node.attrs.GetInt("storage_order", 0));
  if (storage_order != 0 && storage_order != 1) return ctx.Error("storage_order must be 0 or 1");
  if (storage_order == 1 && w.kernel.size() != 2) return ctx.Unsupported("storage_order=1 outside 2-D pooling");
  std::vector<core::Dims> dims = PooledDims(ctx.input_dims[0], w);
  if (ctx.node.outputs.size() > 1 && ctx.node.outputs[1] != kNoValue) dims.push_back(dims[0]);  // Indices
  return dims;
}

absl::StatusOr<Lowering> LowerMaxPool(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(InferMaxPool(ctx).status());
  Q8_ASSIGN_OR_RETURN(Window w, PoolWindow(ctx));
  Lowering l = PoolLowering(w, kernels::PoolParams::Kind::kMax, false);
  const bool indices =
      ctx.node.outputs.size() > 1 && ctx.node.outputs[1] != kNoValue &&
      (ctx.graph.IsGraphOutput(ctx.node.outputs[1]) || !ctx.graph.Consumers(ctx.node.outputs[1]).empty());
  if (indices) {
    // A second step over the same input computes ONNX's flat indices (plain C++: oneDNN's workspace is not them).
    Q8_ASSIGN_OR_RETURN(int64_t storage_order, ctx.node.attrs.GetInt("storage_order", 0));
    if (core::NumElements(ctx.input_dims[0]) > (int64_t{1} << 24)) {
      return ctx.Unsupported("the Indices output of an input above 2^24 elements (indices travel as exact FP32)");
    }
    kernels::MaxPoolIndicesOp op{w.kernel, w.strides, w.dilations, w.pads_begin, storage_order == 1};
    l.more_outputs.push_back(kernels::DataOpParams{kernels::DataOp{kernels::ValueOp{std::move(op)}}, {nullptr}});
  }
  return l;
}

absl::StatusOr<std::vector<core::Dims>> InferAveragePool(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Window w, PoolWindow(ctx));
  return PooledDims(ctx.input_dims[0], w);
}

absl::StatusOr<Lowering> LowerAveragePool(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Window w, PoolWindow(ctx));
  for (int64_t d : w.dilations) {
    if (d != 1) return ctx.Unsupported("dilated AveragePool");
  }
  Q8_ASSIGN_OR_RETURN(int64_t include_pad, ctx.node.attrs.GetInt("count_include_pad", 0));
  return PoolLowering(w, kernels::PoolParams::Kind::kAverage, include_pad != 0);
}

absl::StatusOr<std::vector<core::Dims>> InferGlobalPool(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(const size_t spatial, RequireSpatial(ctx));
  const core::Dims& x = ctx.input_dims[0];
  core::Dims out{x[0], x[1]};
  out.resize(2 + spatial, 1);
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerGlobalPool(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(const size_t spatial, RequireSpatial(ctx));
  const core::Dims& x = ctx.input_dims[0];
  Window w;
  w.kernel.assign(x.begin() + 2, x.end());
  w.strides.assign(spatial, 1);
  w.dilations.assign(spatial, 1);
  w.pads_begin.assign(spatial, 0);
  w.pads_end.assign(spatial, 0);
  const bool max = ctx.node.op_type == "GlobalMaxPool";
  return PoolLowering(w, max ? kernels::PoolParams::Kind::kMax : kernels::PoolParams::Kind::kAverage, false);
}

}  // namespace q8::engine::ops
