// Per-command option extraction and validation (see options.h).
#include "client/q8ctl/options.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/q8ctl/requests.h"
#include "nlohmann/json.hpp"

namespace q8::client {
namespace {

absl::StatusOr<int64_t> GetInt(const ParsedArgs& args, const std::string& flag, int64_t default_value,
                               int64_t min_value) {
  std::optional<std::string> text = args.Get(flag);
  if (!text.has_value()) return default_value;
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " needs an integer, got '", *text, "'"));
  }
  if (value < min_value) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be >= ", min_value, ", got ", value));
  }
  return value;
}

absl::StatusOr<std::optional<double>> GetDouble(const ParsedArgs& args, const std::string& flag) {
  std::optional<std::string> text = args.Get(flag);
  if (!text.has_value()) return std::optional<double>();
  double value = 0;
  if (!absl::SimpleAtod(*text, &value) || !std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " needs a number, got '", *text, "'"));
  }
  return std::optional<double>(value);
}

absl::Status NeedPositionals(const ParsedArgs& args, size_t count) {
  if (args.positionals.size() < count) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", count, " argument(s), got ", args.positionals.size()));
  }
  for (size_t i = 0; i < count; ++i) {
    if (args.positionals[i].empty()) return absl::InvalidArgumentError("empty argument");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ClientOptions> GetClientOptions(const ParsedArgs& args) {
  ClientOptions options;
  if (std::optional<std::string> server = args.Get("server")) {
    if (server->empty()) return absl::InvalidArgumentError("--server is empty");
    options.server = *server;
  }
  if (std::optional<std::string> text = args.Get("timeout_seconds")) {
    double seconds = 0;
    if (!absl::SimpleAtod(*text, &seconds) || !std::isfinite(seconds) || seconds <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--timeout_seconds needs a positive number of seconds, got '", *text, "'"));
    }
    options.timeout = absl::Seconds(seconds);
  }
  ChannelSecurityFiles files;
  files.token_file = args.Get("token_file").value_or("");
  files.tls_ca_file = args.Get("tls_ca_file").value_or("");
  files.tls_cert_file = args.Get("tls_cert_file").value_or("");
  files.tls_key_file = args.Get("tls_key_file").value_or("");
  absl::StatusOr<ChannelSecurity> security = LoadChannelSecurity(files);
  if (!security.ok()) return security.status();
  options.security = *std::move(security);
  return options;
}

ListOptions GetListOptions(const ParsedArgs& args) { return {args.GetBool("ready")}; }

absl::StatusOr<UploadOptions> GetUploadOptions(const ParsedArgs& args) {
  if (absl::Status status = NeedPositionals(args, 2); !status.ok()) return status;
  UploadOptions options;
  options.name = args.positionals[0];
  options.model_path = args.positionals[1];
  absl::StatusOr<int64_t> version = GetInt(args, "version", 1, 1);
  if (!version.ok()) return version.status();
  options.version = *version;
  options.config_path = args.Get("config");
  if (args.Has("max_batch_size")) {
    if (options.config_path.has_value()) {
      return absl::InvalidArgumentError("give either --config or --max_batch_size, not both");
    }
    absl::StatusOr<int64_t> batch = GetInt(args, "max_batch_size", 0, 0);
    if (!batch.ok()) return batch.status();
    options.max_batch_size = *batch;
  }
  QuantizationFlags& q = options.quantization;
  q.mode = args.Get("quantization");
  q.method = args.Get("method");
  q.metric = args.Get("metric");
  q.fallback = args.Get("fallback");
  for (auto [flag, slot] : {std::pair{"percentile", &q.percentile}, std::pair{"max_drop", &q.max_drop},
                            std::pair{"eval_fraction", &q.eval_fraction}}) {
    absl::StatusOr<std::optional<double>> value = GetDouble(args, flag);
    if (!value.ok()) return value.status();
    *slot = *value;
  }
  if (args.Has("max_samples")) {
    absl::StatusOr<int64_t> samples = GetInt(args, "max_samples", 0, 1);
    if (!samples.ok()) return samples.status();
    q.max_samples = *samples;
  }
  options.calibration_path = args.Get("calibration");
  options.labels_path = args.Get("labels");
  if (options.labels_path && !options.calibration_path) {
    return absl::InvalidArgumentError("--labels needs --calibration (the inputs the labels belong to)");
  }
  return options;
}

absl::StatusOr<std::string> UploadConfigJson(const UploadOptions& options,
                                             const std::optional<std::string>& config_file) {
  std::string base = config_file ? *config_file : DefaultConfigJson(options.max_batch_size);
  const QuantizationFlags& q = options.quantization;
  if (!q.any()) return base;
  using Json = nlohmann::json;
  Json config = Json::parse(base, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config ", options.config_path.value_or(""),
                     " is not a JSON object, so the quantization flags cannot be merged into it"));
  }
  Json& section = config["quantization"];
  if (!section.is_object()) section = Json::object();
  if (q.mode) section["mode"] = *q.mode;
  if (q.fallback) section["fallback"] = *q.fallback;  // the server validates the value
  if (q.method || q.percentile || q.max_samples) {
    Json& calibration = section["calibration"];
    if (!calibration.is_object()) calibration = Json::object();
    if (q.method) calibration["method"] = *q.method;
    if (q.percentile) calibration["percentile"] = *q.percentile;
    if (q.max_samples) calibration["max_samples"] = *q.max_samples;
  }
  if (q.metric || q.max_drop || q.eval_fraction) {
    Json& accuracy = section["accuracy"];
    if (!accuracy.is_object()) accuracy = Json::object();
    if (q.metric) accuracy["metric"] = *q.metric;
    if (q.max_drop) accuracy["max_drop"] = *q.max_drop;
    if (q.eval_fraction) accuracy["eval_fraction"] = *q.eval_fraction;
  }
  return config.dump();
}

