// Typed, validated options of each q8ctl command, read from ParsedArgs:
// numbers and their ranges, mutually exclusive flags, `--input name=path`.
// Kept apart from the commands so that all argument checks are unit-testable
// without a server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/q8ctl/cli.h"
#include "client/q8ctl/client.h"

namespace q8::client {

// --server, --timeout_seconds (> 0) and the credential files (--token_file,
// --tls_ca_file, --tls_cert_file, --tls_key_file; read here).
absl::StatusOr<ClientOptions> GetClientOptions(const ParsedArgs& args);

struct ListOptions {
  bool ready_only = false;
};
ListOptions GetListOptions(const ParsedArgs& args);

// Quantization flags of `upload`: each one given overrides the same key of
// the config's "quantization" section. Names are checked by the server.
struct QuantizationFlags {
  std::optional<std::string> mode;    // --quantization static|dynamic|none
  std::optional<std::string> method;  // --method minmax|percentile|entropy|mse
  std::optional<double> percentile;
  std::optional<int64_t> max_samples;
  std::optional<std::string> metric;  // --metric top1|agreement
  std::optional<double> max_drop;
  std::optional<double> eval_fraction;
  std::optional<std::string> fallback;  // --fallback auto|bf16|fp32
  bool any() const {
    return mode || method || percentile || max_samples || metric || max_drop || eval_fraction || fallback;
  }
};

struct UploadOptions {
  std::string name;
  std::string model_path;
  int64_t version = 1;  // >= 1
  std::optional<std::string> config_path;
  std::optional<int64_t> max_batch_size;  // >= 0; exclusive with config_path
  QuantizationFlags quantization;
  std::optional<std::string> calibration_path;  // inputs .npy
  std::optional<std::string> labels_path;       // labels .npy (needs calibration_path)
};
absl::StatusOr<UploadOptions> GetUploadOptions(const ParsedArgs& args);

// The config JSON an upload sends: `config_file` (the --config file's text)
// or {} / {"max_batch_size": N}, with the quantization flags merged into its
// "quantization" section. Without quantization flags the file is sent as is.
// INVALID_ARGUMENT if flags must be merged into a file that is not a JSON object.
absl::StatusOr<std::string> UploadConfigJson(const UploadOptions& options,
                                             const std::optional<std::string>& config_file);

struct InferInput {
  std::string tensor;  // empty: the model's only input (from ModelMetadata)
  std::string path;
};
// "x.npy" -> {"", "x.npy"}; "input.1=x.npy" -> {"input.1", "x.npy"}. Text
// before the first '=' is a tensor name unless it contains '/', so
// "dir/a=b.npy" stays a path.
InferInput ParseInferInput(const std::string& value);

struct InferOptions {
  std::string name;
  std::string version;  // empty: server's choice
  std::vector<InferInput> inputs;
  std::optional<std::string> output_path;
  int top_k = 5;  // 0: print no classes
  bool typed = false;
};
absl::StatusOr<InferOptions> GetInferOptions(const ParsedArgs& args);

struct ReportOptions {
  std::string name;
  int64_t version = 0;  // 0: the server's choice (highest READY)
  bool json = false;    // print the raw report JSON
};
absl::StatusOr<ReportOptions> GetReportOptions(const ParsedArgs& args);

struct ExportOptions {
  std::string name;
  std::string output_path;
  int64_t version = 0;
};
absl::StatusOr<ExportOptions> GetExportOptions(const ParsedArgs& args);

// unload and metadata.
struct ModelOptions {
  std::string name;
  std::string version;  // empty: server's choice (metadata only)
};
absl::StatusOr<ModelOptions> GetModelOptions(const ParsedArgs& args);

}  // namespace q8::client
