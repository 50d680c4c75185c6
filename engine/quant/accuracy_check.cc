// Evaluation helpers for the quantizer's accuracy check.
#include "engine/quant/accuracy_check.h"

#include <algorithm>
#include <cmath>

#include "core/status_macros.h"

namespace q8::engine {
namespace {

constexpr int64_t kEvalBatch = 32;

int64_t ArgMax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) best = row[i] > row[best] ? i : best;
  return best;
}

}  // namespace

double SqnrDb(double signal, double noise) {
  if (noise <= 0) return 100.0;
  if (signal <= 0) return 0.0;
  return std::min(100.0, 10.0 * std::log10(signal / noise));
}

int64_t EvalSet::rows() const {
  int64_t n = 0;
  for (const EvalPart& p : parts) n += p.rows();
  return n;
}

absl::StatusOr<EvalSet> MakeEvalSet(const CompiledModel& fp32, const std::vector<SampleGroup>& groups,
                                    const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  EvalSet e;
  e.has_labels = !groups.empty();
  int64_t correct = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    e.has_labels = e.has_labels && groups[g].labels != nullptr;
    if (ranges[g].second <= ranges[g].first) continue;
    EvalPart p;
    p.group = &groups[g];
    p.begin = ranges[g].first;
    p.end = ranges[g].second;
    Q8_RETURN_IF_ERROR(RunInBatches(fp32, groups[g], p.begin, p.end, kEvalBatch, [&](std::vector<core::Tensor>& outs) {
      auto s = outs[0].span<float>();
      p.fp32_scores.insert(p.fp32_scores.end(), s.begin(), s.end());
      return absl::OkStatus();
    }));
    p.classes = static_cast<int64_t>(p.fp32_scores.size()) / p.rows();
    if (groups[g].labels != nullptr) {
      for (int64_t r = 0; r < p.rows(); ++r) {
        correct += ArgMax(&p.fp32_scores[r * p.classes], p.classes) == groups[g].labels->span<int64_t>()[p.begin + r];
      }
    }
    e.parts.push_back(std::move(p));
  }
  if (e.has_labels && e.rows() > 0) e.fp32_top1 = static_cast<double>(correct) / e.rows();
  return e;
}

absl::StatusOr<Evaluation> Evaluate(const CompiledModel& candidate, const EvalSet& eval) {
  Evaluation result;
  int64_t total = 0, correct = 0, agree = 0, worse = 0, better = 0;
  double signal = 0, noise = 0;
  for (const EvalPart& part : eval.parts) {
    int64_t row = 0;
    const core::Tensor* labels = eval.has_labels ? part.group->labels : nullptr;
    Q8_RETURN_IF_ERROR(
        RunInBatches(candidate, *part.group, part.begin, part.end, kEvalBatch, [&](std::vector<core::Tensor>& outs) {
          auto s = outs[0].span<float>();
          const int64_t rows = static_cast<int64_t>(s.size()) / part.classes;
          for (int64_t r = 0; r < rows; ++r, ++row) {
            const float* ref = &part.fp32_scores[row * part.classes];
            const float* got = s.data() + r * part.classes;
            const int64_t top = ArgMax(got, part.classes);
            const int64_t ref_top = ArgMax(ref, part.classes);
            agree += top == ref_top;
            if (labels != nullptr) {
              const int64_t label = labels->span<int64_t>()[part.begin + row];
              correct += top == label;
              worse += ref_top == label && top != label;
              better += ref_top != label && top == label;
            }
            for (int64_t c = 0; c < part.classes; ++c) {
              signal += double(ref[c]) * ref[c];
              noise += double(ref[c] - got[c]) * (ref[c] - got[c]);
            }
          }
          return absl::OkStatus();
        }));
    total += row;
  }
  if (total > 0) {
    result.top1 = static_cast<double>(correct) / total;
    result.agreement = static_cast<double>(agree) / total;
  }
  result.rows = total;
  result.worse_top1 = worse;
  result.better_top1 = better;
  result.disagree = total - agree;
  result.sqnr_db = SqnrDb(signal, noise);
  return result;
}

double Drop(const Evaluation& e, const EvalSet& eval, AccuracyMetric metric) {
  if (metric == AccuracyMetric::kTop1 && eval.has_labels) return eval.fp32_top1 - e.top1;
  return 1.0 - e.agreement;
}

double BinomialTailAtLeast(int64_t k, int64_t n, double p) {
  if (k <= 0) return 1.0;
  if (k > n) return 0.0;
  if (p <= 0) return 0.0;
  if (p >= 1) return 1.0;
  // Sum of the smaller side in log space (n up to millions stays finite).
  const double lp = std::log(p), lq = std::log1p(-p), lgn = std::lgamma(static_cast<double>(n) + 1);
  auto term = [&](int64_t i) {
    return std::exp(lgn - std::lgamma(static_cast<double>(i) + 1) - std::lgamma(static_cast<double>(n - i) + 1) +
                    i * lp + (n - i) * lq);
  };
  double upper = 0;
  for (int64_t i = k; i <= n; ++i) upper += term(i);
  return std::min(1.0, upper);
}

