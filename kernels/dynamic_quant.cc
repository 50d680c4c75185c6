// Owns the hot loops of the dynamic kernels' per-run quantization (declared
// in internal/dynamic_quant.h), each compiled three times -- AVX-512, AVX2
// and baseline x86-64 -- and picked at load by the CPU (GCC target_clones),
// since the project itself builds for baseline x86-64. On the development
// machine the AVX-512 clones scan and quantize ~3x faster than SSE2.
#include "kernels/internal/dynamic_quant.h"

#define Q8_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace q8::kernels::internal {
namespace {

// q = saturate(round_half_even(x * inv_scale) + zero_point); see the header.
template <typename Q>
inline void QuantizeLoop(const float* x, int64_t count, float inv_scale, int32_t zero_point, int32_t lo, int32_t hi,
                         Q* out) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  for (int64_t i = 0; i < count; ++i) {
    const int32_t q = static_cast<int32_t>((x[i] * inv_scale + kMagic) - kMagic) + zero_point;
    out[i] = static_cast<Q>(std::min(std::max(q, lo), hi));
  }
}

}  // namespace

Q8_CPU_CLONES AbsRange ScanAbs(const float* x, int64_t count) {
  uint32_t max_bits = 0, negative = 0;
  for (int64_t i = 0; i < count; ++i) {
    max_bits = std::max(max_bits, std::bit_cast<uint32_t>(x[i]) & 0x7fffffffu);
    negative |= static_cast<uint32_t>(x[i] < 0.0f);
  }
  return {std::bit_cast<float>(max_bits), negative != 0};
}

Q8_CPU_CLONES MinMax ScanMinMax(const float* x, int64_t count) {
  if (count <= 0) return {};
  int32_t lo = OrderKey(INFINITY), hi = OrderKey(-INFINITY);
  for (int64_t i = 0; i < count; ++i) {
    const int32_t bits = std::bit_cast<int32_t>(x[i]);
    const int32_t key = bits ^ ((bits >> 31) & 0x7fffffff);
    lo = std::min(lo, key);
    hi = std::max(hi, key);
  }
  const float mn = FromOrderKey(lo), mx = FromOrderKey(hi);
  return {mn, mx, std::isfinite(mn) && std::isfinite(mx)};
}

Q8_CPU_CLONES void QuantizeFinite(const float* x, int64_t count, float inv_scale, int32_t zero_point, int32_t lo,
                                  int32_t hi, uint8_t* out) {
  QuantizeLoop(x, count, inv_scale, zero_point, lo, hi, out);
}

Q8_CPU_CLONES void QuantizeFinite(const float* x, int64_t count, float inv_scale, int32_t zero_point, int32_t lo,
                                  int32_t hi, int8_t* out) {
  QuantizeLoop(x, count, inv_scale, zero_point, lo, hi, out);
}

}  // namespace q8::kernels::internal
