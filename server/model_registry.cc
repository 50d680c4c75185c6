#include "server/model_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/logging.h"
#include "core/quote.h"
#include "core/status_macros.h"
#include "server/model_repository.h"
#include "server/served_model_metrics.h"

namespace q8::server {

ModelRegistry::OperationGuard::OperationGuard(OperationGuard&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), name_(std::move(other.name_)) {}

ModelRegistry::OperationGuard::~OperationGuard() {
  if (registry_ != nullptr) registry_->EndOperation(name_);
}

absl::StatusOr<ModelRegistry::OperationGuard> ModelRegistry::BeginOperation(absl::string_view name,
                                                                            absl::string_view what) {
  absl::MutexLock lock(&mu_);
  auto it = busy_.find(name);
  if (it != busy_.end()) {
    return absl::AbortedError(absl::StrCat("model '", core::Quote(name), "': a ", it->second,
                                           " of this model is already in progress; retry after it completes"));
  }
  busy_.emplace(std::string(name), std::string(what));
  return OperationGuard(this, std::string(name));
}

void ModelRegistry::EndOperation(const std::string& name) {
  absl::MutexLock lock(&mu_);
  busy_.erase(name);
}

void ModelRegistry::Transition(VersionEntry& entry, ModelState to, std::string reason) {
  if (!IsLegalTransition(entry.state, to)) {
    // A bug in the caller, not a client error: log loudly and keep going.
    Q8_LOG(Error, "model registry: illegal transition ", ToString(entry.state), " -> ", ToString(to));
  }
  entry.state = to;
  entry.reason = std::move(reason);
}

absl::StatusOr<ModelHandle> ModelRegistry::Get(absl::string_view name, absl::string_view version) const {
  ModelHandle handle;
  Q8_RETURN_IF_ERROR(Get(name, version, &handle));
  return handle;
}

absl::Status ModelRegistry::Get(absl::string_view name, absl::string_view version, ModelHandle* out) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("model '", core::Quote(name), "' not found"));
  const ModelEntry& model = it->second;
  // Assigned field by field: `out->name` keeps its storage (no allocation
  // for a recycled handle, whatever the name's length).
  auto handle = [&](int64_t v, const VersionEntry& e) {
    out->name.assign(name.data(), name.size());
    out->version = v;
    out->model = e.served.model;
    out->stats = e.stats;
    out->metrics = e.metrics;
    out->served = e.served;
    return absl::OkStatus();
  };
  if (version.empty()) {
    for (auto v = model.versions.rbegin(); v != model.versions.rend(); ++v) {
      if (v->second.state == ModelState::kReady) return handle(v->first, v->second);
    }
    std::vector<std::string> states;
    for (const auto& [v, e] : model.versions) {
      states.push_back(absl::StrCat("version ", v, " ", ToString(e.state), e.reason.empty() ? "" : ": ", e.reason));
    }
    if (states.empty() && !model.reason.empty()) states.push_back(model.reason);
    return absl::NotFoundError(absl::StrCat("model '", core::Quote(name), "' has no ready version",
                                            states.empty() ? "" : " (", absl::StrJoin(states, "; "),
                                            states.empty() ? "" : ")"));
  }
  std::optional<int64_t> v = ParseVersion(version);
  auto vit = v ? model.versions.find(*v) : model.versions.end();
  if (vit == model.versions.end()) {
    std::vector<int64_t> known;
    for (const auto& [k, e] : model.versions) known.push_back(k);
    return absl::NotFoundError(absl::StrCat("model '", core::Quote(name), "' has no version '", core::Quote(version),
                                            "' (versions: ", known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
  }
  const VersionEntry& e = vit->second;
  switch (e.state) {
    case ModelState::kReady:
      return handle(*v, e);
    case ModelState::kLoading:
      return absl::UnavailableError(absl::StrCat("model '", core::Quote(name), "' version ", *v, " is still loading"));
    default:
      return absl::NotFoundError(absl::StrCat("model '", core::Quote(name), "' version ", *v, " is ", ToString(e.state),
                                              e.reason.empty() ? "" : ": ", e.reason));
  }
}

bool ModelRegistry::Contains(absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  return models_.find(name) != models_.end();
}

bool ModelRegistry::AnyReady(absl::string_view name) const { return !ReadyVersions(name).empty(); }

std::vector<int64_t> ModelRegistry::ReadyVersions(absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<int64_t> out;
  auto it = models_.find(name);
  if (it == models_.end()) return out;
  for (const auto& [v, e] : it->second.versions) {
    if (e.state == ModelState::kReady) out.push_back(v);
  }
  return out;
}

std::vector<IndexEntry> ModelRegistry::Index() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<IndexEntry> out;
  for (const auto& [name, model] : models_) {
    if (model.versions.empty()) {
      out.push_back({name, 0, ModelState::kUnavailable, model.reason});
    }
    for (const auto& [v, e] : model.versions) {
      std::string reason = e.reason;
      if (e.state == ModelState::kReady && (e.served.quantization != nullptr || e.served.live != nullptr)) {
        reason = ServingStatus(e.served);
      }
      out.push_back({name, v, e.state, std::move(reason)});
    }
  }
  return out;
}

