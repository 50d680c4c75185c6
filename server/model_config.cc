#include "server/model_config.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/logging.h"
#include "core/quote.h"
#include "nlohmann/json.hpp"

namespace q8::server {
namespace {

using Json = nlohmann::json;

absl::Status ConfigError(absl::string_view model_name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config.json of model '", core::Quote(model_name), "': ", what));
}

// A client JSON value as shown in messages: compact, bounded, and safe for
// any bytes (the document's depth is bounded before parsing, see below).
std::string Shown(const Json& j) { return core::Quote(j.dump(-1, ' ', false, Json::error_handler_t::replace)); }

// Refuses documents nested deeper than kMaxConfigDepth with one linear scan
// before nlohmann::json sees them: its DOM, dump() and destructor all walk
// the tree, and a 200 000-deep "[[[[..." must not reach any of them.
absl::Status CheckNesting(absl::string_view json, absl::string_view model_name) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : json) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxConfigDepth) {
        return ConfigError(model_name, absl::StrCat("JSON is nested more than ", kMaxConfigDepth, " levels deep"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

std::string TypeName(const Json& j) { return j.type_name(); }

absl::StatusOr<int64_t> ReadBatch(const Json& j, absl::string_view key, absl::string_view model_name) {
  if (!j.is_number_integer()) {
    return ConfigError(model_name, absl::StrCat("'", key, "' must be an integer, got ", TypeName(j), " ", Shown(j)));
  }
  int64_t v = j.get<int64_t>();
  if (v < 1 || v > kMaxConfigBatchSize) {
    return ConfigError(model_name, absl::StrCat("'", key, "' must be in [1, ", kMaxConfigBatchSize, "], got ", v));
  }
  return v;
}

// Readers for the "quantization" section: `path` is the dotted key
// ("quantization.calibration.method") used in every message.
absl::Status FieldError(absl::string_view model_name, absl::string_view path, absl::string_view what) {
  return ConfigError(model_name, absl::StrCat("'", path, "' ", what));
}

absl::StatusOr<std::string> ReadString(const Json& j, absl::string_view path, absl::string_view model_name) {
  if (!j.is_string()) {
    return FieldError(model_name, path, absl::StrCat("must be a string, got ", TypeName(j), " ", Shown(j)));
  }
  return j.get<std::string>();
}

absl::StatusOr<double> ReadNumber(const Json& j, absl::string_view path, absl::string_view model_name) {
  if (!j.is_number()) {
    return FieldError(model_name, path, absl::StrCat("must be a number, got ", TypeName(j), " ", Shown(j)));
  }
  return j.get<double>();
}

// Parses with one of the engine's Parse* helpers; their message lists the
// accepted names.
template <typename E>
absl::StatusOr<E> ReadEnum(const Json& j, absl::string_view path, absl::string_view model_name,
                           absl::StatusOr<E> (*parse)(const std::string&)) {
  auto text = ReadString(j, path, model_name);
  if (!text.ok()) return text.status();
  auto value = parse(*text);
  if (!value.ok()) return FieldError(model_name, path, absl::StrCat("is invalid: ", value.status().message()));
  return value;
}

absl::Status CheckObject(const Json& j, absl::string_view path, absl::string_view model_name,
                         std::initializer_list<const char*> keys) {
  if (!j.is_object()) {
    return FieldError(model_name, path, absl::StrCat("must be a JSON object, got ", TypeName(j)));
  }
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : keys) known = known || key == k;
    if (!known) {
      return ConfigError(model_name, absl::StrCat("unknown key '", path, ".", core::Quote(key),
                                                  "'; expected one of: ", absl::StrJoin(keys, ", ")));
    }
  }
  return absl::OkStatus();
}

#define Q8_CONFIG_ASSIGN(lhs, expr)   \
  do {                                \
    auto _v = (expr);                 \
    if (!_v.ok()) return _v.status(); \
    lhs = *std::move(_v);             \
  } while (false)

absl::StatusOr<int64_t> ReadIntInRange(const Json& j, absl::string_view path, absl::string_view model_name, int64_t lo,
                                       int64_t hi);

// "smoothquant": true | false | {"alpha": 0.5} | {"alpha": "auto"}.
absl::Status ParseSmoothQuant(const Json& j, absl::string_view model_name, engine::SmoothQuantOptions& o) {
  constexpr absl::string_view kPath = "quantization.smoothquant";
  if (j.is_boolean()) {
    o.enabled = j.get<bool>();
    return absl::OkStatus();
  }
  if (!j.is_object()) {
    return FieldError(
        model_name, kPath,
        absl::StrCat("must be true, false or an object like {\"alpha\": 0.5}, got ", TypeName(j), " ", Shown(j)));
  }
  if (absl::Status s = CheckObject(j, kPath, model_name, {"alpha"}); !s.ok()) return s;
  o.enabled = true;
  if (!j.contains("alpha")) return absl::OkStatus();
  const Json& a = j["alpha"];
  if (a.is_string() && a.get<std::string>() == "auto") {
    o.search = true;
    return absl::OkStatus();
  }
  if (!a.is_number()) {
    return FieldError(model_name, "quantization.smoothquant.alpha",
                      absl::StrCat("must be a number in [0, 1] or \"auto\", got ", TypeName(a), " ", Shown(a)));
  }
  o.alpha = a.get<double>();
  return absl::OkStatus();
}

absl::Status ParseQuantization(const Json& q, absl::string_view model_name, ModelConfig& config) {
  engine::QuantizationOptions& o = config.quantization;
  if (absl::Status s = CheckObject(q, "quantization", model_name,
                                   {"mode", "calibration", "per_channel", "accuracy", "live", "smoothquant",
                                    "equalization", "fallback", "activations"});
      !s.ok()) {
    return s;
  }
  if (q.contains("smoothquant")) {
    if (absl::Status s = ParseSmoothQuant(q["smoothquant"], model_name, o.smoothquant); !s.ok()) return s;
  }
  if (q.contains("mode")) {
    auto text = ReadString(q["mode"], "quantization.mode", model_name);
    if (!text.ok()) return text.status();
    config.quantization_auto = *text == "auto";
    if (config.quantization_auto) {
      o.mode = engine::QuantMode::kStatic;
    } else if (auto mode = engine::ParseQuantMode(*text); mode.ok()) {
      o.mode = *mode;
    } else {
      return FieldError(model_name, "quantization.mode",
                        absl::StrCat("is invalid: unknown quantization mode '", core::Quote(*text),
                                     "'; expected one of: auto, static, dynamic, none"));
    }
  }
  if (q.contains("live")) {
    const Json& l = q["live"];
    if (absl::Status s = CheckObject(l, "quantization.live", model_name, {"enabled", "samples"}); !s.ok()) return s;
    if (l.contains("enabled")) {
      const Json& e = l["enabled"];
      if (!e.is_boolean()) {
        return FieldError(model_name, "quantization.live.enabled",
                          absl::StrCat("must be true or false, got ", TypeName(e), " ", Shown(e)));
      }
      config.live.enabled = e.get<bool>();
    }
    if (l.contains("samples")) {
      Q8_CONFIG_ASSIGN(config.live.samples, ReadIntInRange(l["samples"], "quantization.live.samples", model_name,
                                                           kMinLiveSamples, kMaxLiveSamples));
    }
  }
  if (q.contains("fallback")) {
    Q8_CONFIG_ASSIGN(o.fallback,
                     ReadEnum(q["fallback"], "quantization.fallback", model_name, &engine::ParseFallbackPrecision));
  }
  if (q.contains("activations")) {
    Q8_CONFIG_ASSIGN(o.activations, ReadEnum(q["activations"], "quantization.activations", model_name,
                                             &engine::ParseActivationScheme));
  }
  if (q.contains("per_channel")) {
    const Json& pc = q["per_channel"];
    if (!pc.is_boolean()) {
      return FieldError(model_name, "quantization.per_channel",
                        absl::StrCat("must be true or false, got ", TypeName(pc), " ", Shown(pc)));
    }
    o.per_channel = pc.get<bool>();
  }
  if (q.contains("equalization")) {
    // true | false | "auto": a boolean switch with the automatic choice as the third value.
    const Json& e = q["equalization"];
    if (e.is_boolean()) {
      o.equalization = e.get<bool>() ? engine::Equalization::kOn : engine::Equalization::kOff;
    } else if (e.is_string() && e.get<std::string>() == "auto") {
      o.equalization = engine::Equalization::kAuto;
    } else {
      return FieldError(model_name, "quantization.equalization",
                        absl::StrCat("must be true, false or \"auto\", got ", TypeName(e), " ", Shown(e)));
    }
  }
  if (q.contains("calibration")) {
    const Json& c = q["calibration"];
    if (absl::Status s =
            CheckObject(c, "quantization.calibration", model_name, {"method", "percentile", "max_samples"});
        !s.ok()) {
      return s;
    }
    if (c.contains("method")) {
      Q8_CONFIG_ASSIGN(o.method, ReadEnum(c["method"], "quantization.calibration.method", model_name,
                                          &engine::ParseCalibrationMethod));
    }
    if (c.contains("percentile")) {
      Q8_CONFIG_ASSIGN(o.percentile, ReadNumber(c["percentile"], "quantization.calibration.percentile", model_name));
    }
    if (c.contains("max_samples")) {
      const Json& m = c["max_samples"];
      if (!m.is_number_integer()) {
        return FieldError(model_name, "quantization.calibration.max_samples",
                          absl::StrCat("must be an integer, got ", TypeName(m), " ", Shown(m)));
      }
      o.max_samples = m.get<int64_t>();
    }
  }
  if (q.contains("accuracy")) {
    const Json& a = q["accuracy"];
    if (absl::Status s =
            CheckObject(a, "quantization.accuracy", model_name, {"metric", "max_drop", "confidence", "eval_fraction"});
        !s.ok()) {
      return s;
    }
    if (a.contains("metric")) {
      Q8_CONFIG_ASSIGN(o.metric,
                       ReadEnum(a["metric"], "quantization.accuracy.metric", model_name, &engine::ParseAccuracyMetric));
    }
    if (a.contains("max_drop")) {
      Q8_CONFIG_ASSIGN(o.max_drop, ReadNumber(a["max_drop"], "quantization.accuracy.max_drop", model_name));
    }
    if (a.contains("confidence")) {
      Q8_CONFIG_ASSIGN(o.confidence, ReadNumber(a["confidence"], "quantization.accuracy.confidence", model_name));
    }
    if (a.contains("eval_fraction")) {
      Q8_CONFIG_ASSIGN(o.eval_fraction,
                       ReadNumber(a["eval_fraction"], "quantization.accuracy.eval_fraction", model_name));
    }
  }
  // Ranges are the engine's; its messages name the field without the
  // "quantization." prefix.
  if (absl::Status s = engine::ValidateOptions(o); !s.ok()) {
    return ConfigError(model_name, absl::StrCat("quantization.", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ReadIntInRange(const Json& j, absl::string_view path, absl::string_view model_name, int64_t lo,
                                       int64_t hi) {
  if (!j.is_number_integer()) {
    return FieldError(model_name, path, absl::StrCat("must be an integer, got ", TypeName(j), " ", Shown(j)));
  }
  const int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) return FieldError(model_name, path, absl::StrCat("must be in [", lo, ", ", hi, "], got ", v));
  return v;
}

absl::Status ParseExecution(const Json& e, absl::string_view model_name, ExecutionConfig& o) {
  if (absl::Status s =
          CheckObject(e, "execution", model_name, {"preset", "streams", "threads_per_stream", "max_queue_size"});
      !s.ok()) {
    return s;
  }
  if (e.contains("preset")) {
    auto text = ReadString(e["preset"], "execution.preset", model_name);
    if (!text.ok()) return text.status();
    auto preset = ParseExecutionPreset(*text);
    if (!preset.ok())
      return FieldError(model_name, "execution.preset", absl::StrCat("is invalid: ", preset.status().message()));
    o.preset = *preset;
  }
  if (e.contains("streams")) {
    Q8_CONFIG_ASSIGN(o.streams, ReadIntInRange(e["streams"], "execution.streams", model_name, 1, kMaxStreams));
  }
  if (e.contains("threads_per_stream")) {
    Q8_CONFIG_ASSIGN(o.threads_per_stream, ReadIntInRange(e["threads_per_stream"], "execution.threads_per_stream",
                                                          model_name, 1, kMaxThreadsPerStream));
  }
  if (e.contains("max_queue_size")) {
    Q8_CONFIG_ASSIGN(o.max_queue_size, ReadIntInRange(e["max_queue_size"], "execution.max_queue_size", model_name, 1,
                                                      kMaxQueueSizeConfig));
  }
  return absl::OkStatus();
}

absl::Status ParseDynamicBatching(const Json& b, absl::string_view model_name, DynamicBatchingConfig& o) {
  if (absl::Status s =
          CheckObject(b, "dynamic_batching", model_name, {"max_queue_delay_us", "preferred_batch_sizes", "eager"});
      !s.ok()) {
    return s;
  }
  o.enabled = true;
  if (b.contains("max_queue_delay_us")) {
    Q8_CONFIG_ASSIGN(o.max_queue_delay_us,
                     ReadIntInRange(b["max_queue_delay_us"], "dynamic_batching.max_queue_delay_us", model_name, 0,
                                    kMaxQueueDelayUs));
  }
  if (b.contains("eager")) {
    const Json& e = b["eager"];
    if (!e.is_boolean()) {
      return FieldError(model_name, "dynamic_batching.eager",
                        absl::StrCat("must be true or false, got ", TypeName(e), " ", Shown(e)));
    }
    o.eager = e.get<bool>();
  }
  if (b.contains("preferred_batch_sizes")) {
    const Json& sizes = b["preferred_batch_sizes"];
    if (!sizes.is_array()) {
      return FieldError(model_name, "dynamic_batching.preferred_batch_sizes",
                        absl::StrCat("must be an array, got ", TypeName(sizes)));
    }
    o.preferred_batch_sizes.clear();
    for (const Json& item : sizes) {
      int64_t v = 0;
      Q8_CONFIG_ASSIGN(
          v, ReadIntInRange(item, "dynamic_batching.preferred_batch_sizes[]", model_name, 1, kMaxConfigBatchSize));
      o.preferred_batch_sizes.push_back(v);
    }
  }
  return absl::OkStatus();
}

// "sequence_buckets": "auto" | "off" | false | true | [8, 16, 32] |
// {"buckets": [...], "input_axes": {"input_ids": 1, ...}, "mask_input": "...", "pad_value": 0}.
// Every form but "auto" and off asks for buckets (a model that cannot take
// them fails to load); the engine checks the names and axes against the model.
absl::Status ParseSequenceBuckets(const Json& j, absl::string_view model_name, engine::SequenceBucketOptions& o) {
  constexpr absl::string_view kPath = "sequence_buckets";
  using Mode = engine::SequenceBucketOptions::Mode;
  o = engine::SequenceBucketOptions{};
  auto read_buckets = [&](const Json& list, absl::string_view path) -> absl::Status {
    if (!list.is_array() || list.empty()) {
      return FieldError(model_name, path, absl::StrCat("must be a non-empty array of lengths, got ", Shown(list)));
    }
    if (static_cast<int64_t>(list.size()) > engine::kMaxSequenceBuckets) {
      return FieldError(model_name, path,
                        absl::StrCat("lists ", list.size(), " buckets; at most ", engine::kMaxSequenceBuckets,
                                     " (each is a plan per stream)"));
    }
    for (const Json& item : list) {
      int64_t v = 0;
      Q8_CONFIG_ASSIGN(v, ReadIntInRange(item, absl::StrCat(path, "[]"), model_name, 1, engine::kMaxSequenceBucket));
      if (!o.buckets.empty() && v <= o.buckets.back()) {
        return FieldError(model_name, path, absl::StrCat("must be strictly ascending, got ", Shown(list)));
      }
      o.buckets.push_back(v);
    }
    return absl::OkStatus();
  };
  if (j.is_string()) {
    const std::string text = j.get<std::string>();
    if (text == "auto") return absl::OkStatus();
    if (text == "off") {
      o.mode = Mode::kOff;
      return absl::OkStatus();
    }
    return FieldError(model_name, kPath,
                      absl::StrCat("must be \"auto\", \"off\", a boolean, a list of lengths or an "
                                   "object, got ",
                                   Shown(j)));
  }
  if (j.is_boolean()) {
    o.mode = j.get<bool>() ? Mode::kOn : Mode::kOff;
    return absl::OkStatus();
  }
  o.mode = Mode::kOn;
  if (j.is_array()) return read_buckets(j, kPath);
  if (absl::Status s = CheckObject(j, kPath, model_name, {"buckets", "input_axes", "mask_input", "pad_value"});
      !s.ok()) {
    return s;
  }
  if (j.contains("buckets")) {
    if (absl::Status s = read_buckets(j["buckets"], "sequence_buckets.buckets"); !s.ok()) return s;
  }
  if (j.contains("mask_input")) {
    Q8_CONFIG_ASSIGN(o.mask_input, ReadString(j["mask_input"], "sequence_buckets.mask_input", model_name));
  }
  if (j.contains("pad_value")) {
    if (!j["pad_value"].is_number_integer()) {
      return FieldError(model_name, "sequence_buckets.pad_value",
                        absl::StrCat("must be an integer, got ", Shown(j["pad_value"])));
    }
    o.pad_value = j["pad_value"].get<int64_t>();
  }
  if (j.contains("input_axes")) {
    const Json& axes = j["input_axes"];
    if (!axes.is_object() || axes.empty()) {
      return FieldError(
          model_name, "sequence_buckets.input_axes",
          absl::StrCat("must be an object like {\"input_ids\": 1, \"attention_mask\": 1}, got ", Shown(axes)));
    }
    for (const auto& [name, axis] : axes.items()) {
      int64_t v = 0;
      Q8_CONFIG_ASSIGN(
          v, ReadIntInRange(axis, absl::StrCat("sequence_buckets.input_axes.", core::Quote(name)), model_name, 1, 64));
      o.input_axes.emplace_back(name, v);
    }
  }
  return absl::OkStatus();
}

#undef Q8_CONFIG_ASSIGN

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json, absl::string_view model_name,
                                             const ModelConfig& defaults) {
  if (absl::Status s = CheckNesting(json, model_name); !s.ok()) return s;
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
        return ConfigError(model_name, absl::StrCat("'name' is '", core::Quote(value.get<std::string>()),
                                                    "' but the model is '", core::Quote(model_name), "'"));
      }
    } else if (key == "max_batch_size") {
      auto v = ReadBatch(value, key, model_name);
      if (!v.ok()) return v.status();
      config.max_batch_size = *v;
    } else if (key == "max_cached_plans") {
      auto v = ReadIntInRange(value, key, model_name, 1, kMaxCachedPlansConfig);
      if (!v.ok()) return v.status();
      config.max_cached_plans = *v;
    } else if (key == "warmup_batch_sizes") {
      if (!value.is_array()) {
        return ConfigError(model_name, absl::StrCat("'warmup_batch_sizes' must be an array, got ", TypeName(value)));
      }
      config.warmup_batch_sizes.clear();
      for (const Json& item : value) {
        auto v = ReadBatch(item, "warmup_batch_sizes[]", model_name);
        if (!v.ok()) return v.status();
        config.warmup_batch_sizes.push_back(*v);
      }
      // Sorted and deduplicated: each size is a plan per stream, built once.
      std::sort(config.warmup_batch_sizes.begin(), config.warmup_batch_sizes.end());
      config.warmup_batch_sizes.erase(std::unique(config.warmup_batch_sizes.begin(), config.warmup_batch_sizes.end()),
                                      config.warmup_batch_sizes.end());
      if (config.warmup_batch_sizes.empty()) {
        return ConfigError(model_name, "'warmup_batch_sizes' must list at least one batch size");
      }
      if (static_cast<int64_t>(config.warmup_batch_sizes.size()) > kMaxWarmupBatchSizes) {
        return ConfigError(model_name, absl::StrCat("'warmup_batch_sizes' lists ", config.warmup_batch_sizes.size(),
                                                    " distinct sizes; at most ", kMaxWarmupBatchSizes,
                                                    " are allowed (each is a plan built per stream)"));
      }
      warmup_given = true;
    } else if (key == "quantization") {
      if (absl::Status s = ParseQuantization(value, model_name, config); !s.ok()) return s;
    } else if (key == "execution") {
      if (absl::Status s = ParseExecution(value, model_name, config.execution); !s.ok()) return s;
    } else if (key == "dynamic_batching") {
      if (absl::Status s = ParseDynamicBatching(value, model_name, config.execution.batching); !s.ok()) return s;
    } else if (key == "sequence_buckets") {
      if (absl::Status s = ParseSequenceBuckets(value, model_name, config.sequence_buckets); !s.ok()) return s;
    } else if (key == "shadow_fraction") {
      auto v = ReadNumber(value, key, model_name);
      if (!v.ok()) return v.status();
      if (!(*v >= 0 && *v <= 1)) {
        return FieldError(model_name, key, absl::StrCat("must be in [0, 1], got ", Shown(value)));
      }
      config.shadow_fraction = *v;
    } else {
      Q8_LOG(Warning, "config.json of model '", core::Quote(model_name), "': ignoring unknown key '", core::Quote(key),
             "'");
    }
  }
  for (int64_t b : config.warmup_batch_sizes) {
    if (b > config.max_batch_size) {
      if (!warmup_given) {
        // Defaults that no longer fit a smaller max_batch_size are clipped, not an error.
        config.warmup_batch_sizes = {1};
        break;
      }
      return ConfigError(model_name,
                         absl::StrCat("warmup batch size ", b, " exceeds max_batch_size ", config.max_batch_size));
    }
  }
  for (int64_t b : config.execution.batching.preferred_batch_sizes) {
    if (b > config.max_batch_size) {
      return ConfigError(model_name,
                         absl::StrCat("preferred batch size ", b, " exceeds max_batch_size ", config.max_batch_size));
    }
  }
  return config;
}

engine::CompileOptions ToCompileOptions(const ModelConfig& config) {
  engine::CompileOptions options;
  options.max_batch_size = config.max_batch_size;
  options.max_cached_plans = config.max_cached_plans;
  options.warmup_batch_sizes = config.warmup_batch_sizes;
  return options;
}

}  // namespace q8::server
