// Owns the Resize kernel (ONNX Resize / Upsample). Where oneDNN's resampling
// computes exactly ONNX's result it runs that primitive: nearest with the
// asymmetric transform, floor rounding and integer upscale factors (what
// PyTorch and Upsample export), and linear with half_pixel (or
// pytorch_half_pixel, outputs longer than 1), over [N, C, spatial...] with
// only spatial axes resized and output = scale * input exactly (oneDNN
// derives its factors from the dims). Everything else runs in plain C++: at
// creation each axis gets a table: for every output index, the input indices it reads
// and their weights (1 tap for nearest, 2 for linear, 4 for cubic; axes that
// only copy shrink to 1 tap), computed in double the way ONNX's reference
// implementation does; Execute then only gathers and sums. impl() is "q8:cpp".
#include <array>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {
namespace {

constexpr size_t kMaxRank = 8;

struct Tap {
  int64_t index;  // clamped into the input
  double weight;
};

struct AxisTable {
  int taps = 1;                  // per output index
  std::vector<Tap> table;        // [out][taps]
  std::vector<uint8_t> outside;  // tf_crop_and_resize: output index maps outside the input
};

std::array<double, 4> CubicCoeffs(double r, double a) {
  const double s = 1 - r;
  return {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a, ((a + 2) * r - (a + 3)) * r * r + 1,
          ((a + 2) * s - (a + 3)) * s * s + 1, ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a};
}

// The input coordinate output index x maps to, as ONNX's reference computes it.
double SourceCoordinate(const ResizeParams& p, size_t axis, int64_t x, int64_t in_len) {
  using T = ResizeParams::Transform;
  const double scale = p.scales[axis];
  const double out_w = scale * static_cast<double>(in_len);
  const double xd = static_cast<double>(x);
  switch (p.transform) {
    case T::kHalfPixel:
      return (xd + 0.5) / scale - 0.5;
    case T::kPytorchHalfPixel:
      return out_w == 1 ? -0.5 : (xd + 0.5) / scale - 0.5;
    case T::kAlignCorners:
      return out_w == 1 ? 0.0 : xd * static_cast<double>(in_len - 1) / (out_w - 1);
    case T::kAsymmetric:
      return xd / scale;
    case T::kTfHalfPixelForNn:
      return (xd + 0.5) / scale;
    case T::kTfCropAndResize: {
      const size_t rank = p.roi.size() / 2;
      const double start = p.roi[axis], end = p.roi[axis + rank];
      const double span = static_cast<double>(in_len - 1);
      if (out_w == 1) return (end - start) * span / 2 + start * span;
      return xd * (end - start) * span / (out_w - 1) + start * span;
    }
    case T::kHalfPixelSymmetric: {
      const double adjustment = out_w / (scale * static_cast<double>(in_len));
      const double center = static_cast<double>(in_len) / 2;
      return center * (1 - adjustment) + (xd + 0.5) / scale - 0.5;
    }
  }
  return 0;
}

AxisTable BuildAxis(const ResizeParams& p, size_t axis, int64_t in_len, int64_t out_len) {
  using M = ResizeParams::Mode;
  const int n = p.mode == M::kCubic ? 4 : 2;
  AxisTable t;
  t.taps = p.mode == M::kNearest ? 1 : n;
  t.outside.assign(static_cast<size_t>(out_len), 0);
  for (int64_t x = 0; x < out_len; ++x) {
    const double src = SourceCoordinate(p, axis, x, in_len);
    if (p.transform == ResizeParams::Transform::kTfCropAndResize &&
        (src < 0 || src > static_cast<double>(in_len - 1))) {
      t.outside[x] = 1;
    }
    // The reference prefers the neighbours left of src: ratio in (0, 1].
    const double fl = std::floor(src);
    const bool integral = fl == src;
    const int64_t f = static_cast<int64_t>(fl) - (integral ? 1 : 0);
    const double ratio = integral ? 1.0 : src - fl;
    auto clamp = [&](int64_t i) { return std::min(std::max<int64_t>(i, 0), in_len - 1); };
    if (p.mode == M::kNearest) {
      bool right = true;  // integral src: the right neighbour is src itself
      if (!integral) {
        switch (p.nearest) {
          case ResizeParams::Nearest::kRoundPreferFloor:
            right = ratio > 0.5;
            break;
          case ResizeParams::Nearest::kRoundPreferCeil:
            right = ratio >= 0.5;
            break;
          case ResizeParams::Nearest::kFloor:
            right = false;
            break;
          case ResizeParams::Nearest::kCeil:
            right = true;
            break;
        }
      }
      t.table.push_back({clamp(f + (right ? 1 : 0)), 1.0});
      continue;
    }
    std::array<double, 4> w{};
    int64_t first = f;
    if (p.mode == M::kLinear) {
      w = {1 - ratio, ratio, 0, 0};
    } else {
      w = CubicCoeffs(ratio, p.cubic_coeff_a);
      first = f - 1;
    }
    if (p.exclude_outside) {
      double sum = 0;
      for (int k = 0; k < n; ++k) {
        if (first + k < 0 || first + k >= in_len) w[k] = 0;
        sum += w[k];
      }
      if (sum != 0) {
        for (int k = 0; k < n; ++k) w[k] /= sum;
      }
    }
    for (int k = 0; k < n; ++k) t.table.push_back({clamp(first + k), w[k]});
  }
  // An axis whose every output copies one input element needs one tap.
  if (t.taps > 1) {
    bool copies = true;
    for (int64_t x = 0; x < out_len && copies; ++x) {
      int nonzero = 0;
      for (int k = 0; k < t.taps; ++k) {
        const double w = t.table[x * t.taps + k].weight;
        if (w != 0) nonzero += w == 1.0 ? 1 : 2;
      }
      copies = nonzero == 1;
    }
    if (copies) {
      std::vector<Tap> single;
      for (int64_t x = 0; x < out_len; ++x) {
        for (int k = 0; k < t.taps; ++k) {
          if (t.table[x * t.taps + k].weight == 1.0) single.push_back(t.table[x * t.taps + k]);
        }
      }
      t.table = std::move(single);
      t.taps = 1;
    }
  }
  return t;
}

class ResizeKernel final : public PlainFloatKernel {
 public:
  ResizeKernel(std::vector<Operand> inputs, std::vector<Operand> outputs, core::Dims in_dims, core::Dims out_dims,
               std::vector<AxisTable> axes, float extrapolation)
      : PlainFloatKernel(std::move(inputs), std::move(outputs)),
        in_dims_(std::move(in_dims)),
        out_dims_(std::move(out_dims)),
        axes_(std::move(axes)),
        extrapolation_(extrapolation) {
    const size_t rank = in_dims_.size();
    in_strides_.assign(rank, 1);
    for (size_t a = rank; a-- > 1;) in_strides_[a - 1] = in_strides_[a] * in_dims_[a];
    combos_ = 1;
    for (const AxisTable& t : axes_) combos_ *= t.taps;
  }

