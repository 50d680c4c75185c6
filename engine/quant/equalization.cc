// Applying and reporting cross-layer equalization for the quantizer.
#include "engine/quant/equalization.h"

#include <algorithm>
#include <memory>

#include "engine/passes/channel_scaling.h"

namespace q8::engine {

AppliedEqualization ApplyEqualization(PreparedGraph& prepared, Equalization mode, bool per_channel_weights) {
  AppliedEqualization out;
  if (mode == Equalization::kOff || (mode == Equalization::kAuto && per_channel_weights)) return out;
  if (mode == Equalization::kAuto) {
    const std::vector<EqualizablePair> pairs = FindEqualizablePairs(*prepared.graph);
    if (std::none_of(pairs.begin(), pairs.end(), [](const EqualizablePair& p) { return p.depthwise; })) return out;
  }
  auto graph = std::make_shared<Graph>(*prepared.graph);
  out.result = EqualizeCrossLayer(*graph);
  out.applied = !out.result.pairs.empty();
  if (out.applied) prepared.graph = std::move(graph);
  return out;
}

void ReportEqualization(const Graph& g, Equalization mode, const AppliedEqualization& applied,
                        const std::map<ValueId, ValueStats>* stats, QuantizationReport& report) {
  report.equalization = ToString(mode);
  report.equalized = applied.applied;
  report.equalization_sweeps = applied.applied ? applied.result.sweeps : 0;
  report.equalized_pairs.clear();
  if (!applied.applied) return;
  for (const EqualizedPair& e : applied.result.pairs) {
    EqualizedPairReport r;
    r.first = g.nodes()[e.pair.first].name;
    r.second = g.nodes()[e.pair.second].name;
    r.depthwise = e.pair.depthwise;
    r.scale_min = *std::min_element(e.scale.begin(), e.scale.end());
    r.scale_max = *std::max_element(e.scale.begin(), e.scale.end());
    r.first_weight_spread_before = e.first_spread_before;
    r.first_weight_spread_after = e.first_spread_after;
    r.second_weight_spread_before = e.second_spread_before;
    r.second_weight_spread_after = e.second_spread_after;
    auto it = stats != nullptr ? stats->find(e.pair.between) : std::map<ValueId, ValueStats>::const_iterator();
    if (stats != nullptr && it != stats->end() && it->second.channel_absmax.size() == e.scale.size()) {
      const std::vector<float>& after = it->second.channel_absmax;
      std::vector<float> before(after.size());
      for (size_t i = 0; i < after.size(); ++i) before[i] = after[i] * e.scale[i];
      r.activation_spread_before = RangeSpread(before);
      r.activation_spread_after = RangeSpread(after);
    }
    report.equalized_pairs.push_back(std::move(r));
  }
}

}  // namespace q8::engine
