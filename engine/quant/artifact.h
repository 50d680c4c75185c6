// The persisted form of a quantization: per-tensor scales, per-layer weight
// scales and corrected biases, as JSON stored beside model.onnx. It holds no
// timings, so quantizing the same model with the same data and options gives
// the same bytes (the report, with timings, is stored separately). Reloading replays it on the same float model without
// calibration data; int8 weights are recomputed from the float weights and
// the stored scales, so the artifact stays small and the result identical.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_builder.h"
#include "engine/plan/planner.h"
#include "engine/quant/channel_rescale.h"
#include "engine/quant/quant_spec.h"
#include "engine/quant/quantization_options.h"

namespace q8::engine {

// `model_bytes` (the float ONNX file) is fingerprinted into the artifact so a
// replaced model.onnx is detected on reload instead of silently reusing scales.
// `rescales` are the channel rescales (SmoothQuant) folded into `graph`'s
// constants before quantization; reloading replays them (ApplyArtifactRescales).
std::string SerializeArtifact(const Graph& graph, const QuantSpec& spec, const QuantizationOptions& options,
                              absl::string_view model_bytes = {}, const std::vector<ChannelRescale>& rescales = {});

// `prepared` (the float model as imported) with the artifact's recorded
// channel rescales folded in: the graph its scales and layers refer to.
// Unchanged when there are none; DATA_LOSS when they do not fit.
absl::StatusOr<PreparedGraph> ApplyArtifactRescales(const PreparedGraph& prepared, absl::string_view artifact);

struct ParsedArtifact {
  QuantSpec spec;
  QuantMode mode = QuantMode::kNone;
};

// Whether the artifact was made on a cross-layer-equalized graph (false for
// artifacts from before equalization existed, and for unreadable ones, which
// ParseArtifact then rejects with the reason). Read before preparing the
// graph that ParseArtifact is given.
bool ArtifactEqualized(absl::string_view artifact);

// `fp32` is the float lowering of the same graph (source of the weights).
// DATA_LOSS when the artifact is malformed or does not match the model
// (checked against `model_bytes` when both carry a fingerprint).
absl::StatusOr<ParsedArtifact> ParseArtifact(const LoweredGraph& fp32, const std::string& artifact,
                                             absl::string_view model_bytes = {});

}  // namespace q8::engine
