// Cross-layer equalization as a step of quantize-on-upload: decides from the
// `quantization.equalization` setting whether to apply it, applies it to the
// prepared graph before calibration (and replays it when a persisted
// quantization is reloaded or exported), and fills the report's account of
// what it changed.
#pragma once

#include <map>

#include "absl/status/statusor.h"
#include "engine/model_builder.h"
#include "engine/passes/equalize_cross_layer.h"
#include "engine/quant/calibrator.h"
#include "engine/quant/quantization_options.h"
#include "engine/quant/quantization_report.h"

namespace q8::engine {

struct AppliedEqualization {
  bool applied = false;
  EqualizationResult result;
};

// kOn equalizes every pair FindEqualizablePairs finds; kAuto only with
// per-tensor weights (`per_channel_weights` false) and a pair involving a
// depthwise conv; kOff nothing. Why auto is that narrow: on the depthwise
// Fashion-MNIST MobileNet with per-channel weights (the default) equalization
// left top-1 as it was and lowered the logits' SQNR by 1.8 dB (RESULTS.md
// "Cross-layer equalization"); per-tensor weights are where the literature
// measures its gains. When applied, `prepared.graph` becomes an equalized
// copy (the original graph is shared and stays as it was).
AppliedEqualization ApplyEqualization(PreparedGraph& prepared, Equalization mode, bool per_channel_weights);

// Writes the setting, whether it was applied and, per pair, node names, the
// range of channel scales and the weight spreads before and after. With
// calibration `stats` of the equalized graph, also the activation spread of
// the tensor between the pair (before = after * s_i per channel, exactly,
// since that tensor's channel i was divided by s_i).
void ReportEqualization(const Graph& g, Equalization mode, const AppliedEqualization& applied,
                        const std::map<ValueId, ValueStats>* stats, QuantizationReport& report);

}  // namespace q8::engine
