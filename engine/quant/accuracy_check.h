// Accuracy of a quantized candidate on held-out samples: top-1 against
// labels, top-1 agreement and output SQNR against the fp32 model, and
// per-tensor SQNR for diagnosis and for ranking layers by sensitivity.
// The significance check (issue #13 item 5, #17 item 5): the drop is a paired
// comparison on the same rows, so the fallback fires only when the drop is
// above max_drop with the configured confidence, not on a flip or two.
#pragma once

#include <map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/compiled_model.h"
#include "engine/quant/calibrator.h"
#include "engine/quant/quantization_options.h"

namespace q8::engine {

// The evaluation rows [begin, end) of one sample group, with the fp32
// reference on them. Groups may differ in shape, so in classes too.
struct EvalPart {
  const SampleGroup* group = nullptr;
  int64_t begin = 0, end = 0;
  std::vector<float> fp32_scores;  // first output, [rows, classes] flattened
  int64_t classes = 0;
  int64_t rows() const { return end - begin; }
};

// The fp32 reference on the evaluation rows of every group, computed once.
struct EvalSet {
  std::vector<EvalPart> parts;
  bool has_labels = false;  // every group has int64 [N] labels
  double fp32_top1 = 0;     // valid with labels
  int64_t rows() const;
};

struct Evaluation {
  double top1 = 0;  // valid with labels
  double agreement = 0;
  double sqnr_db = 0;
  int64_t rows = 0;
  // Paired outcomes on the evaluation rows. top1: rows fp32 gets right and
  // the candidate wrong (worse), and the other way round (better);
  // agreement: rows whose top-1 differs from fp32's (worse; better is 0).
  int64_t worse_top1 = 0, better_top1 = 0, disagree = 0;
};

// The accuracy drop with its uncertainty, from paired outcomes on n rows.
struct DropTest {
  int64_t samples = 0;
  int64_t worse = 0, better = 0;
  double confidence = 0.95;
  double observed = 0;  // (worse - better) / samples
  // One-sided bounds, each holding with `confidence` (exact, Clopper-Pearson;
  // for top1, where rows can also get better, worse and better each at
  // 1 - (1 - confidence) / 2 and combined: conservative).
  double low = 0, high = 0;
  // Exact one-sided McNemar p-value of "no drop at all": P(X >= worse) for
  // X ~ Binomial(worse + better, 1/2). 1 when nothing changed.
  double p_value = 1;
  bool exceeds = false;              // low > max_drop: a real drop beyond max_drop -> fall back
  bool within = true;                // high <= max_drop: shown to be within max_drop
  bool more_samples_needed = false;  // neither: observed and bounds straddle max_drop
};

// One-sided Clopper-Pearson bounds of a binomial proportion from x of n:
// lower: the p with P(X >= x | p) = 1 - confidence (0 when x == 0); upper:
// the p with P(X <= x | p) = 1 - confidence (1 when x == n).
double BinomialLowerBound(int64_t x, int64_t n, double confidence);
double BinomialUpperBound(int64_t x, int64_t n, double confidence);
// P(X >= k) for X ~ Binomial(n, p).
double BinomialTailAtLeast(int64_t k, int64_t n, double p);
// `better_possible`: false for agreement (fp32 is the reference: rows can
// only disagree), true for top1 against labels.
DropTest TestDrop(int64_t worse, int64_t better, int64_t samples, bool better_possible, double max_drop,
                  double confidence);
// TestDrop of a candidate's evaluation by the chosen metric.
DropTest TestDrop(const Evaluation& e, const EvalSet& eval, AccuracyMetric metric, double max_drop, double confidence);

// `ranges[g]`: the evaluation rows [first, second) of groups[g] (empty ranges skipped).
absl::StatusOr<EvalSet> MakeEvalSet(const CompiledModel& fp32, const std::vector<SampleGroup>& groups,
                                    const std::vector<std::pair<int64_t, int64_t>>& ranges);
absl::StatusOr<Evaluation> Evaluate(const CompiledModel& candidate, const EvalSet& eval);
// The accuracy cost by the chosen metric (>= 0 means worse than fp32).
double Drop(const Evaluation& e, const EvalSet& eval, AccuracyMetric metric);

// 10*log10(sum ref^2 / sum (ref - x)^2), capped at 100 dB for exact matches.
double SqnrDb(double signal, double noise);

// SQNR of every captured tensor of `candidate` against `reference` (both
// built over `capture`) on up to `max_rows` evaluation rows (the first ones
// of each group, in group order).
absl::StatusOr<std::map<ValueId, double>> PerTensorSqnr(const CaptureGraph& capture, const CompiledModel& reference,
                                                        const CompiledModel& candidate, const EvalSet& eval,
                                                        int64_t max_rows);

}  // namespace q8::engine
