// Per-run activation quantization shared by the dynamic kernels
// (matmul_dynamic.cc, conv_dynamic.cc): range scans and f32 -> int8
// conversion loops written so that GCC vectorizes them without -ffast-math
// (integer reductions and clamps instead of float min/max, which the default
// -ftrapping-math / signed-zero rules keep scalar). The hot loops are defined
// in dynamic_quant.cc as function multiversions (AVX-512 / AVX2 / baseline,
// chosen at load): the project builds for baseline x86-64, whose SSE2 has no
// 32-bit integer min/max. dnnl-free, but internal to kernels/.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace q8::kernels::internal {

// Largest magnitude and whether any element is negative. The magnitude-bits
// max also catches NaN (it compares above +inf): check isfinite(max_abs).
struct AbsRange {
  float max_abs = 0.0f;
  bool negative = false;
};
AbsRange ScanAbs(const float* x, int64_t count);

// Minimum and maximum. Floats map to int32 keys that order like the floats
// (negative ones with their magnitude bits flipped), so both reductions are
// integer min/max. NaN keys sort beyond +-inf: `finite` is false when any
// element is NaN or infinite; min/max are then meaningless.
struct MinMax {
  float min = 0.0f;
  float max = 0.0f;
  bool finite = true;
};
inline int32_t OrderKey(float v) {
  const int32_t bits = std::bit_cast<int32_t>(v);
  return bits ^ ((bits >> 31) & 0x7fffffff);
}
inline float FromOrderKey(int32_t key) { return std::bit_cast<float>(key ^ ((key >> 31) & 0x7fffffff)); }
MinMax ScanMinMax(const float* x, int64_t count);
// Min/max over the finite elements only (the rare non-finite input).
inline MinMax ScanFiniteMinMax(const float* x, int64_t count) {
  MinMax r{0.0f, 0.0f, true};
  for (int64_t i = 0; i < count; ++i) {
    if (std::isfinite(x[i])) {
      r.min = std::min(r.min, x[i]);
      r.max = std::max(r.max, x[i]);
    }
  }
  return r;
}

// q = saturate(round_half_even(x * inv_scale) + zero_point) for finite x
// with |x * inv_scale| < 2^22. Adding and subtracting 1.5 * 2^23 rounds a
// float of smaller magnitude to an integer in the current (nearest-even)
// rounding mode; the integer clamp trims what float rounding overshoots.
void QuantizeFinite(const float* x, int64_t count, float inv_scale, int32_t zero_point, int32_t lo, int32_t hi,
                    uint8_t* out);
void QuantizeFinite(const float* x, int64_t count, float inv_scale, int32_t zero_point, int32_t lo, int32_t hi,
                    int8_t* out);

// Any input: clamps in float before converting (no out-of-range conversion);
// NaN becomes the zero point (real 0), +-inf saturate.
template <typename Q>
void QuantizeAny(const float* x, int64_t count, float inv_scale, int32_t zero_point, int32_t lo, int32_t hi, Q* out) {
  for (int64_t i = 0; i < count; ++i) {
    if (std::isnan(x[i])) {
      out[i] = static_cast<Q>(std::min(std::max(zero_point, lo), hi));
      continue;
    }
    const float v = std::nearbyint(x[i] * inv_scale) + static_cast<float>(zero_point);
    out[i] =
        static_cast<Q>(v >= static_cast<float>(lo) ? (v <= static_cast<float>(hi) ? static_cast<int32_t>(v) : hi) : lo);
  }
}

// u8 with a zero point over [min(lo, 0), max(hi, 0)] (the grid holds 0
// exactly, so zero padding is exact): real = scale * (q - zero_point).
// Non-negative ranges get zero_point 0 and the whole grid; all-zero input
// gets scale 1. Scales are floored at kMinDynamicScale so that 1/scale and
// the per-run bias terms stay finite; inputs whose range is below ~1e-18
// then quantize to 0.
inline constexpr float kMinDynamicScale = 1e-20f;
struct U8Quant {
  float scale = 1.0f;
  int32_t zero_point = 0;
};
inline U8Quant ChooseU8(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  // hi/255 - lo/255 cannot overflow where (hi - lo)/255 could.
  const float scale = hi / 255.0f - lo / 255.0f;
  if (!(scale > 0.0f)) return {};
  U8Quant q;
  q.scale = std::max(scale, kMinDynamicScale);
  q.zero_point = std::clamp(static_cast<int32_t>(std::nearbyint(-lo / q.scale)), 0, 255);
  return q;
}

}  // namespace q8::kernels::internal
