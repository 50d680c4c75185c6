#include "server/model_config.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/logging.h"
#include "nlohmann/json.hpp"

namespace q8::server {
namespace {

using Json = nlohmann::json;

absl::Status ConfigError(absl::string_view model_name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config.json of model '", model_name, "': ", what));
}

std::string TypeName(const Json& j) { return j.type_name(); }

absl::StatusOr<int64_t> ReadBatch(const Json& j, absl::string_view key, absl::string_view model_name) {
  if (!j.is_number_integer()) {
    return ConfigError(model_name, absl::StrCat("'", key, "' must be an integer, got ", TypeName(j),
                                                " ", j.dump()));
  }
  int64_t v = j.get<int64_t>();
  if (v < 1 || v > kMaxConfigBatchSize) {
    return ConfigError(model_name, absl::StrCat("'", key, "' must be in [1, ", kMaxConfigBatchSize,
                                                "], got ", v));
  }
  return v;
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json, absl::string_view model_name,
                                             const ModelConfig& defaults) {
  Json doc = Json::parse(json.begin(), json.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return ConfigError(model_name, "not valid JSON");
  if (!doc.is_object()) {
    return ConfigError(model_name, absl::StrCat("must be a JSON object, got ", TypeName(doc)));
  }
  ModelConfig config = defaults;
  bool warmup_given = false;
  for (const auto& [key, value] : doc.items()) {
    if (key == "name") {
      if (!value.is_string()) {
        return ConfigError(model_name, absl::StrCat("'name' must be a string, got ", TypeName(value)));
      }
      if (value.get<std::string>() != model_name) {
        return ConfigError(model_name, absl::StrCat("'name' is '", value.get<std::string>(),
                                                    "' but the model is '", model_name, "'"));
      }
    } else if (key == "max_batch_size") {
      auto v = ReadBatch(value, key, model_name);
      if (!v.ok()) return v.status();
      config.max_batch_size = *v;
    } else if (key == "warmup_batch_sizes") {
      if (!value.is_array()) {
        return ConfigError(model_name,
                           absl::StrCat("'warmup_batch_sizes' must be an array, got ", TypeName(value)));
      }
      config.warmup_batch_sizes.clear();
      for (const Json& item : value) {
        auto v = ReadBatch(item, "warmup_batch_sizes[]", model_name);
        if (!v.ok()) return v.status();
        config.warmup_batch_sizes.push_back(*v);
      }
      warmup_given = true;
    } else {
      Q8_LOG(Warning, "config.json of model '", model_name, "': ignoring unknown key '", key, "'");
    }
  }
  for (int64_t b : config.warmup_batch_sizes) {
    if (b > config.max_batch_size) {
      if (!warmup_given) {
        // Defaults that no longer fit a smaller max_batch_size are clipped, not an error.
        config.warmup_batch_sizes = {1};
        break;
      }
      return ConfigError(model_name, absl::StrCat("warmup batch size ", b, " exceeds max_batch_size ",
                                                  config.max_batch_size));
    }
  }
  return config;
}

engine::CompileOptions ToCompileOptions(const ModelConfig& config) {
  engine::CompileOptions options;
  options.max_batch_size = config.max_batch_size;
  options.warmup_batch_sizes = config.warmup_batch_sizes;
  return options;
}

}  // namespace q8::server
