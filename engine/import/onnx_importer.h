// ONNX ModelProto bytes -> Graph. The only engine file that includes ONNX
// headers. Rejects what it cannot represent (external data, non-float graph
// inputs, dynamic non-batch dims, foreign op domains) with INVALID_ARGUMENT.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/graph/graph.h"

namespace q8::engine {

struct ImportedModel {
  Graph graph;
  int64_t opset = 0;     // default-domain opset version
  std::string producer;  // e.g. "pytorch 1.13.1"
};

absl::StatusOr<ImportedModel> ImportOnnx(absl::string_view bytes);

// One serialized onnx.TensorProto (a .pb file of ONNX's test data, say) ->
// a tensor, with the same checks and conversions as initializers get.
// INVALID_ARGUMENT for bytes that do not parse or a type q8serve cannot hold.
absl::StatusOr<std::shared_ptr<const core::Tensor>> ParseOnnxTensor(absl::string_view bytes);

}  // namespace q8::engine
