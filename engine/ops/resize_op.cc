// Resize (opset 10, 11, 13, 18/19) and Upsample (opset 7, 9): output size from
// constant scales or sizes, lowered to kernels::ResizeParams with ONNX's
// modes (nearest with its four rounding modes, linear, cubic) and coordinate
// transformations. Before opset 11 the transformation is asymmetric and
// nearest rounds down when upsampling (up when downsampling), as ONNX
// Runtime does. Scales, sizes and roi that come from small graph inputs key
// the plan (plan/specialize.h), so they are constants here too; computed from
// other runtime data they would make the output shape data-dependent: refused.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

using kernels::ResizeParams;

constexpr char kFromData[] =
    " from data (the output shape would depend on them; constants and small graph inputs, whose values key "
    "plans, are accepted)";

struct Geometry {
  ResizeParams params;
  core::Dims out;
};

absl::StatusOr<std::vector<double>> FloatValues(const OpContext& ctx, const core::Tensor& t, const char* what) {
  std::vector<double> v;
  if (t.dtype() == core::DataType::kFloat32) {
    for (float f : t.span<float>()) v.push_back(static_cast<double>(f));
  } else if (t.dtype() == core::DataType::kFloat64) {
    for (double f : t.span<double>()) v.push_back(f);
  } else {
    return ctx.Error(absl::StrCat(what, " must be float32"));
  }
  return v;
}

