// ModelLoader, replicas sharing one repository: adopting what another
// replica wrote (the repository poller calls SyncFromRepository for a model
// whose files changed). Read-only: what it finds goes through Reconcile like
// any other arrival (model_loader.cc owns that loop).
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "server/model_loader.h"

namespace q8::server {

absl::StatusOr<std::optional<ServedModel>> ModelLoader::AdoptVersion(absl::string_view name, int64_t version,
                                                                     const ModelConfig& config,
                                                                     const ServedModel* current,
                                                                     bool* unchanged) const {
  *unchanged = false;
  // A writer swaps the whole model directory in at once (ModelWrite), but a
  // swap may fall between two of these reads: a model.onnx that does not
  // belong to the artifact fails LoadQuantized's fingerprint check, and the
  // swap changes the snapshot, so the poller tries again next round.
  Q8_ASSIGN_OR_RETURN(std::optional<std::string> artifact,
                      repository_->ReadVersionFile(name, version, kArtifactFileName));
  if (!artifact) {
    const bool none = config.quantization.mode == engine::QuantMode::kNone && !config.quantization_auto;
    if (!none && !config.quantization_auto) return std::optional<ServedModel>();
    Q8_ASSIGN_OR_RETURN(std::string bytes, repository_->ReadModel(name, version));
    const bool same_kind = none ? current != nullptr && current->quantization == nullptr && current->live == nullptr
                                : current != nullptr && current->live != nullptr;
    if (same_kind && current->onnx_fingerprint == Fingerprint(bytes)) {
      *unchanged = true;
      return std::optional<ServedModel>(*current);
    }
    // Mode auto: this replica serves the interim precision and calibrates
    // on its own traffic too; the first replica to commit an artifact wins
    // and the others adopt it (server/README.md, "Replicas").
    Q8_ASSIGN_OR_RETURN(ServedModel served,
                        none ? Compile(name, version, bytes, config) : BuildInterim(name, version, bytes, config));
    return std::optional<ServedModel>(std::move(served));
  }
  Q8_ASSIGN_OR_RETURN(std::optional<std::string> report, repository_->ReadVersionFile(name, version, kReportFileName));
  if (!report) {
    return absl::DataLossError(absl::StrCat(kArtifactFileName, " exists but ", kReportFileName, " is missing"));
  }
  Q8_ASSIGN_OR_RETURN(std::string bytes, repository_->ReadModel(name, version));
  if (current != nullptr && current->quantization != nullptr && current->quantization->artifact == *artifact &&
      current->quantization->report_json == *report && current->onnx_fingerprint == Fingerprint(bytes)) {
    *unchanged = true;
    return std::optional<ServedModel>(*current);
  }
  Q8_ASSIGN_OR_RETURN(ServedModel served,
                      LoadPersisted(name, version, bytes, *std::move(artifact), *std::move(report), config));
  return std::optional<ServedModel>(std::move(served));
}

absl::Status ModelLoader::SyncFromRepository(absl::string_view name, bool config_changed) {
  Q8_RETURN_IF_ERROR(ValidateModelName(name));
  Q8_ASSIGN_OR_RETURN(ModelRegistry::OperationGuard guard, registry_->BeginOperation(name, "repository sync"));
  const std::string model(name);
  // Never delete temp files here: they may be another replica's write in progress.
  auto scanned = repository_->ScanModel(name, /*clean_up=*/false);
  if (!scanned.ok() && !absl::IsNotFound(scanned.status())) return scanned.status();
  if (!scanned.ok() || scanned->unloaded) {
    if (!registry_->Contains(name)) return absl::OkStatus();
    const bool was_ready = registry_->AnyReady(name);
    if (was_ready) Q8_RETURN_IF_ERROR(registry_->Unload(name));
    if (!scanned.ok()) registry_->SetModelUnavailable(name, "deleted from the repository");
    if (was_ready) {
      Q8_LOG(Info, "model '", name, "': unloaded (", scanned.ok() ? "UNLOADED marker" : "directory deleted",
             " in the shared repository)");
    }
    Notify(model);
    return absl::OkStatus();
  }
  if (!scanned->error.empty()) {
    // Perhaps passing (a network filesystem's hiccup): what serves keeps
    // serving; a model not served here is reported with the reason.
    if (!registry_->AnyReady(name)) registry_->SetModelUnavailable(name, scanned->error);
    return absl::UnavailableError(absl::StrCat("model '", name, "': ", scanned->error));
  }
  Desired desired;
  desired.source = DesiredSource::kReplica;
  Q8_ASSIGN_OR_RETURN(desired.config, EffectiveConfig(name, std::nullopt));
  desired.rebuild = config_changed;
  for (int64_t v : scanned->versions) desired.versions[v] = nullptr;
  desired.unreadable = scanned->version_errors;
  return Reconcile(model, desired, nullptr, nullptr);
}

}  // namespace q8::server
