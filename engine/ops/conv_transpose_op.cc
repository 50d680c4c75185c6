// ConvTranspose: 1-D, 2-D and 3-D transposed convolution with constant
// weights or (f32) weights / bias a request sends, ONNX semantics for pads, output_padding, output_shape, auto_pad,
// dilations and groups; every size overflow-checked.
#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"
#include "engine/ops/spatial.h"

namespace q8::engine::ops {
namespace {

struct Geometry {
  kernels::DeconvParams params;  // without weights/bias
  core::Dims out;
};

absl::StatusOr<Geometry> Resolve(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(const size_t n, RequireSpatial(ctx));
  const core::Tensor* w = ctx.constant(1);
  const core::Dims& wd = w != nullptr ? w->dims() : ctx.input_dims[1];
  const core::Dims& x = ctx.input_dims[0];
  if ((w != nullptr && w->dtype() != core::DataType::kFloat32) || wd.size() != n + 2) {
    return ctx.Error(
        absl::StrCat("weights must be float32 [C, M/group, <", n, " kernel dims>], got ", core::DimsToString(wd)));
  }
  const Attributes& a = ctx.node.attrs;
  Geometry g;
  kernels::DeconvParams& p = g.params;
  Q8_ASSIGN_OR_RETURN(p.groups, a.GetInt("group", 1));
  if (p.groups < 1 || wd[0] != x[1] || x[1] % p.groups != 0) {
    return ctx.Error(absl::StrCat("input has ", x[1], " channels; weights ", core::DimsToString(wd),
                                  " and group=", p.groups, " do not agree"));
  }
  const std::optional<int64_t> oc = core::CheckedMul(wd[1], p.groups);
  if (!oc) return ctx.Error("output channels overflow");
  const std::vector<int64_t> kernel(wd.begin() + 2, wd.end());
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> kshape, a.GetInts("kernel_shape", kernel));
  if (kshape != kernel) return ctx.Error("kernel_shape does not match the weights");
  Q8_ASSIGN_OR_RETURN(p.strides, a.GetInts("strides", std::vector<int64_t>(n, 1)));
  Q8_ASSIGN_OR_RETURN(p.dilations, a.GetInts("dilations", std::vector<int64_t>(n, 1)));
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> pads, a.GetInts("pads", std::vector<int64_t>(2 * n, 0)));
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> out_pad, a.GetInts("output_padding", std::vector<int64_t>(n, 0)));
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> out_shape, a.GetInts("output_shape", {}));
  Q8_ASSIGN_OR_RETURN(std::string auto_pad, a.GetString("auto_pad", "NOTSET"));
  if (out_shape.size() == n + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (p.strides.size() != n || p.dilations.size() != n || pads.size() != 2 * n || out_pad.size() != n ||
      (!out_shape.empty() && out_shape.size() != n)) {
    return ctx.Error(
        absl::StrCat("strides/dilations/pads/output_padding/output_shape do not match ", n, " spatial dims"));
  }
  g.out = {x[0], *oc};
  auto overflow = [&] { return ctx.Error("ConvTranspose size arithmetic overflows"); };
  for (size_t i = 0; i < n; ++i) {
    const int64_t s = p.strides[i], d = p.dilations[i], op = out_pad[i];
    if (s < 1 || d < 1 || op < 0 || op >= std::max(s, d) || pads[i] < 0 || pads[i + n] < 0) {
      return ctx.Error("strides/dilations must be >= 1, pads >= 0, output_padding below stride or dilation");
    }
    // full = stride * (in - 1) + output_padding + (k - 1) * dilation + 1
    const std::optional<int64_t> a1 = core::CheckedMul(s, x[2 + i] - 1);
    const std::optional<int64_t> a2 = core::CheckedMul(kernel[i] - 1, d);
    const std::optional<int64_t> sum = a1 && a2 ? core::CheckedAdd(*a1, *a2) : std::nullopt;
    const std::optional<int64_t> full = sum ? core::CheckedAdd(*sum, op + 1) : std::nullopt;
    if (!full) return overflow();
    int64_t begin = pads[i], end = pads[i + n];
    std::optional<int64_t> target;
    if (!out_shape.empty()) {
      target = out_shape[i];
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      target = core::CheckedMul(x[2 + i], s);
      if (!target) return overflow();
    } else if (auto_pad == "VALID") {
      begin = end = 0;
    } else if (auto_pad != "NOTSET") {
      return ctx.Error(absl::StrCat("unknown auto_pad '", auto_pad, "'"));
    }
    if (target) {
      const std::optional<int64_t> total = core::CheckedSub(*full, *target);
      if (!total) return overflow();
      // A larger output_shape grows the end (like output_padding): negative end pads.
      begin = *total < 0 ? 0 : auto_pad == "SAME_UPPER" ? *total / 2 : *total - *total / 2;
      end = *total - begin;
    }
    const int64_t out = *full - begin - end;
    if (out < 1 || end - op < -(*full)) return ctx.Error("pads or output_shape leave no valid output");
    g.out.push_back(out);
    p.pads_begin.push_back(begin);
    p.pads_end.push_back(end - op);  // oneDNN has no output_padding: fewer end pads
  }
  Q8_RETURN_IF_ERROR(core::CheckedByteSize(core::DataType::kFloat32, g.out, ctx.node.Describe()).status());
  if (const core::Tensor* b = ctx.constant(2)) {
    if (b->num_elements() != *oc || b->dtype() != core::DataType::kFloat32) {
      return ctx.Error(absl::StrCat("bias must be float32 [", *oc, "]"));
    }
  } else if (ctx.has_input(2) && ctx.input_dims[2] != core::Dims{*oc}) {
    return ctx.Error(absl::StrCat("bias must be float32 [", *oc, "], got ", core::DimsToString(ctx.input_dims[2])));
  }
  return g;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferConvTranspose(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Geometry g, Resolve(ctx));
  return std::vector<core::Dims>{g.out};
}

absl::StatusOr<Lowering> LowerConvTranspose(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Geometry g, Resolve(ctx));
  g.params.weights = ctx.shared_constant(1);
  g.params.bias = ctx.shared_constant(2);
  g.params.runtime_weights = g.params.weights == nullptr;
  g.params.runtime_bias = ctx.has_input(2) && g.params.bias == nullptr;
  Lowering l;
  l.runtime_inputs = {0};
  if (g.params.runtime_weights) l.runtime_inputs.push_back(1);
  if (g.params.runtime_bias) l.runtime_inputs.push_back(2);
  l.params = std::move(g.params);
  return l;
}

}  // namespace q8::engine::ops
