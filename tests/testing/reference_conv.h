// Plain C++ reference for the small conv nets of the dynamic-shape tests
// (engine and integration): a 3x3, pad-1, stride-1 convolution of a
// one-channel NCHW input into `oc` channels, plus bias, then Relu.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace q8::testing {

// x [n, 1, h, wd]; w [oc, 1, 3, 3]; bias [oc]; returns [n, oc, h, wd].
inline std::vector<float> Conv3x3ReluReference(const std::vector<float>& x, int64_t n, int64_t h, int64_t wd,
                                               const std::vector<float>& w, const std::vector<float>& bias) {
  const int64_t oc = static_cast<int64_t>(bias.size());
  std::vector<float> y(n * oc * h * wd);
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t o = 0; o < oc; ++o) {
      for (int64_t i = 0; i < h; ++i) {
        for (int64_t j = 0; j < wd; ++j) {
          float acc = bias[o];
          for (int64_t ki = 0; ki < 3; ++ki) {
            for (int64_t kj = 0; kj < 3; ++kj) {
              const int64_t yi = i + ki - 1, xj = j + kj - 1;
              if (yi >= 0 && yi < h && xj >= 0 && xj < wd) acc += x[(b * h + yi) * wd + xj] * w[o * 9 + ki * 3 + kj];
            }
          }
          y[((b * oc + o) * h + i) * wd + j] = std::max(acc, 0.f);
        }
      }
    }
  }
  return y;
}

}  // namespace q8::testing
