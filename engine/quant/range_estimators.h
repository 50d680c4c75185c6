// Clipping thresholds for activation quantization, from a histogram of |x|
// collected over the calibration set. Each estimator answers "quantize to
// [-T, T] (or [0, T])": min/max, percentile, entropy (KL divergence, the
// TensorRT/ONNX Runtime method) and MSE-optimal clipping.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace q8::engine {

// Histogram of |x| over [0, range] in equal bins.
class AbsHistogram {
 public:
  explicit AbsHistogram(float range, int bins = 2048);
  void Add(absl::Span<const float> values);
  int bins() const { return static_cast<int>(counts_.size()); }
  float bin_width() const { return width_; }
  const std::vector<double>& counts() const { return counts_; }
  double total() const { return total_; }

 private:
  float width_;
  std::vector<double> counts_;
  double total_ = 0;
};

// `levels` is the number of positive quantization levels: 127 for s8, 255 for u8.
float PercentileThreshold(const AbsHistogram& h, double percentile);
float EntropyThreshold(const AbsHistogram& h, int levels);
float MseThreshold(const AbsHistogram& h, int levels);

}  // namespace q8::engine
