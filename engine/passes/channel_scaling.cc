// Per-channel ranges and rescaling of float32 weight tensors.
#include "engine/passes/channel_scaling.h"

#include <algorithm>
#include <cmath>

namespace q8::engine {
namespace {

// [outer, n, inner] split of `w` around `axis`.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisSplit Split(const core::Dims& dims, int axis) {
  AxisSplit s;
  for (int d = 0; d < static_cast<int>(dims.size()); ++d) {
    if (d < axis) s.outer *= dims[d];
    if (d == axis) s.n = dims[d];
    if (d > axis) s.inner *= dims[d];
  }
  return s;
}

// [groups, oc_per_group, ic_per_group, kernel] view of conv weights.
struct ConvSplit {
  int64_t groups = 1, ocg = 1, icg = 1, kernel = 1;
};
ConvSplit SplitConv(const core::Dims& dims, int64_t groups) {
  ConvSplit s;
  s.groups = std::max<int64_t>(groups, 1);
  s.ocg = dims.empty() ? 1 : dims[0] / s.groups;
  s.icg = dims.size() < 2 ? 1 : dims[1];
  for (size_t d = 2; d < dims.size(); ++d) s.kernel *= dims[d];
  return s;
}

}  // namespace

std::vector<float> AbsMaxAlongAxis(const core::Tensor& w, int axis) {
  const AxisSplit s = Split(w.dims(), axis);
  std::vector<float> r(s.n, 0.0f);
  auto data = w.span<float>();
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.n; ++i) {
      const float* p = data.data() + (o * s.n + i) * s.inner;
      for (int64_t k = 0; k < s.inner; ++k) {
        if (std::isfinite(p[k])) r[i] = std::max(r[i], std::abs(p[k]));
      }
    }
  }
  return r;
}

void ScaleAlongAxis(core::Tensor& w, int axis, absl::Span<const float> scale) {
  const AxisSplit s = Split(w.dims(), axis);
  auto data = w.span<float>();
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.n; ++i) {
      float* p = data.data() + (o * s.n + i) * s.inner;
      for (int64_t k = 0; k < s.inner; ++k) p[k] *= scale[i];
    }
  }
}

std::vector<float> ConvInputChannelAbsMax(const core::Tensor& w, int64_t groups) {
  const ConvSplit s = SplitConv(w.dims(), groups);
  std::vector<float> r(s.groups * s.icg, 0.0f);
  auto data = w.span<float>();
  for (int64_t g = 0; g < s.groups; ++g) {
    for (int64_t o = 0; o < s.ocg; ++o) {
      for (int64_t j = 0; j < s.icg; ++j) {
        const float* p = data.data() + ((g * s.ocg + o) * s.icg + j) * s.kernel;
        float& m = r[g * s.icg + j];
        for (int64_t k = 0; k < s.kernel; ++k) m = std::max(m, std::abs(p[k]));
      }
    }
  }
  return r;
}

void ScaleConvInputChannels(core::Tensor& w, int64_t groups, absl::Span<const float> scale) {
  const ConvSplit s = SplitConv(w.dims(), groups);
  auto data = w.span<float>();
  for (int64_t g = 0; g < s.groups; ++g) {
    for (int64_t o = 0; o < s.ocg; ++o) {
      for (int64_t j = 0; j < s.icg; ++j) {
        float* p = data.data() + ((g * s.ocg + o) * s.icg + j) * s.kernel;
        for (int64_t k = 0; k < s.kernel; ++k) p[k] *= scale[g * s.icg + j];
      }
    }
  }
}

double RangeSpread(absl::Span<const float> ranges) {
  float lo = 0, hi = 0;
  int positive = 0;
  for (float r : ranges) {
    if (!(r > 0)) continue;
    lo = positive == 0 ? r : std::min(lo, r);
    hi = std::max(hi, r);
    ++positive;
  }
  return positive < 2 ? 1.0 : static_cast<double>(hi) / lo;
}

}  // namespace q8::engine