double BinomialLowerBound(int64_t x, int64_t n, double confidence) {
  if (n <= 0 || x <= 0) return 0.0;
  const double alpha = 1.0 - confidence;
  // P(X >= x | p) grows with p: the p where it reaches alpha.
  double lo = 0, hi = static_cast<double>(x) / n;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (BinomialTailAtLeast(x, n, mid) < alpha ? lo : hi) = mid;
  }
  return lo;
}

double BinomialUpperBound(int64_t x, int64_t n, double confidence) {
  if (n <= 0 || x >= n) return 1.0;
  const double alpha = 1.0 - confidence;
  // P(X <= x | p) = 1 - P(X >= x + 1 | p) falls with p: the p where it reaches alpha.
  double lo = static_cast<double>(x) / n, hi = 1;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (1.0 - BinomialTailAtLeast(x + 1, n, mid) > alpha ? lo : hi) = mid;
  }
  return hi;
}

DropTest TestDrop(int64_t worse, int64_t better, int64_t samples, bool better_possible, double max_drop,
                  double confidence) {
  DropTest t;
  t.samples = samples;
  t.worse = worse;
  t.better = better;
  t.confidence = confidence;
  if (samples <= 0) return t;
  t.observed = static_cast<double>(worse - better) / samples;
  if (better_possible) {
    const double each = 1.0 - (1.0 - confidence) / 2;
    t.low = BinomialLowerBound(worse, samples, each) - BinomialUpperBound(better, samples, each);
    t.high = BinomialUpperBound(worse, samples, each) - BinomialLowerBound(better, samples, each);
  } else {
    t.low = BinomialLowerBound(worse, samples, confidence);
    t.high = BinomialUpperBound(worse, samples, confidence);
  }
  t.p_value = BinomialTailAtLeast(worse, worse + better, 0.5);
  t.exceeds = t.low > max_drop;
  t.within = t.high <= max_drop;
  t.more_samples_needed = !t.exceeds && !t.within;
  return t;
}

DropTest TestDrop(const Evaluation& e, const EvalSet& eval, AccuracyMetric metric, double max_drop, double confidence) {
  if (metric == AccuracyMetric::kTop1 && eval.has_labels) {
    return TestDrop(e.worse_top1, e.better_top1, e.rows, /*better_possible=*/true, max_drop, confidence);
  }
  return TestDrop(e.disagree, 0, e.rows, /*better_possible=*/false, max_drop, confidence);
}

absl::StatusOr<std::map<ValueId, double>> PerTensorSqnr(const CaptureGraph& capture, const CompiledModel& reference,
                                                        const CompiledModel& candidate, const EvalSet& eval,
                                                        int64_t max_rows) {
  std::map<ValueId, double> signal, noise;
  int64_t budget = max_rows;
  for (const EvalPart& part : eval.parts) {
    const int64_t end = std::min(part.end, part.begin + budget);
    budget -= end - part.begin;
    for (int64_t b = part.begin; b < end; b += kEvalBatch) {
      const int64_t stop = std::min(end, b + kEvalBatch);
      std::vector<core::Tensor> ref, got;
      auto keep = [](std::vector<core::Tensor>& into) {
        return [&into](std::vector<core::Tensor>& o) {
          into = std::move(o);
          return absl::OkStatus();
        };
      };
      Q8_RETURN_IF_ERROR(RunInBatches(reference, *part.group, b, stop, kEvalBatch, keep(ref)));
      Q8_RETURN_IF_ERROR(RunInBatches(candidate, *part.group, b, stop, kEvalBatch, keep(got)));
      for (size_t i = 0; i < capture.values.size(); ++i) {
        const core::Tensor& r_t = ref[capture.first_capture_output + i];
        if (r_t.dtype() != core::DataType::kFloat32) continue;  // ids and masks: exact, not measured
        auto r = r_t.span<float>();
        auto g = got[capture.first_capture_output + i].span<float>();
        double s = 0, n = 0;
        for (size_t k = 0; k < r.size(); ++k) {
          s += double(r[k]) * r[k];
          n += double(r[k] - g[k]) * (r[k] - g[k]);
        }
        signal[capture.values[i]] += s;
        noise[capture.values[i]] += n;
      }
    }
  }
  std::map<ValueId, double> sqnr;
  for (const auto& [v, s] : signal) sqnr[v] = SqnrDb(s, noise[v]);
  return sqnr;
}

}  // namespace q8::engine
