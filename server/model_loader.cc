#include "server/model_loader.h"

#include <chrono>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/logging.h"
#include "core/status_macros.h"

namespace q8::server {
namespace {

constexpr absl::string_view kConfigParam = "config";
constexpr absl::string_view kFilePrefix = "file:";

// Keeps the code, prefixes the message with context.
absl::Status WithContext(const absl::Status& s, absl::string_view context) {
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace

absl::StatusOr<LoadRequest> ParseLoadRequest(const inference::RepositoryModelLoadRequest& request,
                                             int64_t max_upload_bytes) {
  LoadRequest out;
  out.name = request.model_name();
  Q8_RETURN_IF_ERROR(ValidateModelName(out.name));
  int64_t total = 0;
  for (const auto& [key, param] : request.parameters()) {
    if (key == kConfigParam) {
      if (param.parameter_choice_case() != inference::ModelRepositoryParameter::kStringParam) {
        return absl::InvalidArgumentError("load parameter 'config' must be a string_param holding JSON");
      }
      out.config_json = param.string_param();
      total += static_cast<int64_t>(param.string_param().size());
      continue;
    }
    absl::string_view path = key;
    if (!absl::ConsumePrefix(&path, kFilePrefix)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown load parameter '", key,
                                                     "'; expected 'config' or 'file:<version>/model.onnx'"));
    }
    size_t slash = path.find('/');
    std::optional<int64_t> version =
        slash == absl::string_view::npos ? std::nullopt : ParseVersion(path.substr(0, slash));
    if (!version) {
      return absl::InvalidArgumentError(absl::StrCat("load parameter '", key,
                                                     "': expected 'file:<version>/model.onnx' with a numeric "
                                                     "version >= 1"));
    }
    if (path.substr(slash + 1) != kModelFileName) {
      return absl::InvalidArgumentError(absl::StrCat("load parameter '", key, "': unsupported file '",
                                                     path.substr(slash + 1), "'; only ", kModelFileName,
                                                     " is accepted"));
    }
    if (param.parameter_choice_case() != inference::ModelRepositoryParameter::kBytesParam) {
      return absl::InvalidArgumentError(absl::StrCat("load parameter '", key, "' must be a bytes_param"));
    }
    out.files[*version] = param.bytes_param();
    total += static_cast<int64_t>(param.bytes_param().size());
  }
  if (total > max_upload_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("upload of model '", out.name, "' is ", total,
                                                     " bytes, over the server's upload limit of ", max_upload_bytes,
                                                     " bytes (--max_upload_bytes)"));
  }
  return out;
}

absl::StatusOr<ModelConfig> ModelLoader::EffectiveConfig(absl::string_view name,
                                                         const std::optional<std::string>& json) const {
  if (json) return ParseModelConfig(*json, name, options_.default_config);
  Q8_ASSIGN_OR_RETURN(std::optional<std::string> on_disk, repository_->ReadConfig(name));
  if (!on_disk) return options_.default_config;
  return ParseModelConfig(*on_disk, name, options_.default_config);
}

absl::StatusOr<std::shared_ptr<const engine::CompiledModel>> ModelLoader::CompileVersion(
    absl::string_view name, int64_t version, absl::string_view bytes, const ModelConfig& config) const {
  auto start = std::chrono::steady_clock::now();
  auto compiled = options_.compile(bytes, ToCompileOptions(config));
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!compiled.ok()) {
    Q8_LOG(Warning, "model '", name, "' version ", version, ": compile failed after ", ms,
           " ms: ", compiled.status().ToString());
    return WithContext(compiled.status(), absl::StrCat("model '", name, "' version ", version));
  }
  if (*compiled == nullptr) {
    return absl::InternalError(absl::StrCat("model '", name, "' version ", version, ": compiler returned null"));
  }
  Q8_LOG(Info, "model '", name, "' version ", version, ": compiled in ", ms, " ms (", bytes.size(), " bytes, ",
         (*compiled)->report().onnx_nodes, " -> ", (*compiled)->report().optimized_nodes, " nodes)");
  return compiled;
}

