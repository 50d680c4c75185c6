// ModelLoader: the only code that changes which models serve. It drives one
// model name at a time (holding the registry's OperationGuard) through
//   parse parameters -> compile every version (engine) -> write to the
//   repository atomically -> publish READY in the registry -> notify health.
// Compiling is the expensive step and happens before anything is written or
// published, so a model that fails to compile changes nothing on disk and
// the previously loaded versions keep serving.
//
// Startup (LoadAll) loads every model in the repository, version by version:
// a broken version or model is recorded as UNAVAILABLE with the error as its
// reason and does not stop the server.
//
// Thread safety: all methods are thread-safe; operations on different model
// names run in parallel, a second operation on the same name gets ABORTED.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/compiler.h"
#include "inference.pb.h"
#include "server/model_config.h"
#include "server/model_registry.h"
#include "server/model_repository.h"

namespace q8::server {

// engine::Compile, or a fake in unit tests.
using CompileFn = std::function<absl::StatusOr<std::shared_ptr<const engine::CompiledModel>>(
    absl::string_view onnx_bytes, const engine::CompileOptions& options)>;

// A parsed RepositoryModelLoad. `files` views the RPC request's bytes.
struct LoadRequest {
  std::string name;
  std::optional<std::string> config_json;
  std::map<int64_t, absl::string_view> files;  // version -> model.onnx bytes
};

// Parameters: "config" (string_param JSON) and "file:<version>/model.onnx"
// (bytes_param). INVALID_ARGUMENT for other keys, wrong parameter kinds or
// a non-numeric version; RESOURCE_EXHAUSTED when config + files exceed
// `max_upload_bytes` (the message names the limit).
absl::StatusOr<LoadRequest> ParseLoadRequest(const inference::RepositoryModelLoadRequest& request,
                                             int64_t max_upload_bytes);

struct LoaderOptions {
  CompileFn compile;
  ModelConfig default_config;
  // Called after an operation changed whether `name` has a READY version.
  std::function<void(const std::string& name, bool ready)> on_ready_changed;
};

class ModelLoader {
 public:
  ModelLoader(LoaderOptions options, const ModelRepository* repository, ModelRegistry* registry)
      : options_(std::move(options)), repository_(repository), registry_(registry) {}

  // Upload (files given) or reload from the repository (no files). All or
  // nothing: every version must compile before anything is written.
  absl::Status Load(const LoadRequest& request);
  // Unloads from memory and marks the model unloaded on disk (files kept).
  absl::Status Unload(absl::string_view name);
  // Startup: every model in the repository. Errors are only repository I/O
  // failures; model failures are recorded in the registry.
  absl::Status LoadAll();

 private:
  absl::StatusOr<ModelConfig> EffectiveConfig(absl::string_view name, const std::optional<std::string>& json) const;
  absl::StatusOr<std::shared_ptr<const engine::CompiledModel>> CompileVersion(absl::string_view name, int64_t version,
                                                                              absl::string_view bytes,
                                                                              const ModelConfig& config) const;
  void LoadAtStartup(const ScannedModel& model);
  void Notify(const std::string& name) const;

  LoaderOptions options_;
  const ModelRepository* repository_;
  ModelRegistry* registry_;
};

}  // namespace q8::server
