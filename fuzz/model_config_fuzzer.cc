// config.json parsing (server::ParseModelConfig): any text is refused with a
// status or yields a config inside the documented bounds.
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_env.h"
#include "server/model_config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  q8::fuzz::QuietProcess();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  const q8::server::ModelConfig defaults;
  auto config = q8::server::ParseModelConfig(json, "fuzz_model", defaults);
  if (!config.ok()) return 0;
  if (config->max_batch_size < 1 || config->max_batch_size > q8::server::kMaxConfigBatchSize) abort();
  for (int64_t b : config->warmup_batch_sizes) {
    if (b < 1 || b > config->max_batch_size) abort();
  }
  if (config->shadow_fraction && !(*config->shadow_fraction >= 0 && *config->shadow_fraction <= 1)) abort();
  q8::engine::CompileOptions options = q8::server::ToCompileOptions(*config);
  if (options.max_batch_size != config->max_batch_size) abort();
  return 0;
}
