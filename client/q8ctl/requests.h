// OIP message building and decoding, free of I/O and RPCs: model-upload
// (RepositoryModelLoad) parameters, ModelInfer requests from tensors (raw or
// typed contents), and output tensors from ModelInfer responses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "inference.pb.h"

namespace q8::client {

// ---- Upload ----

// Load parameter that carries the model bytes: "file:<version>/model.onnx".
std::string ModelFileParameter(int64_t version);
// "{}" or {"max_batch_size": N}: the config sent when no config file is given.
std::string DefaultConfigJson(std::optional<int64_t> max_batch_size);
// RepositoryModelLoad request with "config" (string_param) and the model file
// (bytes_param). `model_bytes` is moved into the request.
inference::RepositoryModelLoadRequest BuildLoadRequest(const std::string& model_name, int64_t version,
                                                       std::string model_bytes, std::string config_json);

// ---- Inference ----

enum class ContentMode {
  kRaw,    // raw_input_contents: one row-major blob per input (the fast path)
  kTyped,  // InferTensorContents (fp32_contents, int64_contents, ...)
};

struct NamedInput {
  std::string name;
  core::TensorView tensor;
};

// ModelInferRequest with one input per entry, in order; all outputs requested.
// Typed mode fails with INVALID_ARGUMENT for FP16/BF16 (they travel raw only).
absl::StatusOr<inference::ModelInferRequest> BuildInferRequest(const std::string& model_name,
                                                               const std::string& model_version,
                                                               absl::Span<const NamedInput> inputs,
                                                               ContentMode mode);

// Output `index` of a response as a tensor, from raw_output_contents when the
// response has any, else from the typed contents. Checks datatype, shape and
// sizes; BYTES outputs are UNIMPLEMENTED.
absl::StatusOr<core::Tensor> DecodeOutput(const inference::ModelInferResponse& response, int index);

}  // namespace q8::client
