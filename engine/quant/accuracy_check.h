// Accuracy of a quantized candidate on held-out samples: top-1 against
// labels, top-1 agreement and output SQNR against the fp32 model, and
// per-tensor SQNR for diagnosis and for ranking layers by sensitivity.
#pragma once

#include <map>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/compiled_model.h"
#include "engine/quant/calibrator.h"
#include "engine/quant/quantization_options.h"

namespace q8::engine {

// The fp32 reference on the evaluation rows, computed once.
struct EvalSet {
  const core::Tensor* samples = nullptr;
  int64_t begin = 0, end = 0;
  const core::Tensor* labels = nullptr;  // int64 [N] or null
  std::vector<float> fp32_scores;        // first output, [rows, classes] flattened
  int64_t classes = 0;
  double fp32_top1 = 0;  // valid with labels
  int64_t rows() const { return end - begin; }
};

struct Evaluation {
  double top1 = 0;  // valid with labels
  double agreement = 0;
  double sqnr_db = 0;
};

absl::StatusOr<EvalSet> MakeEvalSet(const CompiledModel& fp32, const core::Tensor& samples, int64_t begin,
                                    int64_t end, const core::Tensor* labels);
absl::StatusOr<Evaluation> Evaluate(const CompiledModel& candidate, const EvalSet& eval);
// The accuracy cost by the chosen metric (>= 0 means worse than fp32).
double Drop(const Evaluation& e, const EvalSet& eval, AccuracyMetric metric);

// 10*log10(sum ref^2 / sum (ref - x)^2), capped at 100 dB for exact matches.
double SqnrDb(double signal, double noise);

// SQNR of every captured tensor of `candidate` against `reference` (both
// built over `capture`) on up to `max_rows` evaluation rows.
absl::StatusOr<std::map<ValueId, double>> PerTensorSqnr(const CaptureGraph& capture, const CompiledModel& reference,
                                                        const CompiledModel& candidate, const EvalSet& eval,
                                                        int64_t max_rows);

}  // namespace q8::engine
