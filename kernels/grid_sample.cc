// Owns the GridSample kernel (ONNX GridSample, opset 16) in plain C++, with
// PyTorch's grid_sample arithmetic (which ONNX's expected outputs come from):
// normalised grid coordinates are unnormalised per align_corners, padded
// (border: clipped; reflection: reflected, then clipped; zeros: taps outside
// read 0), then sampled nearest (round half to even), bilinear or bicubic
// (A = -0.75, padding applied per tap). impl() is "q8:cpp".
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {
namespace {

using P = GridSampleParams;

float Unnormalize(float coord, int64_t size, bool align) {
  const float s = static_cast<float>(size);
  return align ? (coord + 1) / 2 * (s - 1) : ((coord + 1) * s - 1) / 2;
}

float Clip(float x, int64_t size) { return std::min(static_cast<float>(size - 1), std::max(x, 0.0f)); }

float Reflect(float x, float twice_low, float twice_high) {
  if (twice_low == twice_high) return 0;
  const float low = twice_low / 2, span = (twice_high - twice_low) / 2;
  x = std::fabs(x - low);
  const float extra = std::fmod(x, span);
  const int flips = static_cast<int>(std::floor(x / span));
  return flips % 2 == 0 ? extra + low : span - extra + low;
}

float Pad(float x, int64_t size, const P& p) {
  if (p.padding == P::Padding::kBorder) return Clip(x, size);
  if (p.padding == P::Padding::kReflection) {
    x = p.align_corners ? Reflect(x, 0, 2.0f * static_cast<float>(size - 1))
                        : Reflect(x, -1, 2.0f * static_cast<float>(size) - 1);
    return Clip(x, size);
  }
  return x;
}

float Cubic1(float x) {  // |x| <= 1
  constexpr float a = -0.75f;
  return ((a + 2) * x - (a + 3)) * x * x + 1;
}
float Cubic2(float x) {  // 1 < |x| < 2
  constexpr float a = -0.75f;
  return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
}

class GridSampleKernel : public Kernel {
 public:
  GridSampleKernel(std::vector<Operand> inputs, std::vector<Operand> outputs, const P& p, core::Dims x, core::Dims grid)
      : Kernel("q8:cpp", std::move(inputs), std::move(outputs)), p_(p), x_(std::move(x)), grid_(std::move(grid)) {}

  BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                 const dnnl::memory&) const override {
    BoundArgs bound;
    bound.extra = {inputs[0], inputs[1], outputs[0]};
    return bound;
  }

  void Execute(dnnl::stream&, const BoundArgs& args) const override {
    const float* x = static_cast<const float*>(args.extra[0].get_data_handle());
    const float* grid = static_cast<const float*>(args.extra[1].get_data_handle());
    float* y = static_cast<float*>(args.extra[2].get_data_handle());
    const int64_t n_n = x_[0], c_n = x_[1], h = x_[2], w = x_[3], ho = grid_[1], wo = grid_[2];
    for (int64_t n = 0; n < n_n; ++n) {
      for (int64_t i = 0; i < ho * wo; ++i) {
        const float gx = grid[(n * ho * wo + i) * 2], gy = grid[(n * ho * wo + i) * 2 + 1];
        for (int64_t c = 0; c < c_n; ++c) {
          const float* plane = x + (n * c_n + c) * h * w;
          y[(n * c_n + c) * ho * wo + i] = Sample(plane, h, w, gx, gy);
        }
      }
    }
  }

 private:
  static float At(const float* plane, int64_t h, int64_t w, int64_t iy, int64_t ix) {
    return iy >= 0 && iy < h && ix >= 0 && ix < w ? plane[iy * w + ix] : 0.0f;
  }

  float Sample(const float* plane, int64_t h, int64_t w, float gx, float gy) const {
    float ix = Unnormalize(gx, w, p_.align_corners), iy = Unnormalize(gy, h, p_.align_corners);
    if (p_.mode == P::Mode::kBicubic) {
      const float fx = std::floor(ix), fy = std::floor(iy);
      const float tx = ix - fx, ty = iy - fy;
      const float cx[4] = {Cubic2(tx + 1), Cubic1(tx), Cubic1(1 - tx), Cubic2(2 - tx)};
      const float cy[4] = {Cubic2(ty + 1), Cubic1(ty), Cubic1(1 - ty), Cubic2(2 - ty)};
      float acc = 0;
      for (int j = 0; j < 4; ++j) {
        float row = 0;
        for (int k = 0; k < 4; ++k) {
          const float px = Pad(fx - 1 + static_cast<float>(k), w, p_);
          const float py = Pad(fy - 1 + static_cast<float>(j), h, p_);
          row += cx[k] * At(plane, h, w, static_cast<int64_t>(py), static_cast<int64_t>(px));
        }
        acc += cy[j] * row;
      }
      return acc;
    }
    ix = Pad(ix, w, p_);
    iy = Pad(iy, h, p_);
    if (p_.mode == P::Mode::kNearest) {
      return At(plane, h, w, static_cast<int64_t>(std::nearbyint(iy)), static_cast<int64_t>(std::nearbyint(ix)));
    }
    const float x0 = std::floor(ix), y0 = std::floor(iy);
    const float wx = ix - x0, wy = iy - y0;
    const int64_t xi = static_cast<int64_t>(x0), yi = static_cast<int64_t>(y0);
    return At(plane, h, w, yi, xi) * (1 - wx) * (1 - wy) + At(plane, h, w, yi, xi + 1) * wx * (1 - wy) +
           At(plane, h, w, yi + 1, xi) * (1 - wx) * wy + At(plane, h, w, yi + 1, xi + 1) * wx * wy;
  }

  P p_;
  core::Dims x_, grid_;
};

}  // namespace

KernelOr Create(const GridSampleParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 2, 1));
  const ValueSpec& x = *r.inputs[0];
  const ValueSpec& grid = *r.inputs[1];
  const ValueSpec& out = *r.outputs[0];
  for (const ValueSpec* v : {&x, &grid, &out}) {
    if (v->dtype != core::DataType::kFloat32 || (v->layout != Layout::kPlain && !SameBytesAsPlain(*v))) {
      return Invalid(r, "GridSample reads and writes plain f32");
    }
  }
  if (x.dims.size() != 4 || grid.dims.size() != 4 || grid.dims[0] != x.dims[0] || grid.dims[3] != 2 ||
      out.dims != core::Dims{x.dims[0], x.dims[1], grid.dims[1], grid.dims[2]}) {
    return Invalid(r, "GridSample needs X [N,C,H,W], grid [N,Ho,Wo,2] and output [N,C,Ho,Wo]");
  }
  std::vector<Operand> inputs;
  for (const ValueSpec* v : {&x, &grid}) {
    Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(*v));
    inputs.push_back({kArgNone, md});
  }
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc out_md, DescOf(out));
  return std::make_unique<GridSampleKernel>(std::move(inputs), std::vector<Operand>{{kArgNone, out_md}}, p, x.dims,
                                            grid.dims);
}

}  // namespace q8::kernels::internal
