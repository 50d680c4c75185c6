// Conv: 1-D, 2-D and 3-D convolution (groups, depthwise, dilation, auto_pad)
// with constant weights, or in f32 with weights / bias a request sends or the
// graph computes (their dims are this plan's, checked here like constants').
// Activations fused by passes arrive in node.fused.
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"
#include "engine/ops/spatial.h"

namespace q8::engine::ops {
namespace {

struct ConvGeometry {
  Window window;
  int64_t groups = 1;
  int64_t out_channels = 0;
};

absl::StatusOr<ConvGeometry> Resolve(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(const size_t spatial, RequireSpatial(ctx));
  const core::Tensor* w = ctx.constant(1);
  const core::Dims& wd = w != nullptr ? w->dims() : ctx.input_dims[1];
  if ((w != nullptr && w->dtype() != core::DataType::kFloat32) || wd.size() != spatial + 2) {
    return ctx.Error(absl::StrCat("weights must be float32 [OC, IC/group, <", spatial, " kernel dims>], got ",
                                  core::DimsToString(wd)));
  }
  const core::Dims& x = ctx.input_dims[0];
  ConvGeometry g;
  Q8_ASSIGN_OR_RETURN(g.groups, ctx.node.attrs.GetInt("group", 1));
  g.out_channels = wd[0];
  if (g.groups < 1 || x[1] % g.groups != 0 || g.out_channels % g.groups != 0 || wd[1] * g.groups != x[1]) {
    return ctx.Error(absl::StrCat("input has ", x[1], " channels, weights ", core::DimsToString(wd),
                                  " and group=", g.groups, " do not agree"));
  }
  const std::vector<int64_t> kernel(wd.begin() + 2, wd.end());
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> kshape, ctx.node.attrs.GetInts("kernel_shape", kernel));
  if (kshape != kernel) return ctx.Error("kernel_shape does not match the weights");
  Q8_ASSIGN_OR_RETURN(g.window, ResolveWindow(ctx, {x.begin() + 2, x.end()}, kernel, /*allow_ceil_mode=*/false));
  if (const core::Tensor* b = ctx.constant(2)) {
    if (b->num_elements() != g.out_channels || b->dtype() != core::DataType::kFloat32) {
      return ctx.Error(absl::StrCat("bias must be float32 [", g.out_channels, "]"));
    }
  } else if (ctx.has_input(2) && ctx.input_dims[2] != core::Dims{g.out_channels}) {
    return ctx.Error(
        absl::StrCat("bias must be float32 [", g.out_channels, "], got ", core::DimsToString(ctx.input_dims[2])));
  }
  return g;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferConv(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(ConvGeometry g, Resolve(ctx));
  const core::Dims& x = ctx.input_dims[0];
  core::Dims out{x[0], g.out_channels};
  out.insert(out.end(), g.window.output.begin(), g.window.output.end());
  return std::vector<core::Dims>{out};
}

absl::StatusOr<Lowering> LowerConv(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(ConvGeometry g, Resolve(ctx));
  kernels::ConvParams p;
  p.weights = ctx.shared_constant(1);
  p.bias = ctx.shared_constant(2);
  p.strides = g.window.strides;
  p.dilations = g.window.dilations;
  p.pads_begin = g.window.pads_begin;
  p.pads_end = g.window.pads_end;
  p.groups = g.groups;
  p.post_ops = PostOps(ctx.node);
  p.accumulate = ctx.node.accumulate;
  p.runtime_weights = p.weights == nullptr;
  p.runtime_bias = ctx.has_input(2) && p.bias == nullptr;
  Lowering l;
  l.runtime_inputs = {0};
  // Kernel order: X, the residual, then runtime W and B.
  if (ctx.node.accumulate) l.runtime_inputs.push_back(3);
  if (p.runtime_weights) l.runtime_inputs.push_back(1);
  if (p.runtime_bias) l.runtime_inputs.push_back(2);
  l.params = std::move(p);
  return l;
}

}  // namespace q8::engine::ops