  void Compute(const float* x, float* y) const override {
    const size_t rank = out_dims_.size();
    std::array<int64_t, kMaxRank> idx{};
    const int64_t total = core::NumElements(out_dims_);
    for (int64_t o = 0; o < total; ++o) {
      bool outside = false;
      for (size_t a = 0; a < rank; ++a) outside = outside || axes_[a].outside[idx[a]] != 0;
      if (outside) {
        y[o] = extrapolation_;
      } else {
        double acc = 0;
        for (int64_t c = 0; c < combos_; ++c) {
          int64_t rem = c, offset = 0;
          double w = 1;
          for (size_t a = rank; a-- > 0;) {
            const AxisTable& t = axes_[a];
            const Tap& tap = t.table[idx[a] * t.taps + rem % t.taps];
            rem /= t.taps;
            offset += tap.index * in_strides_[a];
            w *= tap.weight;
          }
          if (w != 0) acc += w * static_cast<double>(x[offset]);
        }
        y[o] = static_cast<float>(acc);
      }
      for (size_t a = rank; a-- > 0;) {
        if (++idx[a] < out_dims_[a]) break;
        idx[a] = 0;
      }
    }
  }

 private:
  core::Dims in_dims_, out_dims_;
  std::vector<AxisTable> axes_;
  float extrapolation_;
  std::vector<int64_t> in_strides_;
  int64_t combos_ = 1;
};

// The oneDNN resampling algorithm that computes exactly what ONNX specifies
// for these params and dims, if any.
std::optional<dnnl::algorithm> OneDnnAlgorithm(const ResizeParams& p, const core::Dims& in, const core::Dims& out) {
  using T = ResizeParams::Transform;
  const size_t rank = in.size();
  if (rank < 3 || rank > 5 || in[0] != out[0] || in[1] != out[1]) return std::nullopt;
  bool integer_up = true, longer_than_one = true;
  for (size_t a = 2; a < rank; ++a) {
    if (static_cast<double>(out[a]) != p.scales[a] * static_cast<double>(in[a])) return std::nullopt;
    integer_up = integer_up && p.scales[a] >= 1 && p.scales[a] == std::floor(p.scales[a]);
    longer_than_one = longer_than_one && out[a] > 1;
  }
  if (p.mode == ResizeParams::Mode::kNearest && p.transform == T::kAsymmetric &&
      p.nearest == ResizeParams::Nearest::kFloor && integer_up) {
    // floor((o + 0.5) / k) == floor(o / k) for an integer factor k.
    return dnnl::algorithm::resampling_nearest;
  }
  if (p.mode == ResizeParams::Mode::kLinear &&
      (p.transform == T::kHalfPixel || (p.transform == T::kPytorchHalfPixel && longer_than_one))) {
    return dnnl::algorithm::resampling_linear;
  }
  return std::nullopt;
}

}  // namespace

