// GridSample (opset 16): 4-D input and grid, both runtime values, lowered to
// kernels::GridSampleParams. The output shape comes from the grid's dims.
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

using kernels::GridSampleParams;

absl::StatusOr<GridSampleParams> Resolve(const OpContext& ctx) {
  const core::Dims& x = ctx.input_dims[0];
  const core::Dims& grid = ctx.input_dims[1];
  if (x.size() != 4 || grid.size() != 4 || grid[0] != x[0] || grid[3] != 2) {
    return ctx.Error(absl::StrCat("X must be [N, C, H, W] and grid [N, H_out, W_out, 2], got ", core::DimsToString(x),
                                  " and ", core::DimsToString(grid)));
  }
  const Attributes& a = ctx.node.attrs;
  GridSampleParams p;
  Q8_ASSIGN_OR_RETURN(const int64_t align, a.GetInt("align_corners", 0));
  p.align_corners = align != 0;
  Q8_ASSIGN_OR_RETURN(const std::string mode, a.GetString("mode", "bilinear"));
  if (mode == "bilinear") {
    p.mode = GridSampleParams::Mode::kBilinear;
  } else if (mode == "nearest") {
    p.mode = GridSampleParams::Mode::kNearest;
  } else if (mode == "bicubic") {
    p.mode = GridSampleParams::Mode::kBicubic;
  } else {
    return ctx.Error(absl::StrCat("unknown mode '", mode, "'"));
  }
  Q8_ASSIGN_OR_RETURN(const std::string padding, a.GetString("padding_mode", "zeros"));
  if (padding == "zeros") {
    p.padding = GridSampleParams::Padding::kZeros;
  } else if (padding == "border") {
    p.padding = GridSampleParams::Padding::kBorder;
  } else if (padding == "reflection") {
    p.padding = GridSampleParams::Padding::kReflection;
  } else {
    return ctx.Error(absl::StrCat("unknown padding_mode '", padding, "'"));
  }
  return p;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferGridSample(const OpContext& ctx) {
  Q8_RETURN_IF_ERROR(Resolve(ctx).status());
  const core::Dims& x = ctx.input_dims[0];
  const core::Dims& grid = ctx.input_dims[1];
  return std::vector<core::Dims>{{x[0], x[1], grid[1], grid[2]}};
}

absl::StatusOr<Lowering> LowerGridSample(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(GridSampleParams p, Resolve(ctx));
  Lowering l;
  l.params = p;
  l.runtime_inputs = {0, 1};
  return l;
}

}  // namespace q8::engine::ops
