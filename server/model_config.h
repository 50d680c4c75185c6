// ModelConfig: the per-model config.json (what RepositoryModelLoad's "config"
// parameter carries and what the repository stores next to the versions).
//
// Schema (all keys optional; unknown keys are accepted and logged, so later
// issues can add sections such as "quantization" without breaking old files):
//   {
//     "name": "fashion_cnn",            // if present, must equal the model name
//     "max_batch_size": 64,             // integer >= 1
//     "warmup_batch_sizes": [1, 8]      // integers in [1, max_batch_size]
//   }
// Malformed JSON, a non-object document, or a wrong type/range is
// INVALID_ARGUMENT with the key named. Parsing is cheap and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/compiler.h"

namespace q8::server {

struct ModelConfig {
  int64_t max_batch_size = 64;
  std::vector<int64_t> warmup_batch_sizes = {1};
};

// Largest max_batch_size a config may ask for.
inline constexpr int64_t kMaxConfigBatchSize = 1 << 16;

// Parses `json`; keys it does not set keep the value from `defaults`.
// `model_name` is used for the "name" check and in messages.
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json, absl::string_view model_name,
                                             const ModelConfig& defaults);

engine::CompileOptions ToCompileOptions(const ModelConfig& config);

}  // namespace q8::server
