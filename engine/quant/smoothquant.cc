// SmoothQuant: sites, scales, folding and the alpha search (see smoothquant.h).
#include "engine/quant/smoothquant.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace q8::engine {
namespace {

// A matmul the quantizer would run int8: constant weights.
bool IsWeightMatMul(const Graph& g, const Node& n) {
  return !n.removed && (n.op_type == "MatMul" || n.op_type == "Gemm") && n.inputs.size() >= 2 &&
         g.IsConstant(n.inputs[1]) && !g.IsConstant(n.inputs[0]);
}

float Median(std::vector<float> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

SmoothingSites FindSmoothingSites(const Graph& g) {
  SmoothingSites out;
  std::map<ValueId, bool> seen;
  for (const Node& n : g.nodes()) {
    if (!IsWeightMatMul(g, n)) continue;
    const ValueId x = n.inputs[0];
    if (seen.count(x)) continue;
    seen[x] = true;
    auto site = FindRescaleSite(g, x);
    if (site.ok()) {
      out.sites.push_back(*std::move(site));
      continue;
    }
    for (int c : g.Consumers(x)) {
      if (IsWeightMatMul(g, g.nodes()[c])) {
        out.skipped.push_back(absl::StrCat(g.nodes()[c].Describe(), ": input ", site.status().message()));
      }
    }
  }
  return out;
}

std::vector<float> SmoothingScales(const std::vector<float>& act_absmax, const std::vector<float>& w_absmax,
                                   double alpha) {
  std::vector<float> s(act_absmax.size(), 1.0f);
  for (size_t j = 0; j < s.size() && j < w_absmax.size(); ++j) {
    if (!(act_absmax[j] > 0) || !(w_absmax[j] > 0)) continue;
    const double v = std::pow(act_absmax[j], alpha) / std::pow(w_absmax[j], 1.0 - alpha);
    // Bounded so a dead channel next to a huge one cannot push a weight or
    // gamma to denormals or overflow.
    s[j] = static_cast<float>(std::clamp(v, 1e-6, 1e6));
  }
  return s;
}

absl::StatusOr<SmoothQuantResult> SmoothAt(const PreparedGraph& prepared, const SmoothingSites& sites,
                                           const ChannelRanges& ranges, double alpha) {
  SmoothQuantResult r;
  r.skipped = sites.skipped;
  auto graph = std::make_shared<Graph>(*prepared.graph);
  for (const RescaleSite& site : sites.sites) {
    const Node& producer = graph->nodes()[site.producer];
    auto it = ranges.find(site.value);
    if (it == ranges.end() || static_cast<int64_t>(it->second.size()) != site.channels) {
      for (int c : site.consumers) {
        r.skipped.push_back(absl::StrCat(graph->nodes()[c].Describe(), ": no per-channel range for its input '",
                                         graph->value(site.value).name, "' on the calibration rows"));
      }
      continue;
    }
    const std::vector<float>& act = it->second;
    const std::vector<float> s = SmoothingScales(act, ConsumerWeightAbsMax(*graph, site), alpha);
    SmoothingReport rep;
    rep.tensor = graph->value(site.value).name;
    rep.folded_into = producer.Describe();
    for (int c : site.consumers) rep.matmuls.push_back(graph->nodes()[c].name);
    rep.alpha = alpha;
    std::vector<float> after(act.size());
    for (size_t j = 0; j < act.size(); ++j) after[j] = act[j] / s[j];
    rep.absmax_before = *std::max_element(act.begin(), act.end());
    rep.absmax_after = *std::max_element(after.begin(), after.end());
    rep.median_before = Median(act);
    rep.median_after = Median(after);
    Q8_RETURN_IF_ERROR(ApplyRescale(*graph, site, s));
    r.rescales.push_back({site.value, s});
    r.report.push_back(std::move(rep));
  }
  r.prepared = prepared;
  r.prepared.graph = std::move(graph);
  return r;
}

absl::StatusOr<SmoothQuantResult> RunSmoothQuant(const PreparedGraph& prepared, const SmoothQuantOptions& options,
                                                 const ChannelRanges& ranges, const SmoothingScore& score) {
  const SmoothingSites sites = FindSmoothingSites(*prepared.graph);
  if (!options.search || sites.sites.empty()) return SmoothAt(prepared, sites, ranges, options.alpha);
  std::optional<SmoothQuantResult> best;
  double best_score = 0;
  std::vector<std::pair<double, double>> search;
  for (double alpha : kSmoothQuantAlphaGrid) {
    Q8_ASSIGN_OR_RETURN(SmoothQuantResult r, SmoothAt(prepared, sites, ranges, alpha));
    Q8_ASSIGN_OR_RETURN(const double sc, score(r.prepared));
    search.push_back({alpha, sc});
    if (!best || sc > best_score) {
      best_score = sc;
      best = std::move(r);
    }
  }
  best->search = std::move(search);
  return *std::move(best);
}

}  // namespace q8::engine