absl::StatusOr<ReportOptions> GetReportOptions(const ParsedArgs& args) {
  if (absl::Status status = NeedPositionals(args, 1); !status.ok()) return status;
  ReportOptions options;
  options.name = args.positionals[0];
  absl::StatusOr<int64_t> version = GetInt(args, "version", 0, 1);
  if (!version.ok()) return version.status();
  options.version = *version;
  options.json = args.GetBool("json");
  return options;
}

absl::StatusOr<ExportOptions> GetExportOptions(const ParsedArgs& args) {
  if (absl::Status status = NeedPositionals(args, 2); !status.ok()) return status;
  ExportOptions options;
  options.name = args.positionals[0];
  options.output_path = args.positionals[1];
  absl::StatusOr<int64_t> version = GetInt(args, "version", 0, 1);
  if (!version.ok()) return version.status();
  options.version = *version;
  return options;
}

InferInput ParseInferInput(const std::string& value) {
  const size_t eq = value.find('=');
  if (eq == std::string::npos || eq == 0) return {"", value};
  const std::string tensor = value.substr(0, eq);
  if (tensor.find('/') != std::string::npos) return {"", value};
  return {tensor, value.substr(eq + 1)};
}

absl::StatusOr<InferOptions> GetInferOptions(const ParsedArgs& args) {
  if (absl::Status status = NeedPositionals(args, 1); !status.ok()) return status;
  InferOptions options;
  options.name = args.positionals[0];
  options.version = args.Get("version").value_or("");
  options.output_path = args.Get("output");
  options.typed = args.GetBool("typed");
  absl::StatusOr<int64_t> top_k = GetInt(args, "top_k", 5, 0);
  if (!top_k.ok()) return top_k.status();
  if (*top_k > 1'000'000) return absl::InvalidArgumentError("--top_k is too large");
  options.top_k = static_cast<int>(*top_k);
  for (const std::string& value : args.GetAll("input")) {
    InferInput input = ParseInferInput(value);
    if (input.path.empty()) return absl::InvalidArgumentError(absl::StrCat("--input '", value, "' has no path"));
    options.inputs.push_back(std::move(input));
  }
  if (options.inputs.empty()) return absl::InvalidArgumentError("'infer' needs --input");
  if (options.inputs.size() > 1) {
    for (const InferInput& input : options.inputs) {
      if (input.tensor.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("with several --input flags each needs a tensor name: --input NAME=", input.path));
      }
    }
  }
  for (size_t i = 0; i < options.inputs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (!options.inputs[i].tensor.empty() && options.inputs[i].tensor == options.inputs[j].tensor) {
        return absl::InvalidArgumentError(absl::StrCat("input '", options.inputs[i].tensor, "' given twice"));
      }
    }
  }
  return options;
}

absl::StatusOr<ModelOptions> GetModelOptions(const ParsedArgs& args) {
  if (absl::Status status = NeedPositionals(args, 1); !status.ok()) return status;
  return ModelOptions{args.positionals[0], args.Get("version").value_or("")};
}

}  // namespace q8::client
