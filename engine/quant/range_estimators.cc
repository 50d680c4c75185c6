// Threshold searches over an |x| histogram. Thresholds are always bin edges,
// so results are deterministic for a given histogram.
#include "engine/quant/range_estimators.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace q8::engine {

AbsHistogram::AbsHistogram(float range, int bins) : width_(range > 0 ? range / bins : 1.0f), counts_(bins, 0.0) {}

void AbsHistogram::Add(absl::Span<const float> values) {
  const int last = bins() - 1;
  const float inv = 1.0f / width_;
  for (float v : values) {
    const int b = std::min(last, static_cast<int>(std::abs(v) * inv));
    counts_[b] += 1;
  }
  total_ += static_cast<double>(values.size());
}

float PercentileThreshold(const AbsHistogram& h, double percentile) {
  const double target = h.total() * percentile / 100.0;
  double seen = 0;
  for (int b = 0; b < h.bins(); ++b) {
    seen += h.counts()[b];
    if (seen >= target) return (b + 1) * h.bin_width();
  }
  return h.bins() * h.bin_width();
}

namespace {

// KL(P || Q) for P = the histogram clipped at `edge` bins (outliers folded
// into the last bin) and Q = P quantized to `levels` buckets and expanded
// back uniformly over P's non-empty bins.
double ClippedKl(const std::vector<double>& counts, int edge, int levels) {
  std::vector<double> p(counts.begin(), counts.begin() + edge);
  for (size_t b = edge; b < counts.size(); ++b) p[edge - 1] += counts[b];
  std::vector<double> q(edge, 0.0);
  const double per_level = static_cast<double>(edge) / levels;
  for (int l = 0; l < levels; ++l) {
    const int lo = static_cast<int>(std::floor(l * per_level));
    const int hi = std::max(lo + 1, static_cast<int>(std::floor((l + 1) * per_level)));
    double mass = 0;
    int nonzero = 0;
    for (int b = lo; b < hi && b < edge; ++b) {
      mass += counts[b];
      nonzero += counts[b] > 0;
    }
    for (int b = lo; b < hi && b < edge; ++b) {
      if (counts[b] > 0) q[b] = mass / nonzero;
    }
  }
  double p_sum = 0, q_sum = 0;
  for (int b = 0; b < edge; ++b) {
    p_sum += p[b];
    q_sum += q[b];
  }
  if (p_sum == 0 || q_sum == 0) return std::numeric_limits<double>::infinity();
  double kl = 0;
  for (int b = 0; b < edge; ++b) {
    if (p[b] == 0) continue;
    const double pn = p[b] / p_sum;
    // A bin P has but Q lost (only the folded last bin can do that) is
    // penalised with a tiny Q instead of infinity, as TensorRT does.
    const double qn = q[b] > 0 ? q[b] / q_sum : 1e-12;
    kl += pn * std::log(pn / qn);
  }
  return kl;
}

}  // namespace

float EntropyThreshold(const AbsHistogram& h, int levels) {
  const int bins = h.bins();
  if (bins <= levels) return bins * h.bin_width();
  // Exact zeros (everything a ReLU cut off) are represented exactly at any
  // threshold; left in, their spike dominates P and drives the search to
  // clip the informative tail. Level the first bin with its neighbour.
  std::vector<double> counts = h.counts();
  counts[0] = std::min(counts[0], counts[1]);
  double best = std::numeric_limits<double>::infinity();
  int best_edge = bins;
  // Candidate edges every few bins: the KL curve is smooth at this resolution.
  const int stride = std::max(1, bins / 512);
  for (int edge = levels; edge <= bins; edge += stride) {
    const double kl = ClippedKl(counts, edge, levels);
    if (kl < best) {
      best = kl;
      best_edge = edge;
    }
  }
  return best_edge * h.bin_width();
}

float MseThreshold(const AbsHistogram& h, int levels) {
  const int bins = h.bins();
  double best = std::numeric_limits<double>::infinity();
  float best_t = bins * h.bin_width();
  const int stride = std::max(1, bins / 512);
  for (int edge = std::min(levels, bins); edge <= bins; edge += stride) {
    const double t = edge * h.bin_width();
    const double step = t / levels;
    const double rounding = step * step / 12.0;  // uniform rounding error inside the range
    double err = 0;
    for (int b = 0; b < bins; ++b) {
      const double n = h.counts()[b];
      if (n == 0) continue;
      const double x = (b + 0.5) * h.bin_width();
      err += n * (x <= t ? rounding : (x - t) * (x - t));
    }
    if (err < best) {
      best = err;
      best_t = static_cast<float>(t);
    }
  }
  return best_t;
}

}  // namespace q8::engine
