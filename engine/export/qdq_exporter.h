// Export of a quantized model as a standard QDQ ONNX model: the optimized
// float graph (BatchNorm folded; fused activations and residual adds written
// back out as separate ops), int8 weights as DequantizeLinear over INT8
// initializers, and QuantizeLinear -> DequantizeLinear wherever the engine
// stores or reads an activation as int8. Any ONNX runtime can execute it,
// which gives an independent check of our int8 numerics and a way to take a
// q8serve quantization elsewhere.
//
// Fidelity: static int8 layers are reproduced up to float accumulation order
// and rounding ties. Dynamic layers (per-request activation scales) are
// exported with quantized weights and float activations: DynamicQuantizeLinear
// is u8-asymmetric and cannot express our symmetric scheme, so only the
// weight quantization is exact for them. bf16 layers (the fallback ladder's
// middle rung) are exported in float and named in the doc_string.
//
// Output: opset 17, IR version 8, the model's input and output names, the
// batch dimension kept dynamic for batchable models.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model_builder.h"
#include "engine/quant/quant_spec.h"

namespace q8::engine {

// `artifact` is the JSON of SerializeArtifact for this float model; empty
// exports the optimized fp32 graph. Errors: INVALID_ARGUMENT for a model the
// engine cannot compile, DATA_LOSS for an artifact that does not match it,
// UNIMPLEMENTED for a construct without an opset-17 equivalent.
absl::StatusOr<std::string> ExportQdqOnnx(absl::string_view float_onnx_bytes, absl::string_view artifact);

// The same from an already prepared graph and its spec (null or empty: the
// float graph), for callers that prepare graphs themselves, e.g. a capture
// graph (engine/quant/calibrator.h) to compare every tensor with the engine.
// `description` goes into the model's doc_string.
absl::StatusOr<std::string> ExportQdqGraph(const PreparedGraph& prepared, const QuantSpec* spec,
                                           absl::string_view description);

}  // namespace q8::engine
