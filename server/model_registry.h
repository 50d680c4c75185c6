// ModelRegistry: the in-memory truth about which model versions exist and
// which can serve. name -> version -> {state, reason, compiled model, stats}.
//
// Readers (every ModelInfer/ModelMetadata) call Get() and receive a
// ModelHandle: a copy of the version's shared_ptr<const CompiledModel>. An
// unload or a hot swap only drops the registry's reference, so in-flight
// requests finish on the model they started with; the last handle frees it.
// Hold a handle for one request, never longer.
//
// Writers (ModelLoader) first take the per-name OperationGuard: one load or
// unload per model name at a time; a second one for the same name fails fast
// with ABORTED instead of racing (see server/README.md). Writers then move
// versions through the ModelState transitions in model_state.h.
//
// Thread safety: all methods are thread-safe; one absl::Mutex guards the maps
// (reader lock for lookups). Compiled models are released outside the lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/compiled_model.h"
#include "server/metrics/metrics_registry.h"
#include "server/model_state.h"
#include "server/model_stats.h"
#include "server/served_model.h"

namespace q8::server {

struct ModelHandle {
  // Drops the references (the model may be freed) but keeps `name`'s storage.
  void Release() {
    model.reset();
    stats.reset();
    metrics.reset();
    served = ServedModel{};
  }

  std::string name;
  int64_t version = 0;
  std::shared_ptr<const engine::CompiledModel> model;  // == served.model
  std::shared_ptr<ModelStats> stats;
  // The version's Prometheus series (null when metrics are disabled).
  std::shared_ptr<metrics::ModelMetrics> metrics;
  ServedModel served;  // model, fp32 reference, quantization report
};

// Bytes a version holds now: its model and, when distinct, its fp32
// reference (weights + workspaces allocated so far), as the metrics report.
int64_t MemoryOf(const ServedModel& served);

struct IndexEntry {
  std::string name;
  int64_t version = 0;  // 0: the model as a whole (no version known)
  ModelState state = ModelState::kUnavailable;
  std::string reason;  // READY quantized versions: the quantization summary
};

class ModelRegistry {
 public:
  // Exclusive right to change one model name; released on destruction.
  class OperationGuard {
   public:
    OperationGuard(OperationGuard&& other) noexcept;
    OperationGuard& operator=(OperationGuard&&) = delete;
    OperationGuard(const OperationGuard&) = delete;
    ~OperationGuard();
    const std::string& name() const { return name_; }

   private:
    friend class ModelRegistry;
    OperationGuard(ModelRegistry* registry, std::string name) : registry_(registry), name_(std::move(name)) {}
    ModelRegistry* registry_;
    std::string name_;
  };

  // `metrics` (may be null: metrics disabled) must outlive the registry. A
  // version's series are registered when it is published READY and removed
  // when it is unloaded, replaced or dropped.
  explicit ModelRegistry(metrics::MetricsRegistry* metrics = nullptr) : metrics_(metrics) {}
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // ABORTED if another operation on `name` is in progress. `what` ("load",
  // "unload") appears in the other caller's error message.
  absl::StatusOr<OperationGuard> BeginOperation(absl::string_view name, absl::string_view what);

  // `version` "" = the highest READY version. NOT_FOUND (naming the model and
  // version) for an unknown model/version or one that is not READY;
  // UNAVAILABLE while the requested version is still LOADING.
  absl::StatusOr<ModelHandle> Get(absl::string_view name, absl::string_view version) const;
  // The same into `handle` (the request path: a recycled handle keeps its
  // name's storage). On error `handle` may be partly assigned.
  absl::Status Get(absl::string_view name, absl::string_view version, ModelHandle* handle) const;

  bool Contains(absl::string_view name) const;
  bool AnyReady(absl::string_view name) const;
  std::vector<int64_t> ReadyVersions(absl::string_view name) const;
  // Sorted by name, then version.
  std::vector<IndexEntry> Index() const;
  // Ready handles, for statistics: all models if `name` is empty.
  std::vector<ModelHandle> ReadyHandles(absl::string_view name) const;

  // ---- Writers: the caller holds the OperationGuard for `name`. ----
  // Versions that are absent or UNAVAILABLE become LOADING; READY ones stay
  // READY (they keep serving during a reload).
  void MarkLoading(absl::string_view name, const std::vector<int64_t>& versions);
  // LOADING versions among `versions` become UNAVAILABLE with `reason`.
  void MarkFailed(absl::string_view name, const std::vector<int64_t>& versions, absl::string_view reason);
  // Makes `models` the complete version set of `name`, all READY. Versions
  // not listed are dropped (stats of kept version numbers are preserved).
  void Publish(absl::string_view name, std::map<int64_t, ServedModel> models);
  // The same, unless the models' measured memory plus what other models'
  // READY versions hold would exceed `budget_bytes` (0: no limit): then
  // nothing changes and the answer is RESOURCE_EXHAUSTED with both numbers
  // and --max_model_memory_bytes. `name`'s current versions do not count:
  // publishing replaces them. Check and publish are one step under the lock,
  // so two loads cannot both fit in the same free room.
  absl::Status PublishWithinBudget(absl::string_view name, std::map<int64_t, ServedModel> models, int64_t budget_bytes);
  // The same check alone (before writing to the repository).
  absl::Status CheckMemoryBudget(absl::string_view name, const std::map<int64_t, ServedModel>& models,
                                 int64_t budget_bytes) const;
  // Measured memory of every READY version (what the budget counts).
  int64_t LoadedMemoryBytes() const;
  // Lists `name` with no servable version, e.g. a model unloaded before a
  // restart or one whose config is broken.
  void SetModelUnavailable(absl::string_view name, absl::string_view reason);
  // READY versions -> UNLOADING -> UNAVAILABLE ("unloaded"). NOT_FOUND for an
  // unknown name; unloading an already unloaded model is OK.
  absl::Status Unload(absl::string_view name);

 private:
  struct VersionEntry {
    ModelState state = ModelState::kLoading;
    std::string reason;
    ServedModel served;
    std::shared_ptr<ModelStats> stats;
    std::shared_ptr<metrics::ModelMetrics> metrics;
  };
  struct ModelEntry {
    std::map<int64_t, VersionEntry> versions;
    std::string reason;  // shown when there are no versions
  };

  void EndOperation(const std::string& name);
  absl::Status CheckMemoryBudgetLocked(absl::string_view name, const std::map<int64_t, ServedModel>& models,
                                       int64_t budget_bytes) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Stops exporting the series of `versions`, except those in `kept`.
  void UnregisterMetrics(const std::map<int64_t, VersionEntry>& versions,
                         const std::map<int64_t, ServedModel>* kept = nullptr);
  static void Transition(VersionEntry& entry, ModelState to, std::string reason);

  metrics::MetricsRegistry* const metrics_;
  mutable absl::Mutex mu_;
  std::map<std::string, ModelEntry, std::less<>> models_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string, std::less<>> busy_ ABSL_GUARDED_BY(mu_);  // name -> what
};

}  // namespace q8::server
