// Owns the Pool kernel: 1-D, 2-D and 3-D max / average pooling (global average is a
// kernel the size of H, W). Always built as pooling_v2, the 2.6 primitive
// that takes dilations; with dense windows it dispatches to the same
// implementations as plain pooling. ceil_mode arrives as grown pads_end.
// int8 (u8/s8 -> same type, same scale; avg accumulates in s32 and rounds to
// nearest-even) is only optimized in NHWC: other layouts run but get oneDNN's
// reference kernel (visible in the impl string).
// int8 2-D max pooling in NHWC with fewer than 64 channels runs on our own
// kernel (Int8MaxPoolNhwc below): oneDNN 2.6.3's jit_int pooling keeps 64
// byte lanes per output point, so with 16 or 32 channels it runs 4-6x slower
// than the f32 pooling of the same tensor (1 thread, Fashion CNN shapes:
// mb16 16x28x28 -> 14x14: 94 us u8 vs 21 us f32), which made the int8 plan
// of small CNNs slower than their dynamic-int8 plan (BENCHMARKS.md, issue #17).
#include <emmintrin.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {
namespace {

// Below this many channels the int8 max pool runs on Int8MaxPoolNhwc.
constexpr int64_t kOwnMaxPoolChannels = 64;
[[maybe_unused]] constexpr int64_t kParallelMinBytes = 1 << 16;  // unused where OpenMP is off

template <bool kSigned>
uint8_t MaxByte(uint8_t a, uint8_t b) {
  if constexpr (kSigned) return static_cast<uint8_t>(std::max(static_cast<int8_t>(a), static_cast<int8_t>(b)));
  return std::max(a, b);
}

// Max pooling of u8 or s8 NHWC bytes, 2-D. Every window holds at least one
// input point (pads are smaller than the window, as ONNX requires and Create
// checks), so the result is the max over the in-bounds points: padding never
// wins, as in oneDNN. Channels go in 16-byte blocks kept in a register across
// the window (SSE2 pmaxub; s8 flips the sign bit so unsigned max orders it).
class Int8MaxPoolNhwc final : public Kernel {
 public:
  Int8MaxPoolNhwc(const PoolParams& p, const ValueSpec& src, const ValueSpec& dst, dnnl::memory::desc src_md,
                  dnnl::memory::desc dst_md)
      : Kernel(src.dtype == core::DataType::kInt8 ? "cpp:max_pool_s8_nhwc" : "cpp:max_pool_u8_nhwc",
               {{DNNL_ARG_SRC, src_md}}, {{DNNL_ARG_DST, dst_md}}),
        signed_(src.dtype == core::DataType::kInt8),
        n_(src.dims[0]),
        c_(src.dims[1]),
        ih_(src.dims[2]),
        iw_(src.dims[3]),
        oh_(dst.dims[2]),
        ow_(dst.dims[3]),
        kh_(p.kernel[0]),
        kw_(p.kernel[1]),
        sh_(p.strides[0]),
        sw_(p.strides[1]),
        dh_(p.dilations[0]),
        dw_(p.dilations[1]),
        ph_(p.pads_begin[0]),
        pw_(p.pads_begin[1]) {}

  void Execute(dnnl::stream&, const BoundArgs& args) const override {
    const auto* src = static_cast<const uint8_t*>(args.memories.at(DNNL_ARG_SRC).get_data_handle());
    auto* dst = static_cast<uint8_t*>(args.memories.at(DNNL_ARG_DST).get_data_handle());
    const int64_t rows = n_ * oh_;
    [[maybe_unused]] const bool parallel = rows * ow_ * c_ >= kParallelMinBytes;
#pragma omp parallel for if (parallel) schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
      if (signed_) {
        Row<true>(src, dst, row);
      } else {
        Row<false>(src, dst, row);
      }
    }
  }

 private:
  // [lo, hi) of window taps whose input index start + k * dilation is in [0, size).
  static void Clip(int64_t start, int64_t taps, int64_t dilation, int64_t size, int64_t* lo, int64_t* hi) {
    *lo = 0;
    *hi = taps;
    while (*lo < taps && start + *lo * dilation < 0) ++*lo;
    while (*hi > *lo && start + (*hi - 1) * dilation >= size) --*hi;
  }

