#include "server/model_loader.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "engine/threading.h"
#include "server/calibration_files.h"

namespace q8::server {
namespace {

// Keeps the code, prefixes the message with context.
absl::Status WithContext(const absl::Status& s, absl::string_view context) {
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::string VersionContext(absl::string_view name, int64_t version) {
  return absl::StrCat("model '", name, "' version ", version);
}

EngineFns RealEngine() {
  EngineFns fns;
  fns.compile = [](absl::string_view bytes, const engine::CompileOptions& options) {
    return engine::Compile(bytes, options);
  };
  fns.quantize = [](absl::string_view bytes, const engine::CompileOptions& compile,
                    const engine::QuantizationOptions& options, const engine::CalibrationData* data,
                    const engine::ProgressFn& progress) {
    return engine::Quantize(bytes, compile, options, data, progress);
  };
  fns.load_quantized = [](absl::string_view bytes, absl::string_view artifact, absl::string_view report_json,
                          const engine::CompileOptions& compile) {
    return engine::LoadQuantized(bytes, artifact, report_json, compile);
  };
  return fns;
}

// ---- Building versions ----

absl::StatusOr<ModelConfig> ModelLoader::EffectiveConfig(absl::string_view name,
                                                         const std::optional<std::string>& json) const {
  if (json) return ParseModelConfig(*json, name, options_.default_config);
  Q8_ASSIGN_OR_RETURN(std::optional<std::string> on_disk, repository_->ReadConfig(name));
  if (!on_disk) return options_.default_config;
  return ParseModelConfig(*on_disk, name, options_.default_config);
}

absl::StatusOr<ServedModel> ModelLoader::Compile(absl::string_view name, int64_t version, absl::string_view bytes,
                                                 const ModelConfig& config) const {
  const auto start = std::chrono::steady_clock::now();
  auto compiled = options_.engine.compile(bytes, ToCompileOptions(config));
  const double ms = MillisSince(start);
  if (!compiled.ok()) {
    Q8_LOG(Warning, VersionContext(name, version), ": compile failed after ", ms,
           " ms: ", compiled.status().ToString());
    return compiled.status();
  }
  if (*compiled == nullptr) return absl::InternalError("compiler returned null");
  Q8_LOG(Info, VersionContext(name, version), ": compiled (fp32, quantization mode none) in ", ms, " ms (",
         bytes.size(), " bytes, ", (*compiled)->report().onnx_nodes, " -> ", (*compiled)->report().optimized_nodes,
         " nodes)");
  ServedModel served(*std::move(compiled));
  served.onnx_fingerprint = Fingerprint(bytes);
  return served;
}

absl::StatusOr<ServedModel> ModelLoader::Quantize(absl::string_view name, int64_t version, absl::string_view bytes,
                                                  const ModelConfig& config, const engine::CalibrationData* data,
                                                  absl::string_view data_source, const LoadProgressFn& progress) const {
  const engine::QuantizationOptions& options = config.quantization;
  Q8_LOG(Info, VersionContext(name, version), ": quantizing (", engine::ToString(options.mode),
         options.mode == engine::QuantMode::kStatic ? absl::StrCat(", ", engine::ToString(options.method)) : "",
         ") with ",
         data != nullptr ? absl::StrCat(engine::CalibrationSamples(*data), " calibration samples from ", data_source)
                         : std::string("no calibration data"));
  engine::ProgressFn engine_progress;
  if (progress) {
    engine_progress = [&progress, version](const engine::QuantizationProgress& p) { progress(version, p); };
  }
  const auto start = std::chrono::steady_clock::now();
  auto result = options_.engine.quantize(bytes, ToCompileOptions(config), options, data, engine_progress);
  const double ms = MillisSince(start);
  if (!result.ok()) {
    Q8_LOG(Warning, VersionContext(name, version), ": quantization failed after ", ms,
           " ms: ", result.status().ToString());
    return result.status();
  }
  if (result->model == nullptr || result->fp32_model == nullptr) {
    return absl::InternalError("quantizer returned no model");
  }
  ServedModel served;
  served.model = std::move(result->model);
  served.fp32_model = std::move(result->fp32_model);
  std::string report_json = result->report.ToJson(2);
  served.quantization =
      MakeQuantizationInfo(std::move(result->report), std::move(report_json), std::move(result->artifact));
  served.onnx_fingerprint = Fingerprint(bytes);
  Q8_LOG(Info, VersionContext(name, version), ": quantized in ", ms, " ms: ", served.quantization->summary);
  return served;
}

absl::StatusOr<ModelLoader::Prepared> ModelLoader::PrepareUpload(absl::string_view name, int64_t version,
                                                                 const UploadedVersion& files,
                                                                 const ModelConfig& config,
                                                                 const LoadProgressFn& progress) const {
  Prepared prepared;
  prepared.model_bytes = files.model.bytes;
  if (config.quantization.mode == engine::QuantMode::kNone) {
    if (files.calibration_inputs) {
      Q8_LOG(Info, VersionContext(name, version), ": quantization mode none; ignoring the calibration data");
    }
    Q8_ASSIGN_OR_RETURN(prepared.served, Compile(name, version, files.model.bytes, config));
    return prepared;
  }
  if (!files.calibration_inputs && config.quantization_auto) {
    // Served at once; the int8 version follows from live calibration.
    Q8_ASSIGN_OR_RETURN(prepared.served, BuildInterim(name, version, files.model.bytes, config));
    return prepared;
  }
  std::optional<engine::CalibrationData> data;
  if (files.calibration_inputs) {
    Q8_ASSIGN_OR_RETURN(
        data, ParseCalibration(*files.calibration_inputs, files.calibration_labels, options_.max_calibration_bytes));
  }
  Q8_ASSIGN_OR_RETURN(prepared.served, Quantize(name, version, files.model.bytes, config, data ? &*data : nullptr,
                                                "the upload", progress));
  prepared.write_quantization = true;
  return prepared;
}

absl::StatusOr<ModelLoader::Prepared> ModelLoader::PrepareFromDisk(absl::string_view name, int64_t version,
                                                                   const ModelConfig& config,
                                                                   const LoadProgressFn& progress) const {
  Q8_ASSIGN_OR_RETURN(std::string bytes, repository_->ReadModel(name, version));
  Prepared prepared;
  Q8_ASSIGN_OR_RETURN(std::optional<std::string> artifact,
                      repository_->ReadVersionFile(name, version, kArtifactFileName));
  if (artifact) {
    // quantization.json is written last: when it exists, model.onnx and
    // report.json are the ones it was made from.
    Q8_ASSIGN_OR_RETURN(std::optional<std::string> report,
                        repository_->ReadVersionFile(name, version, kReportFileName));
    if (!report) {
      return absl::DataLossError(absl::StrCat(kArtifactFileName, " exists but ", kReportFileName,
                                              " is missing; delete ", kArtifactFileName, " to quantize again"));
    }
    Q8_ASSIGN_OR_RETURN(prepared.served,
                        LoadPersisted(name, version, bytes, *std::move(artifact), *std::move(report), config));
    return prepared;
  }
  if (config.quantization.mode == engine::QuantMode::kNone) {
    Q8_ASSIGN_OR_RETURN(prepared.served, Compile(name, version, bytes, config));
    return prepared;
  }
  // inputs.npy, else inputs.npz: the same data in its two forms.
  absl::string_view inputs_name = kCalibrationInputsFile;
  Q8_ASSIGN_OR_RETURN(std::optional<std::string> inputs, repository_->ReadVersionFile(name, version, inputs_name));
  if (!inputs) {
    inputs_name = kCalibrationInputsNpzFile;
    Q8_ASSIGN_OR_RETURN(inputs, repository_->ReadVersionFile(name, version, inputs_name));
  }
  std::optional<std::string> labels;
  std::optional<engine::CalibrationData> data;
  if (inputs) {
    Q8_ASSIGN_OR_RETURN(labels, repository_->ReadVersionFile(name, version, kCalibrationLabelsFile));
    std::optional<UploadedFile> labels_file;
    if (labels) labels_file = UploadedFile{*labels, absl::StrCat(version, "/", kCalibrationLabelsFile)};
    const UploadedFile inputs_file{*inputs, absl::StrCat(version, "/", inputs_name)};
    Q8_ASSIGN_OR_RETURN(data, ParseCalibration(inputs_file, labels_file, options_.max_calibration_bytes));
  } else if (config.quantization_auto) {
    Q8_ASSIGN_OR_RETURN(prepared.served, BuildInterim(name, version, bytes, config));
    return prepared;
  }
  Q8_ASSIGN_OR_RETURN(prepared.served,
                      Quantize(name, version, bytes, config, data ? &*data : nullptr, "the repository", progress));
  prepared.write_quantization = true;
  return prepared;
}

StreamLayout ModelLoader::Layout(const ModelConfig& config) const {
  return ClampStreams(ResolveStreams(config.execution, options_.default_preset, options_.cpus),
                      MaxThreadsPerModel(options_.limits, options_.cpus));
}

int ModelLoader::StreamThreads(const ModelConfig& config) const { return Layout(config).threads_per_stream; }

absl::StatusOr<ModelLoader::LoadTicket> ModelLoader::BeginLoad(absl::string_view name) {
  Q8_RETURN_IF_ERROR(ValidateModelName(name));
  Q8_ASSIGN_OR_RETURN(ModelRegistry::OperationGuard operation, registry_->BeginOperation(name, "load"));
  Q8_ASSIGN_OR_RETURN(LoadSlot slot, AcquireLoadSlot());
  return LoadTicket{std::move(operation), std::move(slot)};
}

absl::StatusOr<LoadSlot> ModelLoader::AcquireLoadSlot() {
  const int limit = options_.limits.max_concurrent_loads;
  int in_use = loads_in_use_.load();
  do {
    if (in_use >= limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat(in_use, " uploads/quantizations are already in progress (--max_concurrent_loads=", limit,
                       "); retry in a few seconds"));
    }
  } while (!loads_in_use_.compare_exchange_weak(in_use, in_use + 1));
  return LoadSlot(&loads_in_use_);
}

absl::Status ModelLoader::StartServing(absl::string_view name, int64_t version, const ModelConfig& config,
                                       std::chrono::steady_clock::time_point start, ServedModel& served) const {
  if (served.executor != nullptr || served.model == nullptr) return absl::OkStatus();
  // Sequence buckets wrap what ModelInfer runs (the fp32 reference checks
  // that padding is invisible), before the streams warm every bucket's plan.
  // The reference (shadow evaluation) is bucketed alike, so sampled shadow
  // runs do not build one plan per length either; an fp32 version stays its
  // own reference.
  std::string buckets;
  const std::shared_ptr<const engine::CompiledModel> unbucketed = served.model;
  const bool own_reference = served.fp32_model == served.model;
  Q8_ASSIGN_OR_RETURN(served.model, engine::ApplySequenceBuckets(served.model, served.fp32_model.get(),
                                                                 config.sequence_buckets, &buckets));
  if (own_reference) {
    served.fp32_model = served.model;
  } else if (served.model != unbucketed && served.fp32_model != nullptr) {
    Q8_ASSIGN_OR_RETURN(served.fp32_model, engine::ApplySequenceBuckets(served.fp32_model, served.fp32_model.get(),
                                                                        config.sequence_buckets));
  }
  if (!buckets.empty()) Q8_LOG(Info, VersionContext(name, version), ": ", buckets);
  ExecutorOptions options;
  options.layout = Layout(config);
  const StreamLayout asked = ResolveStreams(config.execution, options_.default_preset, options_.cpus);
  if (asked.streams != options.layout.streams || asked.threads_per_stream != options.layout.threads_per_stream) {
    Q8_LOG(Warning, VersionContext(name, version), ": execution layout ", asked.streams, " x ",
           asked.threads_per_stream, " clamped to ", options.layout.streams, " x ", options.layout.threads_per_stream,
           " (--max_threads_per_cpu=", options_.limits.max_threads_per_cpu, " x ", options_.cpus, " CPUs)");
  }
  options.max_queue_size =
      config.execution.max_queue_size > 0 ? config.execution.max_queue_size : options_.limits.max_queue_size;

  if (UsesAutoLayout(config.execution, options_.default_preset)) {
    const int cpus = options_.cpus;
    const int64_t max_threads = MaxThreadsPerModel(options_.limits, cpus);
    options.choose_layout = [cpus, max_threads](double run_seconds) {
      return ClampStreams(AutoLayout(run_seconds, cpus), max_threads);
    };
  }
  options.batching = config.execution.batching;
  options.warmup_batch_sizes = config.warmup_batch_sizes;
  const auto warmup_start = std::chrono::steady_clock::now();
  Q8_ASSIGN_OR_RETURN(served.executor, ModelExecutor::Create(served.model, std::move(options)));
  const ModelExecutor& e = *served.executor;
  Q8_LOG(Info, VersionContext(name, version), ": ", e.layout().streams, " execution stream(s) x ",
         e.layout().threads_per_stream, " thread(s)",
         e.auto_layout() ? absl::StrCat(" (auto: one run takes ", e.auto_run_seconds() * 1e6, " us on 1 thread)") : "",
         ", dynamic batching ",
         e.batching().enabled ? absl::StrCat("on (max delay ", e.batching().max_queue_delay_us, " us)") : "off",
         ", warmed up in ", MillisSince(warmup_start), " ms");
  served.load_seconds = MillisSince(start) / 1000;
  served.shadow_fraction = config.shadow_fraction;
  return absl::OkStatus();
}

absl::StatusOr<ServedModel> ModelLoader::LoadPersisted(absl::string_view name, int64_t version, absl::string_view bytes,
                                                       std::string artifact, std::string report,
                                                       const ModelConfig& config) const {
  const auto start = std::chrono::steady_clock::now();
  auto result = options_.engine.load_quantized(bytes, artifact, report, ToCompileOptions(config));
  if (!result.ok()) {
    return WithContext(result.status(), absl::StrCat("cannot reload ", kArtifactFileName));
  }
  ServedModel served;
  served.model = std::move(result->model);
  served.fp32_model = std::move(result->fp32_model);
  served.quantization = MakeQuantizationInfo(std::move(result->report), std::move(report), std::move(artifact));
  served.onnx_fingerprint = Fingerprint(bytes);
  Q8_LOG(Info, VersionContext(name, version), ": loaded from ", kArtifactFileName, " in ", MillisSince(start),
         " ms (no calibration): ", served.quantization->summary);
  return served;
}

// Within one ModelWrite (the whole model directory is swapped in at once):
// a replaced model.onnx never keeps the previous artifact.
absl::Status ModelLoader::Persist(ModelWrite& write, int64_t version, const Prepared& prepared) const {
  const std::string dir = absl::StrCat(version, "/");
  if (prepared.model_bytes) {
    Q8_RETURN_IF_ERROR(write.RemoveFile(absl::StrCat(dir, kArtifactFileName)));
    Q8_RETURN_IF_ERROR(write.RemoveFile(absl::StrCat(dir, kReportFileName)));
    Q8_RETURN_IF_ERROR(write.WriteFile(absl::StrCat(dir, kModelFileName), *prepared.model_bytes));
  }
  if (NeedsQuantizationWrite(prepared)) {
    const QuantizationInfo& q = *prepared.served.quantization;
    Q8_RETURN_IF_ERROR(write.WriteFile(absl::StrCat(dir, kReportFileName), q.report_json));
    Q8_RETURN_IF_ERROR(write.WriteFile(absl::StrCat(dir, kArtifactFileName), q.artifact));
  }
  return absl::OkStatus();
}

// ---- The one reconcile loop ----
//
// Every operation that changes what serves names the versions it wants
// (Desired) and where they come from; Reconcile builds them, writes what must
// be written, and publishes. The failure rules live here, once:
//   upload    all or nothing: the first version that fails to build fails the
//             load, nothing is written or published, what served keeps serving
//   startup   per version: a version that fails is UNAVAILABLE with its reason,
//             the others serve; a quantization made at load is persisted
//             (failing to save only costs a recalibration at the next start)
//   replica   per version, read-only: a version not complete on disk or
//             broken keeps what serves; never writes; publishes only changes
absl::Status ModelLoader::Reconcile(const std::string& name, const Desired& desired, const LoadProgressFn& progress,
                                    std::map<int64_t, ServedModel>* published) {
  const ModelConfig& config = desired.config;
  const bool upload = desired.source == DesiredSource::kUpload;
  const bool replica = desired.source == DesiredSource::kReplica;
  // Live calibration replaces a READY version: nothing is LOADING meanwhile.
  const bool live = desired.source == DesiredSource::kLiveCalibration;
  std::vector<int64_t> version_list;
  for (const auto& [v, files] : desired.versions) version_list.push_back(v);
  if (!replica && !live && !version_list.empty()) registry_->MarkLoading(name, version_list);

  // Warm-up plans, calibration and the report's latencies run at the
  // thread count the streams will use, so their plans (and weight layouts)
  // are the ones serving reuses.
  engine::ScopedIntraOpThreads threads(StreamThreads(config));
  std::map<int64_t, Prepared> next;
  std::map<int64_t, std::string> failed;
  // Live: versions that were not serving (failed to load) stay listed with
  // their reason; calibrating another version does not retry them.
  std::map<int64_t, std::string> still_unavailable;
  bool changed = false;
  for (const auto& [v, files] : desired.versions) {
    const auto start = std::chrono::steady_clock::now();
    auto current = registry_->Get(name, std::to_string(v));
    absl::StatusOr<std::optional<Prepared>> version;  // nullopt: not complete on disk
    bool unchanged = false;
    if (files != nullptr) {
      version = PrepareUpload(name, v, *files, config, progress);
    } else if (live && desired.calibrated.count(v) != 0) {
      if (!current.ok() || current->served.live != desired.replaces) {
        // Replaced or unloaded while calibrating: the result is stale.
        if (current.ok()) next[v].served = current->served;
        continue;
      }
      // Replicas sharing the repository: the first calibration committed
      // wins; a later one adopts it instead of writing its own.
      auto on_disk = repository_->ReadVersionFile(name, v, kArtifactFileName);
      if (on_disk.ok() && on_disk->has_value()) {
        Q8_LOG(Info, VersionContext(name, v), ": another replica committed its calibration first; adopting it");
        version = PrepareFromDisk(name, v, config, progress);
      } else {
        Prepared p;
        p.served = desired.calibrated.at(v);
        p.write_quantization = true;
        version = std::optional<Prepared>(std::move(p));
      }
    } else if (live && !current.ok()) {
      // Listed but not serving (it failed to load): keeps its entry and
      // reason. Not listed at all (new on disk, e.g. from another replica):
      // left to the repository poller's sync.
      for (const IndexEntry& e : registry_->Index()) {
        if (e.name == name && e.version == v) still_unavailable[v] = e.reason.empty() ? "not serving" : e.reason;
      }
      continue;
    } else if (replica) {
      auto adopted =
          AdoptVersion(name, v, config, current.ok() && !desired.rebuild ? &current->served : nullptr, &unchanged);
      if (!adopted.ok()) {
        version = adopted.status();
      } else if (adopted->has_value()) {
        Prepared p;
        p.served = **std::move(adopted);
        version = std::optional<Prepared>(std::move(p));
      } else {
        version = std::optional<Prepared>();
      }
    } else if (current.ok() && !desired.rebuild) {
      // A version already serving with the same config is kept as is.
      Prepared p;
      p.served = current->served;
      next[v] = std::move(p);
      continue;
    } else {
      version = PrepareFromDisk(name, v, config, progress);
    }
    if (version.ok() && version->has_value()) {
      if (absl::Status s = StartServing(name, v, config, start, (*version)->served); !s.ok()) version = s;
    }
    if (version.ok() && version->has_value()) {
      next[v] = **std::move(version);
      changed = changed || !unchanged;
      continue;
    }
    if (!version.ok()) {
      absl::Status error = WithContext(version.status(), VersionContext(name, v));
      if (upload) {
        registry_->MarkFailed(name, version_list, error.message());
        return error;
      }
      failed[v] = std::string(error.message());
    }
    // Not complete yet, or broken: on a replica (and after a failed live
    // calibration) what serves keeps serving.
    if ((replica || live) && current.ok()) next[v].served = current->served;
  }
  for (const auto& [v, reason] : desired.unreadable) {
    const std::string why = absl::StrCat(VersionContext(name, v), ": ", reason);
    // A version directory that cannot be read right now is not gone: what
    // serves keeps serving (a replica still reports the error).
    auto current = registry_->Get(name, std::to_string(v));
    if ((replica || live) && current.ok()) next[v].served = current->served;
    if (live && current.ok()) continue;
    (live ? still_unavailable : failed)[v] = why;
  }

  // Before anything is written: an upload over the memory budget changes
  // nothing (publishing below checks again, atomically).
  if (upload || live) {
    std::map<int64_t, ServedModel> built;
    for (const auto& [v, p] : next) built[v] = p.served;
    if (absl::Status s = registry_->CheckMemoryBudget(name, built, options_.memory_budget); !s.ok()) {
      if (upload) registry_->MarkFailed(name, version_list, s.message());
      return s;
    }
  }

  // Write: one commit for the whole model, so a crash leaves it as it was or
  // as loaded. Startup only persists quantizations made at load.
  if (!replica) {
    bool needs_write = upload && desired.write_model_state;
    for (const auto& [v, p] : next) needs_write = needs_write || p.model_bytes || NeedsQuantizationWrite(p);
    absl::Status written = absl::OkStatus();
    if (needs_write) {
      written = [&]() -> absl::Status {
        Q8_ASSIGN_OR_RETURN(std::unique_ptr<ModelWrite> write, repository_->BeginWrite(name));
        for (const auto& [v, p] : next) Q8_RETURN_IF_ERROR(Persist(*write, v, p));
        if (upload && desired.config_json) {
          Q8_RETURN_IF_ERROR(write->WriteFile(kConfigFileName, *desired.config_json));
        }
        if (upload) Q8_RETURN_IF_ERROR(write->RemoveFile(kUnloadedMarker));
        return write->Commit();
      }();
    }
    if (!written.ok() && upload) {
      registry_->MarkFailed(name, version_list, written.message());
      return WithContext(written, absl::StrCat("model '", name, "': cannot store in the repository"));
    }
    if (!written.ok()) {
      Q8_LOG(Warning, "model '", name, "': serving, but the quantization could not be saved: ", written.ToString());
    }
  }

  // Publish.
  std::map<int64_t, ServedModel> models;
  for (auto& [v, p] : next) models[v] = std::move(p.served);
  if (replica) {
    std::vector<int64_t> ready = registry_->ReadyVersions(name);
    for (int64_t v : ready) changed = changed || models.count(v) == 0;
    changed = changed || (ready.empty() && !models.empty());
    if (changed) {
      std::vector<int64_t> versions;
      for (const auto& [v, unused] : models) versions.push_back(v);
      Q8_RETURN_IF_ERROR(registry_->PublishWithinBudget(name, std::move(models), options_.memory_budget));
      if (versions.empty()) registry_->SetModelUnavailable(name, "no complete version in the repository");
      Q8_LOG(Info, "model '", name, "': adopted from the shared repository, READY versions ",
             absl::StrJoin(versions, ","));
      Notify(name);
    }
    if (failed.empty()) return absl::OkStatus();
    std::vector<std::string> errors;
    for (const auto& [v, reason] : failed) errors.push_back(reason);
    return absl::FailedPreconditionError(absl::StrJoin(errors, "; "));
  }
  if (published != nullptr) *published = models;
  std::vector<int64_t> built;
  for (const auto& [v, unused] : models) built.push_back(v);
  if (absl::Status s = registry_->PublishWithinBudget(name, std::move(models), options_.memory_budget); !s.ok()) {
    // Only when another load took the room since the check above (upload:
    // written but not served; a restart applies the budget again), or at
    // startup when the repository holds more than the budget.
    if (live) return s;
    if (upload) {
      registry_->MarkFailed(name, version_list, s.message());
      return s;
    }
    for (int64_t v : built) failed[v] = std::string(s.message());
  }
  if (upload) Q8_LOG(Info, "model '", name, "': READY, versions ", absl::StrJoin(version_list, ","));
  if (live) {
    for (const auto& [v, reason] : still_unavailable) {
      registry_->MarkLoading(name, {v});
      registry_->MarkFailed(name, {v}, reason);
    }
    for (const auto& [v, unused] : desired.calibrated) {
      auto now = registry_->Get(name, std::to_string(v));
      if (now.ok() && failed.count(v) == 0)
        Q8_LOG(Info, VersionContext(name, v), ": now serving ", ServingStatus(now->served));
    }
    Notify(name);
    if (failed.empty()) return absl::OkStatus();
    std::vector<std::string> errors;
    for (const auto& [v, reason] : failed) errors.push_back(reason);
    return absl::InternalError(absl::StrJoin(errors, "; "));
  }
  // Startup: the good versions are published, the bad ones listed UNAVAILABLE.
  for (const auto& [v, reason] : failed) {
    registry_->MarkLoading(name, {v});
    registry_->MarkFailed(name, {v}, reason);
    Q8_LOG(Error, "UNAVAILABLE: ", reason);
  }
  Notify(name);
  return absl::OkStatus();
}

// ---- Sources of desired versions ----

absl::Status ModelLoader::Load(const LoadRequest& request, const LoadProgressFn& progress,
                               std::map<int64_t, ServedModel>* published) {
  Q8_ASSIGN_OR_RETURN(LoadTicket ticket, BeginLoad(request.name));
  return Load(ticket, request, progress, published);
}

absl::Status ModelLoader::Load(const LoadTicket& ticket, const LoadRequest& request, const LoadProgressFn& progress,
                               std::map<int64_t, ServedModel>* published) {
  if (ticket.operation.name() != request.name) {
    return absl::InternalError(
        absl::StrCat("load of model '", request.name, "' under the ticket of '", ticket.operation.name(), "'"));
  }
  const std::string& name = request.name;
  auto scanned = repository_->ScanModel(name);
  if (!scanned.ok() && !absl::IsNotFound(scanned.status())) return scanned.status();
  if (!scanned.ok() && request.files.empty()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository; upload it with a '",
                                            "file:<version>/", kModelFileName, "' parameter"));
  }
  Desired desired;
  desired.source = DesiredSource::kUpload;
  Q8_ASSIGN_OR_RETURN(desired.config, EffectiveConfig(name, request.config_json));
  desired.rebuild = request.config_json.has_value();
  desired.config_json = request.config_json;
  desired.write_model_state = request.config_json.has_value() || !scanned.ok() || scanned->unloaded;
  if (scanned.ok()) {
    for (int64_t v : scanned->versions) desired.versions[v] = nullptr;
  }
  for (const auto& [v, files] : request.files) desired.versions[v] = &files;
  if (desired.versions.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("model '", name,
                                                      "' has no versions in the repository; "
                                                      "upload one with 'file:<version>/model.onnx'"));
  }
  return Reconcile(name, desired, progress, published);
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
  if (!model.error.empty()) {
    registry_->SetModelUnavailable(name, model.error);
    Q8_LOG(Error, "model '", name, "': UNAVAILABLE: ", model.error);
    return;
  }
  if (model.unloaded) {
    registry_->SetModelUnavailable(name, "unloaded");
    Q8_LOG(Info, "model '", name, "': skipped at startup (unloaded)");
    return;
  }
  if (model.versions.empty() && model.version_errors.empty()) {
    registry_->SetModelUnavailable(name, absl::StrCat("no version directory with a ", kModelFileName));
    Q8_LOG(Warning, "model '", name, "': UNAVAILABLE: no version directory with a ", kModelFileName);
    return;
  }
  auto config = EffectiveConfig(name, std::nullopt);
  if (!config.ok()) {
    registry_->SetModelUnavailable(name, config.status().message());
    Q8_LOG(Error, "model '", name, "': not loaded: ", config.status().ToString());
    return;
  }
  Desired desired;
  desired.source = DesiredSource::kStartup;
  desired.config = *std::move(config);
  for (int64_t v : model.versions) desired.versions[v] = nullptr;
  desired.unreadable = model.version_errors;
  (void)Reconcile(name, desired, nullptr, nullptr);  // failures are recorded per version
}

void ModelLoader::Notify(const std::string& name) const {
  if (options_.on_ready_changed) options_.on_ready_changed(name, registry_->AnyReady(name));
}

}  // namespace q8::server