KernelOr Create(const ResizeParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& in = *r.inputs[0];
  const ValueSpec& out = *r.outputs[0];
  for (const ValueSpec* v : {&in, &out}) {
    if (v->dtype != core::DataType::kFloat32 || (v->layout != Layout::kPlain && !SameBytesAsPlain(*v))) {
      return Invalid(r, "Resize reads and writes plain f32");
    }
  }
  const size_t rank = in.dims.size();
  if (rank == 0 || rank > kMaxRank || out.dims.size() != rank || p.scales.size() != rank) {
    return Invalid(r, absl::StrCat("Resize needs rank 1 to ", kMaxRank, " with one scale per axis"));
  }
  if (p.transform == ResizeParams::Transform::kTfCropAndResize && p.roi.size() != 2 * rank) {
    return Invalid(r, "tf_crop_and_resize needs a roi of 2 * rank values");
  }
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc in_md, DescOf(in));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc out_md, DescOf(out));
  if (const std::optional<dnnl::algorithm> algorithm = OneDnnAlgorithm(p, in.dims, out.dims)) {
    dnnl::resampling_forward::desc desc(dnnl::prop_kind::forward_inference, *algorithm, in_md, out_md);
    dnnl::resampling_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
    return std::make_unique<Kernel>(dnnl::resampling_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, in_md}},
                                    std::vector<Operand>{{DNNL_ARG_DST, out_md}});
  }
  std::vector<AxisTable> axes;
  for (size_t a = 0; a < rank; ++a) {
    if (in.dims[a] < 1 || out.dims[a] < 1 || !(p.scales[a] > 0) || !std::isfinite(p.scales[a])) {
      return Invalid(r, "Resize needs non-empty dims and positive finite scales");
    }
    axes.push_back(BuildAxis(p, a, in.dims[a], out.dims[a]));
  }
  return std::make_unique<ResizeKernel>(std::vector<Operand>{{kArgNone, in_md}},
                                        std::vector<Operand>{{kArgNone, out_md}}, in.dims, out.dims, std::move(axes),
                                        p.extrapolation_value);
}

}  // namespace q8::kernels::internal