std::vector<ModelHandle> ModelRegistry::ReadyHandles(absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<ModelHandle> out;
  for (const auto& [n, model] : models_) {
    if (!name.empty() && n != name) continue;
    for (const auto& [v, e] : model.versions) {
      if (e.state == ModelState::kReady) out.push_back({n, v, e.served.model, e.stats, e.metrics, e.served});
    }
  }
  return out;
}

void ModelRegistry::MarkLoading(absl::string_view name, const std::vector<int64_t>& versions) {
  absl::MutexLock lock(&mu_);
  ModelEntry& model = models_[std::string(name)];
  for (int64_t v : versions) {
    auto [it, inserted] = model.versions.try_emplace(v);
    if (inserted) continue;  // new entries start as kLoading
    if (it->second.state == ModelState::kUnavailable) Transition(it->second, ModelState::kLoading, "");
  }
}

void ModelRegistry::MarkFailed(absl::string_view name, const std::vector<int64_t>& versions, absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return;
  for (int64_t v : versions) {
    auto vit = it->second.versions.find(v);
    if (vit != it->second.versions.end() && vit->second.state == ModelState::kLoading) {
      Transition(vit->second, ModelState::kUnavailable, std::string(reason));
    }
  }
}

int64_t MemoryOf(const ServedModel& served) {
  int64_t bytes = served.model != nullptr ? served.model->memory().total() : 0;
  if (served.fp32_model != nullptr && served.fp32_model != served.model) bytes += served.fp32_model->memory().total();
  return bytes;
}

int64_t ModelRegistry::LoadedMemoryBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  int64_t total = 0;
  for (const auto& [name, model] : models_) {
    for (const auto& [v, e] : model.versions) {
      if (e.state == ModelState::kReady) total += MemoryOf(e.served);
    }
  }
  return total;
}

absl::Status ModelRegistry::CheckMemoryBudgetLocked(absl::string_view name,
                                                    const std::map<int64_t, ServedModel>& models,
                                                    int64_t budget_bytes) const {
  if (budget_bytes <= 0) return absl::OkStatus();
  int64_t needed = 0;
  for (const auto& [v, served] : models) needed += MemoryOf(served);
  int64_t held = 0;
  for (const auto& [other, model] : models_) {
    if (other == name) continue;  // replaced by this publish
    for (const auto& [v, e] : model.versions) {
      if (e.state == ModelState::kReady) held += MemoryOf(e.served);
    }
  }
  if (held + needed <= budget_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "model '", name, "' needs ", needed, " bytes (measured after warm-up) but loaded models already hold ", held,
      " of --max_model_memory_bytes=", budget_bytes, "; unload a model or raise the limit"));
}

