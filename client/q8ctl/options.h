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

// --server and --timeout_seconds (> 0).
absl::StatusOr<ClientOptions> GetClientOptions(const ParsedArgs& args);

struct ListOptions {
  bool ready_only = false;
};
ListOptions GetListOptions(const ParsedArgs& args);

struct UploadOptions {
  std::string name;
  std::string model_path;
  int64_t version = 1;                   // >= 1
  std::optional<std::string> config_path;
  std::optional<int64_t> max_batch_size;  // >= 0; exclusive with config_path
};
absl::StatusOr<UploadOptions> GetUploadOptions(const ParsedArgs& args);

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

// unload and metadata.
struct ModelOptions {
  std::string name;
  std::string version;  // empty: server's choice (metadata only)
};
absl::StatusOr<ModelOptions> GetModelOptions(const ParsedArgs& args);

}  // namespace q8::client
