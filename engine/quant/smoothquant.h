// SmoothQuant (Xiao et al., 2023) for static int8: a transformer's
// LayerNorm outputs carry a few channels up to ~100x larger than the rest, so
// one per-tensor activation scale spends the int8 grid on them. For every
// matmul input X that can fold (channel_rescale.h), channel j is divided by
//   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)
// (max|W_j| over all matmuls reading X, row j of their weights) and the
// weights' row j multiplied by it: the product is unchanged, the activation
// range flattens, the weights' range grows where they can afford it. The
// scales fold into the producer's constants (LayerNorm gamma/beta, a
// Linear's output columns), so a request pays nothing. Runs before the final
// calibration; the calibrator then sees the smoothed graph.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_builder.h"
#include "engine/quant/channel_rescale.h"
#include "engine/quant/quantization_options.h"
#include "engine/quant/quantization_report.h"

namespace q8::engine {

// The alphas tried for alpha "auto".
inline constexpr double kSmoothQuantAlphaGrid[] = {0.25, 0.4, 0.5, 0.6, 0.75};

// The activations SmoothQuant may rescale: the data inputs of MatMul/Gemm
// nodes with constant weights that fold; the others, one line per matmul
// with the reason, in `skipped`.
struct SmoothingSites {
  std::vector<RescaleSite> sites;
  std::vector<std::string> skipped;
};
SmoothingSites FindSmoothingSites(const Graph& g);

// s_j for one site from the activation's per-channel max |x| and the
// consumers' per-channel max |w|; channels where either is 0 keep s_j = 1.
std::vector<float> SmoothingScales(const std::vector<float>& act_absmax, const std::vector<float>& w_absmax,
                                   double alpha);

// Per-channel max |x| (last axis) of activations on calibration rows
// (ValueStats::last_axis_absmax).
using ChannelRanges = std::map<ValueId, std::vector<float>>;

struct SmoothQuantResult {
  PreparedGraph prepared;                // the smoothed graph (same value and node ids)
  std::vector<ChannelRescale> rescales;  // what was folded, for the artifact
  std::vector<SmoothingReport> report;
  std::vector<std::string> skipped;
  std::vector<std::pair<double, double>> search;  // (alpha, score) when searched
};

// `prepared` smoothed at one alpha.
absl::StatusOr<SmoothQuantResult> SmoothAt(const PreparedGraph& prepared, const SmoothingSites& sites,
                                           const ChannelRanges& ranges, double alpha);

// Higher is better (the quantizer's output SQNR on calibration rows).
using SmoothingScore = std::function<absl::StatusOr<double>(const PreparedGraph&)>;

// The whole step, from `ranges` measured on the unsmoothed graph: smooth at
// options.alpha, or at each alpha of the grid scored by `score`, keeping the
// best (ties: the smaller alpha, which moves less).
absl::StatusOr<SmoothQuantResult> RunSmoothQuant(const PreparedGraph& prepared, const SmoothQuantOptions& options,
                                                 const ChannelRanges& ranges, const SmoothingScore& score);

}  // namespace q8::engine