absl::Status ModelRegistry::CheckMemoryBudget(absl::string_view name, const std::map<int64_t, ServedModel>& models,
                                              int64_t budget_bytes) const {
  absl::ReaderMutexLock lock(&mu_);
  return CheckMemoryBudgetLocked(name, models, budget_bytes);
}

void ModelRegistry::Publish(absl::string_view name, std::map<int64_t, ServedModel> models) {
  PublishWithinBudget(name, std::move(models), 0).IgnoreError();
}

absl::Status ModelRegistry::PublishWithinBudget(absl::string_view name, std::map<int64_t, ServedModel> models,
                                                int64_t budget_bytes) {
  std::map<int64_t, VersionEntry> old;  // destroyed after the lock is released
  {
    absl::MutexLock lock(&mu_);
    Q8_RETURN_IF_ERROR(CheckMemoryBudgetLocked(name, models, budget_bytes));
    ModelEntry& model = models_[std::string(name)];
    old = std::move(model.versions);
    model.versions.clear();
    model.reason.clear();
    for (auto& [v, served] : models) {
      VersionEntry entry;
      auto prev = old.find(v);
      if (prev != old.end()) {
        entry.state = prev->second.state;
        entry.stats = prev->second.stats;
        // Same compiled model (a reload that kept the version): same series.
        if (prev->second.served.model == served.model) entry.metrics = prev->second.metrics;
      }
      if (entry.stats == nullptr) entry.stats = std::make_shared<ModelStats>();
      if (entry.metrics == nullptr && metrics_ != nullptr) {
        // Replaces a previous registration of this version (its counters
        // restart from 0, which Prometheus reads as a counter reset).
        entry.metrics =
            metrics_->Register(DescribeForMetrics(std::string(name), v, served, metrics_->default_shadow_fraction()));
      }
      entry.served = std::move(served);
      if (entry.state == ModelState::kUnavailable) entry.state = ModelState::kLoading;
      Transition(entry, ModelState::kReady, "");
      model.versions.emplace(v, std::move(entry));
    }
    // Versions no longer published lose their series (replaced ones were
    // replaced by Register above).
    UnregisterMetrics(old, &models);
  }
  return absl::OkStatus();
}

void ModelRegistry::UnregisterMetrics(const std::map<int64_t, VersionEntry>& versions,
                                      const std::map<int64_t, ServedModel>* kept) {
  if (metrics_ == nullptr) return;
  for (const auto& [v, e] : versions) {
    if (kept == nullptr || kept->count(v) == 0) metrics_->Unregister(e.metrics);
  }
}

void ModelRegistry::SetModelUnavailable(absl::string_view name, absl::string_view reason) {
  std::map<int64_t, VersionEntry> old;  // declared before the lock: destroyed after unlock
  absl::MutexLock lock(&mu_);
  ModelEntry& model = models_[std::string(name)];
  old = std::move(model.versions);
  model.versions.clear();
  model.reason = std::string(reason);
  UnregisterMetrics(old);
}

absl::Status ModelRegistry::Unload(absl::string_view name) {
  std::vector<ServedModel> released;  // freed after unlock
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("model '", core::Quote(name), "' not found"));
  for (auto& [v, e] : it->second.versions) {
    if (e.state == ModelState::kReady) Transition(e, ModelState::kUnloading, "");
    if (e.state == ModelState::kUnloading) {
      released.push_back(std::exchange(e.served, ServedModel()));
      if (metrics_ != nullptr) metrics_->Unregister(e.metrics);
      e.metrics.reset();
      Transition(e, ModelState::kUnavailable, "unloaded");
    }
  }
  if (it->second.versions.empty()) it->second.reason = "unloaded";
  return absl::OkStatus();
}

}  // namespace q8::server