absl::Status ModelLoader::Load(const LoadRequest& request) {
  const std::string& name = request.name;
  Q8_RETURN_IF_ERROR(ValidateModelName(name));
  Q8_ASSIGN_OR_RETURN(ModelRegistry::OperationGuard guard, registry_->BeginOperation(name, "load"));

  std::vector<int64_t> on_disk;
  auto scanned = repository_->ScanModel(name);
  if (scanned.ok()) {
    on_disk = scanned->versions;
  } else if (!absl::IsNotFound(scanned.status())) {
    return scanned.status();
  }
  if (!scanned.ok() && request.files.empty()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository; upload it with a '",
                                            kFilePrefix, "<version>/", kModelFileName, "' parameter"));
  }
  Q8_ASSIGN_OR_RETURN(ModelConfig config, EffectiveConfig(name, request.config_json));

  std::set<int64_t> versions(on_disk.begin(), on_disk.end());
  for (const auto& [v, bytes] : request.files) versions.insert(v);
  if (versions.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("model '", name, "' has no versions in the repository; "
                                                      "upload one with 'file:<version>/model.onnx'"));
  }
  std::vector<int64_t> version_list(versions.begin(), versions.end());
  registry_->MarkLoading(name, version_list);

  // Compile everything first; nothing is written or published on failure.
  std::map<int64_t, std::shared_ptr<const engine::CompiledModel>> compiled;
  for (int64_t v : version_list) {
    auto file = request.files.find(v);
    absl::StatusOr<std::shared_ptr<const engine::CompiledModel>> model;
    if (file != request.files.end()) {
      model = CompileVersion(name, v, file->second, config);
    } else {
      // A version already serving with the same config is kept as is.
      auto current = registry_->Get(name, std::to_string(v));
      if (current.ok() && !request.config_json) {
        compiled[v] = current->model;
        continue;
      }
      auto bytes = repository_->ReadModel(name, v);
      model = bytes.ok() ? CompileVersion(name, v, *bytes, config) : absl::StatusOr<std::shared_ptr<const engine::CompiledModel>>(bytes.status());
    }
    if (!model.ok()) {
      registry_->MarkFailed(name, version_list, model.status().message());
      return model.status();
    }
    compiled[v] = *std::move(model);
  }

  absl::Status written = absl::OkStatus();
  for (const auto& [v, bytes] : request.files) {
    if (written.ok()) written = repository_->WriteModel(name, v, bytes);
  }
  if (written.ok() && request.config_json) written = repository_->WriteConfig(name, *request.config_json);
  if (written.ok()) written = repository_->SetUnloaded(name, false);
  if (!written.ok()) {
    registry_->MarkFailed(name, version_list, written.message());
    return WithContext(written, absl::StrCat("model '", name, "': cannot store in the repository"));
  }

  registry_->Publish(name, std::move(compiled));
  Q8_LOG(Info, "model '", name, "': READY, versions ", absl::StrJoin(version_list, ","));
  Notify(name);
  return absl::OkStatus();
}

absl::Status ModelLoader::Unload(absl::string_view name) {
  Q8_RETURN_IF_ERROR(ValidateModelName(name));
  Q8_ASSIGN_OR_RETURN(ModelRegistry::OperationGuard guard, registry_->BeginOperation(name, "unload"));
  Q8_RETURN_IF_ERROR(registry_->Unload(name));
  Notify(std::string(name));
  Q8_LOG(Info, "model '", name, "': unloaded");
  if (repository_->ScanModel(name).ok()) {
    absl::Status marked = repository_->SetUnloaded(name, true);
    if (!marked.ok()) {
      return WithContext(marked, absl::StrCat("model '", name,
                                              "' was unloaded but the unload could not be recorded on disk "
                                              "(it will load again after a restart)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ModelLoader::LoadAll() {
  Q8_ASSIGN_OR_RETURN(std::vector<ScannedModel> models, repository_->Scan());
  for (const ScannedModel& model : models) LoadAtStartup(model);
  return absl::OkStatus();
}

void ModelLoader::LoadAtStartup(const ScannedModel& model) {
  const std::string& name = model.name;
  auto guard = registry_->BeginOperation(name, "startup load");
  if (!guard.ok()) return;  // a client got there first; its load decides
  if (model.unloaded) {
    registry_->SetModelUnavailable(name, "unloaded");
    Q8_LOG(Info, "model '", name, "': skipped at startup (unloaded)");
    return;
  }
  if (model.versions.empty()) {
    registry_->SetModelUnavailable(name, "no version directory with a model.onnx");
    return;
  }
  auto config = EffectiveConfig(name, std::nullopt);
  if (!config.ok()) {
    registry_->SetModelUnavailable(name, config.status().message());
    Q8_LOG(Error, "model '", name, "': not loaded: ", config.status().ToString());
    return;
  }
  registry_->MarkLoading(name, model.versions);
  std::map<int64_t, std::shared_ptr<const engine::CompiledModel>> ready;
  std::map<int64_t, std::string> failed;
  for (int64_t v : model.versions) {
    auto bytes = repository_->ReadModel(name, v);
    auto compiled = bytes.ok() ? CompileVersion(name, v, *bytes, *config)
                               : absl::StatusOr<std::shared_ptr<const engine::CompiledModel>>(bytes.status());
    if (compiled.ok()) {
      ready[v] = *std::move(compiled);
    } else {
      failed[v] = std::string(compiled.status().message());
    }
  }
  // Publish the good versions, then list the bad ones as UNAVAILABLE.
  registry_->Publish(name, std::move(ready));
  for (const auto& [v, reason] : failed) {
    registry_->MarkLoading(name, {v});
    registry_->MarkFailed(name, {v}, reason);
    Q8_LOG(Error, "model '", name, "' version ", v, ": UNAVAILABLE: ", reason);
  }
  Notify(name);
}

void ModelLoader::Notify(const std::string& name) const {
  if (options_.on_ready_changed) options_.on_ready_changed(name, registry_->AnyReady(name));
}

}  // namespace q8::server
