// Element-type conversion; see element_convert.h.
#include "core/element_convert.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace q8::core {
namespace {

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// 16-bit float storage types: loads widen to float, stores round to nearest even.
struct Half {
  uint16_t bits;
};
struct BFloat {
  uint16_t bits;
};

template <typename T>
struct Wide {  // the type a T is computed in
  using type = T;
};
template <>
struct Wide<Half> {
  using type = float;
};
template <>
struct Wide<BFloat> {
  using type = float;
};

template <typename T>
typename Wide<T>::type Load(const T& v) {
  if constexpr (std::is_same_v<T, Half>) {
    return HalfToFloat(v.bits);
  } else if constexpr (std::is_same_v<T, BFloat>) {
    return BFloat16ToFloat(v.bits);
  } else {
    return v;
  }
}

// Value of a wide source type as destination type D, without undefined behaviour.
template <typename D, typename S>
D Store(S v) {
  if constexpr (std::is_same_v<D, Half>) {
    return Half{FloatToHalf(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<D, BFloat>) {
    return BFloat{FloatToBFloat16(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<D, bool>) {
    return v != S{0};
  } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    if (std::isnan(v)) return D{0};
    // Compare in long double: the limits of 64-bit types are not exact in double.
    const long double lv = static_cast<long double>(v);
    if (lv <= static_cast<long double>(std::numeric_limits<D>::min())) return std::numeric_limits<D>::min();
    if (lv >= static_cast<long double>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);  // integer -> integer wraps (two's complement), like ONNX Cast
  }
}

template <typename S, typename D>
void ConvertTyped(const void* src, void* dst, int64_t n) {
  const S* s = static_cast<const S*>(src);
  D* d = static_cast<D*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = Store<D>(Load(s[i]));
}

// Calls f(T{}) with the storage type of t; false for kUndefined.
template <typename F>
bool Dispatch(DataType t, F&& f) {
  switch (t) {
    case DataType::kBool:
      f(bool{});
      return true;
    case DataType::kUInt8:
      f(uint8_t{});
      return true;
    case DataType::kUInt16:
      f(uint16_t{});
      return true;
    case DataType::kUInt32:
      f(uint32_t{});
      return true;
    case DataType::kUInt64:
      f(uint64_t{});
      return true;
    case DataType::kInt8:
      f(int8_t{});
      return true;
    case DataType::kInt16:
      f(int16_t{});
      return true;
    case DataType::kInt32:
      f(int32_t{});
      return true;
    case DataType::kInt64:
      f(int64_t{});
      return true;
    case DataType::kFloat16:
      f(Half{});
      return true;
    case DataType::kFloat32:
      f(float{});
      return true;
    case DataType::kFloat64:
      f(double{});
      return true;
    case DataType::kBFloat16:
      f(BFloat{});
      return true;
    default:
      return false;
  }
}

}  // namespace

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return BitsFloat(sign | 0x7f800000 | (mant << 13));  // inf / NaN
  if (exp != 0) return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return BitsFloat(sign);
  // Subnormal half: normalize.
  int e = -1;
  do {
    ++e;
    mant <<= 1;
  } while ((mant & 0x400) == 0);
  return BitsFloat(sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ff) << 13));
}

uint16_t FloatToHalf(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t abs = u & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;   // NaN
  if (abs >= 0x477ff000) return sign | 0x7c00;  // rounds to >= 65520: inf
  if (abs < 0x38800000) {                       // below the smallest normal half: subnormal or zero
    // Scale so the half's subnormal step (2^-24) is one unit, rounding to nearest even in float.
    const float scaled = BitsFloat(abs) * 16777216.0f;  // 2^24
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
  const uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);
  return sign | static_cast<uint16_t>((rounded - 0x38000000) >> 13);
}

float BFloat16ToFloat(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

uint16_t FloatToBFloat16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

absl::Status ConvertElements(const TensorView& src, const MutableTensorView& dst) {
  const int64_t n = src.num_elements();
  if (n != dst.num_elements()) {
    return absl::InvalidArgumentError(
        absl::StrCat("element conversion of ", n, " values into ", dst.num_elements(), " slots"));
  }
  if (src.dtype == dst.dtype) {
    if (n > 0) std::memcpy(dst.data, src.data, static_cast<size_t>(src.byte_size()));
    return absl::OkStatus();
  }
  bool ok = false;
  Dispatch(src.dtype, [&](auto s) {
    ok = Dispatch(dst.dtype, [&](auto d) { ConvertTyped<decltype(s), decltype(d)>(src.data, dst.data, n); });
  });
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat("cannot convert ", OipName(src.dtype), " to ", OipName(dst.dtype)));
  }
  return absl::OkStatus();
}

}  // namespace q8::core
