// Histogram bucket boundaries of q8serve's metrics, spelled out (prometheus-cpp
// 1.0 has no bucket generators). Changing a boundary changes every dashboard's
// quantile estimates: keep deploy/prometheus (the 0.1 s SLO alert relies on 0.1
// being a boundary) and its rule tests in step.
#pragma once

#include <array>
#include <vector>

namespace q8::server::metrics {

// Seconds, 50 µs .. 10 s: fine enough for sub-millisecond int8 models, with
// the 1-2.5-5 steps dashboards expect (SLO thresholds such as 1 ms, 10 ms,
// 100 ms fall on a boundary, where histogram_quantile is exact).
inline constexpr std::array<double, 17> kLatencyBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
inline const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets(kLatencyBuckets.begin(), kLatencyBuckets.end());
  return kBuckets;
}

// Batch elements per model execution: powers of two up to 1024 (larger
// batches land in +Inf).
inline constexpr std::array<double, 11> kBatchSizeBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
inline const std::vector<double>& BatchSizeBuckets() {
  static const std::vector<double> kBuckets(kBatchSizeBuckets.begin(), kBatchSizeBuckets.end());
  return kBuckets;
}

// ||int8 - fp32|| / ||fp32|| of one sample's outputs: 1e-4 (indistinguishable)
// .. 1 (the int8 output is as large as the signal itself).
inline const std::vector<double>& RelativeErrorBuckets() {
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                               0.025,  0.05,    0.1,    0.25,  0.5,    1};
  return kBuckets;
}

}  // namespace q8::server::metrics