  template <bool kSigned>
  void Row(const uint8_t* src, uint8_t* dst, int64_t row) const {
    const int64_t n = row / oh_, y = row % oh_;
    const int64_t y0 = y * sh_ - ph_;
    int64_t ky_lo, ky_hi;
    Clip(y0, kh_, dh_, ih_, &ky_lo, &ky_hi);
    const int64_t row_stride = iw_ * c_;
    const uint8_t* image = src + n * ih_ * row_stride;
    uint8_t* out_row = dst + row * ow_ * c_;
    const __m128i flip = _mm_set1_epi8(kSigned ? static_cast<char>(0x80) : 0);
    const uint8_t lowest = kSigned ? 0x80 : 0;
    for (int64_t x = 0; x < ow_; ++x) {
      const int64_t x0 = x * sw_ - pw_;
      int64_t kx_lo, kx_hi;
      Clip(x0, kw_, dw_, iw_, &kx_lo, &kx_hi);
      uint8_t* out = out_row + x * c_;
      int64_t k = 0;
      for (; k + 16 <= c_; k += 16) {
        __m128i m = _mm_setzero_si128();  // the lowest value after the flip
        for (int64_t ky = ky_lo; ky < ky_hi; ++ky) {
          const uint8_t* line = image + (y0 + ky * dh_) * row_stride + k;
          for (int64_t kx = kx_lo; kx < kx_hi; ++kx) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(line + (x0 + kx * dw_) * c_));
            m = _mm_max_epu8(m, _mm_xor_si128(v, flip));
          }
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), _mm_xor_si128(m, flip));
      }
      for (; k < c_; ++k) {
        uint8_t m = lowest;
        for (int64_t ky = ky_lo; ky < ky_hi; ++ky) {
          const uint8_t* line = image + (y0 + ky * dh_) * row_stride + k;
          for (int64_t kx = kx_lo; kx < kx_hi; ++kx) m = MaxByte<kSigned>(m, line[(x0 + kx * dw_) * c_]);
        }
        out[k] = m;
      }
    }
  }

  bool signed_;
  int64_t n_, c_, ih_, iw_, oh_, ow_, kh_, kw_, sh_, sw_, dh_, dw_, ph_, pw_;
};

}  // namespace

KernelOr Create(const PoolParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dims.size() < 3 || src.dims.size() > 5) return Invalid(r, "input must be 3-D, 4-D or 5-D [N,C,...]");
  const size_t nsp = src.dims.size() - 2;
  if (src.dtype != dst.dtype || (src.dtype != core::DataType::kFloat32 && !IsInt8(src.dtype))) {
    return Invalid(r, "input and output must both be f32, both u8 or both s8");
  }
  if (IsInt8(src.dtype) && (!ValidScale(src.scale) || !SameScale(src.scale, dst.scale))) {
    return Invalid(r, "int8 pooling needs equal input and output scales");
  }
  auto fits = [nsp](const std::vector<int64_t>& v, int64_t min) {
    bool ok = v.size() == nsp;
    for (int64_t x : v) ok = ok && x >= min;
    return ok;
  };
  if (!fits(p.kernel, 1) || !fits(p.strides, 1) || !fits(p.dilations, 1) || !fits(p.pads_begin, 0) ||
      !fits(p.pads_end, 0)) {
    return Invalid(
        r, absl::StrCat("kernel/strides/dilations must be ", nsp, " values >= 1 and pads ", nsp, " values >= 0"));
  }
  core::Dims expected{src.dims[0], src.dims[1]};
  expected.resize(2 + nsp, 0);
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t window = (p.kernel[i] - 1) * p.dilations[i] + 1;
    expected[2 + i] = (src.dims[2 + i] + p.pads_begin[i] + p.pads_end[i] - window) / p.strides[i] + 1;
  }
  if (dst.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));

  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  if (IsInt8(src.dtype) && p.kind == PoolParams::Kind::kMax && nsp == 2 && src.layout == Layout::kNhwc &&
      dst.layout == Layout::kNhwc && src.dims[1] < kOwnMaxPoolChannels) {
    bool pads_fit = true;  // a window made only of padding has no max
    for (size_t i = 0; i < nsp; ++i) {
      pads_fit = pads_fit && p.pads_begin[i] < (p.kernel[i] - 1) * p.dilations[i] + 1 &&
                 p.pads_end[i] < (p.kernel[i] - 1) * p.dilations[i] + 1;
    }
    if (pads_fit) return std::make_unique<Int8MaxPoolNhwc>(p, src, dst, src_md, dst_md);
  }
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  if (p.kind == PoolParams::Kind::kAverage) {
    alg = p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                              : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  // forward_inference: max pooling needs no workspace of argmax indices.
  dnnl::memory::dims dilation;
  for (int64_t d : p.dilations) dilation.push_back(d - 1);
  dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src_md, dst_md, p.strides, p.kernel,
                                      dilation, p.pads_begin, p.pads_end);
  dnnl::pooling_v2_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  return std::make_unique<Kernel>(dnnl::pooling_v2_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, src_md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, dst_md}});
}

}  // namespace q8::kernels::internal