absl::StatusOr<Geometry> Resolve(const OpContext& ctx) {
  const Attributes& a = ctx.node.attrs;
  const core::Dims& x = ctx.input_dims[0];
  const size_t rank = x.size();
  const bool upsample = ctx.node.op_type == "Upsample";
  const bool legacy = upsample || ctx.opset < 11;  // Upsample and Resize-10: X, scales
  Geometry g;
  ResizeParams& p = g.params;
  Q8_ASSIGN_OR_RETURN(std::string mode, a.GetString("mode", "nearest"));
  if (mode == "nearest") {
    p.mode = ResizeParams::Mode::kNearest;
  } else if (mode == "linear" || (legacy && mode == "bilinear")) {
    p.mode = ResizeParams::Mode::kLinear;
  } else if (mode == "cubic" && !legacy) {
    p.mode = ResizeParams::Mode::kCubic;
  } else {
    return ctx.Error(absl::StrCat("unknown mode '", mode, "'"));
  }
  if (rank == 0) return ctx.Error("input must have at least one dimension");

  // Scales (may be empty) and sizes, per axis of `axes` (opset 18) or all axes.
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  if (upsample && ctx.opset < 9) {
    Q8_ASSIGN_OR_RETURN(std::vector<float> s, a.GetFloats("scales"));
    scales.assign(s.begin(), s.end());
  } else {
    const int scales_slot = legacy ? 1 : 2;
    if (ctx.has_input(scales_slot)) {
      const core::Tensor* t = ctx.constant(scales_slot);
      if (t == nullptr) return ctx.Unsupported(absl::StrCat("scales computed at run time", kFromData));
      Q8_ASSIGN_OR_RETURN(scales, FloatValues(ctx, *t, "scales"));
    }
    if (!legacy && ctx.has_input(3)) {
      const core::Tensor* t = ctx.constant(3);
      if (t == nullptr) return ctx.Unsupported(absl::StrCat("sizes computed at run time", kFromData));
      if (t->dtype() != core::DataType::kInt64) return ctx.Error("sizes must be int64");
      sizes.assign(t->span<int64_t>().begin(), t->span<int64_t>().end());
    }
  }
  if (scales.empty() == sizes.empty()) return ctx.Error("exactly one of scales and sizes must be given");
  Q8_ASSIGN_OR_RETURN(std::vector<int64_t> axes, a.GetInts("axes", {}));
  if (axes.empty()) {
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  for (int64_t& axis : axes) {
    if (axis < 0) axis += static_cast<int64_t>(rank);
    if (axis < 0 || axis >= static_cast<int64_t>(rank)) return ctx.Error("axes out of range");
  }
  const size_t given = scales.empty() ? sizes.size() : scales.size();
  if (given != axes.size()) {
    return ctx.Error(
        absl::StrCat(scales.empty() ? "sizes" : "scales", " has ", given, " values for ", axes.size(), " axes"));
  }
  Q8_ASSIGN_OR_RETURN(std::string policy, a.GetString("keep_aspect_ratio_policy", "stretch"));
  if (policy != "stretch") return ctx.Unsupported(absl::StrCat("keep_aspect_ratio_policy '", policy, "'"));
  Q8_ASSIGN_OR_RETURN(int64_t antialias, a.GetInt("antialias", 0));
  if (antialias != 0) return ctx.Unsupported("antialias=1");

  p.scales.assign(rank, 1.0);
  g.out = x;
  for (size_t k = 0; k < axes.size(); ++k) {
    const size_t axis = static_cast<size_t>(axes[k]);
    if (!scales.empty()) {
      const double s = scales[k];
      if (!(s > 0) || !std::isfinite(s)) return ctx.Error("scales must be positive and finite");
      const double out = std::floor(s * static_cast<double>(x[axis]));
      if (!(out >= 1) || out > 9.0e15) return ctx.Error("scales leave an empty or oversized output");
      p.scales[axis] = s;
      g.out[axis] = static_cast<int64_t>(out);
    } else {
      if (sizes[k] < 1) return ctx.Error("sizes must be >= 1");
      p.scales[axis] = static_cast<double>(sizes[k]) / static_cast<double>(x[axis]);
      g.out[axis] = sizes[k];
    }
  }
  Q8_RETURN_IF_ERROR(core::CheckedByteSize(core::DataType::kFloat32, g.out, ctx.node.Describe()).status());

  if (legacy) {
    p.transform = ResizeParams::Transform::kAsymmetric;
    bool up = false, down = false;
    for (double s : p.scales) up = up || s > 1, down = down || s < 1;
    if (p.mode == ResizeParams::Mode::kNearest && up && down) {
      return ctx.Unsupported("nearest resizing that enlarges some axes and shrinks others before opset 11");
    }
    p.nearest = down ? ResizeParams::Nearest::kCeil : ResizeParams::Nearest::kFloor;
    return g;
  }
  Q8_ASSIGN_OR_RETURN(std::string transform, a.GetString("coordinate_transformation_mode", "half_pixel"));
  using T = ResizeParams::Transform;
  if (transform == "half_pixel") {
    p.transform = T::kHalfPixel;
  } else if (transform == "pytorch_half_pixel") {
    p.transform = T::kPytorchHalfPixel;
  } else if (transform == "align_corners") {
    p.transform = T::kAlignCorners;
  } else if (transform == "asymmetric") {
    p.transform = T::kAsymmetric;
  } else if (transform == "tf_half_pixel_for_nn") {
    p.transform = T::kTfHalfPixelForNn;
  } else if (transform == "tf_crop_and_resize") {
    p.transform = T::kTfCropAndResize;
  } else if (transform == "half_pixel_symmetric") {
    p.transform = T::kHalfPixelSymmetric;
  } else {
    return ctx.Error(absl::StrCat("unknown coordinate_transformation_mode '", transform, "'"));
  }
  if (p.transform == T::kTfCropAndResize) {
    const core::Tensor* roi = ctx.constant(1);
    if (roi == nullptr) return ctx.Unsupported("tf_crop_and_resize without a constant roi");
    Q8_ASSIGN_OR_RETURN(std::vector<double> values, FloatValues(ctx, *roi, "roi"));
    if (values.size() != 2 * axes.size()) return ctx.Error("roi must hold a start and an end per resized axis");
    p.roi.assign(rank, 0.0);
    p.roi.insert(p.roi.end(), rank, 1.0);
    for (size_t k = 0; k < axes.size(); ++k) {
      p.roi[axes[k]] = values[k];
      p.roi[rank + axes[k]] = values[axes.size() + k];
    }
  }
  Q8_ASSIGN_OR_RETURN(std::string nearest, a.GetString("nearest_mode", "round_prefer_floor"));
  if (nearest == "round_prefer_floor") {
    p.nearest = ResizeParams::Nearest::kRoundPreferFloor;
  } else if (nearest == "round_prefer_ceil") {
    p.nearest = ResizeParams::Nearest::kRoundPreferCeil;
  } else if (nearest == "floor") {
    p.nearest = ResizeParams::Nearest::kFloor;
  } else if (nearest == "ceil") {
    p.nearest = ResizeParams::Nearest::kCeil;
  } else {
    return ctx.Error(absl::StrCat("unknown nearest_mode '", nearest, "'"));
  }
  Q8_ASSIGN_OR_RETURN(float coeff, a.GetFloat("cubic_coeff_a", -0.75f));
  Q8_ASSIGN_OR_RETURN(int64_t exclude, a.GetInt("exclude_outside", 0));
  Q8_ASSIGN_OR_RETURN(float extrapolation, a.GetFloat("extrapolation_value", 0.0f));
  p.cubic_coeff_a = coeff;
  p.exclude_outside = exclude != 0;
  p.extrapolation_value = extrapolation;
  return g;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferResize(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Geometry g, Resolve(ctx));
  return std::vector<core::Dims>{g.out};
}

absl::StatusOr<Lowering> LowerResize(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Geometry g, Resolve(ctx));
  Lowering l;
  l.params = std::move(g.params);
  l.runtime_inputs = {0};
  return l;
}

}  // namespace q8::engine::ops
