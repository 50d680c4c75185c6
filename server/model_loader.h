// ModelLoader: the only code that changes which models serve. It drives one
// model name at a time (holding the registry's OperationGuard) through
//   parse parameters -> build every version (engine: compile, or quantize)
//   -> write to the repository atomically -> publish READY in the registry
//   -> notify health.
// Building is the expensive step and happens before anything is written or
// published, so a model that fails to compile or quantize changes nothing on
// disk and the previously loaded versions keep serving.
//
// How a version is built (see server/README.md, "Quantization"):
//   uploaded files        config mode: none -> Compile; static/dynamic ->
//                         Quantize with the uploaded calibration data (if any)
//   on disk, with quantization.json
//                         LoadQuantized (no calibration)
//   on disk, with calibration/inputs.npy or inputs.npz (a hand-populated repository)
//                         Quantize with that data, then persist the artifact
//   on disk, neither      config mode (static without data fails with the
//                         engine's FAILED_PRECONDITION)
//   mode auto, no data    (uploaded or on disk, no quantization.json) the
//                         interim precision: fp32 or dynamic int8, whichever
//                         measured faster at load; then live calibration
//                         (server/live_sampler.h): when the samples are in,
//                         a background job (LiveCalibrator) quantizes them
//                         statically and Reconcile publishes and persists the
//                         int8 version like any other.
//
// Upload, startup, replica adoption and live calibration are four sources of "desired
// versions" feeding one loop (Reconcile), where the failure rules live once:
// an upload is all or nothing, startup and adoption go version by version.
//
// Startup (LoadAll) loads every model in the repository, version by version:
// a broken version or model (including a directory that cannot be read, or
// one without a complete version) is recorded as UNAVAILABLE with the error
// as its reason and does not stop the server; only an unreadable repository
// root is an error. Every write of a load is one ModelWrite (the model
// directory swapped in at once; model_repository.h).
//
// Thread safety: all methods are thread-safe; operations on different model
// names run in parallel, a second operation on the same name gets ABORTED.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/compiler.h"
#include "engine/quantize.h"
#include "inference.pb.h"
#include "server/live_calibrator.h"
#include "server/live_sampler.h"
#include "server/model_config.h"
#include "server/model_registry.h"
#include "server/model_repository.h"
#include "server/resource_limits.h"

namespace q8::server {

// The engine entry points the loader uses; the real ones (RealEngine()) or
// fakes in unit tests.
using CompileFn = std::function<absl::StatusOr<std::shared_ptr<const engine::CompiledModel>>(
    absl::string_view onnx_bytes, const engine::CompileOptions& options)>;
using QuantizeFn = std::function<absl::StatusOr<engine::QuantizationResult>(
    absl::string_view onnx_bytes, const engine::CompileOptions& compile, const engine::QuantizationOptions& options,
    const engine::CalibrationData* data, const engine::ProgressFn& progress)>;
using LoadQuantizedFn = std::function<absl::StatusOr<engine::QuantizationResult>(
    absl::string_view onnx_bytes, absl::string_view artifact, absl::string_view report_json,
    const engine::CompileOptions& compile)>;

struct EngineFns {
  CompileFn compile;
  QuantizeFn quantize;
  LoadQuantizedFn load_quantized;
};
// engine::Compile, engine::Quantize, engine::LoadQuantized.
EngineFns RealEngine();

// One uploaded file: its bytes (a view into the RPC's buffers) and how the
// client named it, for messages ("file:calibration/inputs.npy"); calibration
// inputs are read as .npz when the name ends in ".npz".
struct UploadedFile {
  absl::string_view bytes;
  std::string label;
};

struct UploadedVersion {
  UploadedFile model;  // model.onnx
  std::optional<UploadedFile> calibration_inputs;
  std::optional<UploadedFile> calibration_labels;
};

// A parsed upload (RepositoryModelLoad or ModelService.Upload). The views
// must outlive Load().
struct LoadRequest {
  std::string name;
  std::optional<std::string> config_json;
  std::map<int64_t, UploadedVersion> files;  // empty: reload from the repository
};

// Collects upload files by their path relative to the model directory:
//   <version>/model.onnx
//   <version>/calibration/inputs.npy or inputs.npz, <version>/calibration/labels.npy
//   calibration/inputs.npy or inputs.npz, calibration/labels.npy   (for every uploaded version)
// INVALID_ARGUMENT (naming `label`) for any other path, a non-numeric
// version, a file given twice, or calibration data without a model.onnx.
class UploadFiles {
 public:
  absl::Status Add(absl::string_view path, absl::string_view bytes, std::string label);
  absl::StatusOr<std::map<int64_t, UploadedVersion>> Finish() const;

 private:
  struct Pending {
    std::optional<UploadedFile> model, inputs, labels;
  };
  std::map<int64_t, Pending> versions_;
  Pending shared_;  // calibration/* without a version
};

// Parameters: "config" (string_param JSON) and "file:<path>" (bytes_param)
// with the paths of UploadFiles. INVALID_ARGUMENT for other keys, wrong
// parameter kinds or bad paths; RESOURCE_EXHAUSTED when config + files exceed
// `max_upload_bytes` (the message names the limit).
absl::StatusOr<LoadRequest> ParseLoadRequest(const inference::RepositoryModelLoadRequest& request,
                                             int64_t max_upload_bytes);

// Upload: the RESOURCE_EXHAUSTED error for `total` bytes over `limit`.
absl::Status UploadTooLarge(absl::string_view name, int64_t total, int64_t limit);

// "model 'm' version 3": the prefix of every per-version message and log line.
std::string VersionContext(absl::string_view name, int64_t version);

// Quantization progress of one version of an upload.
using LoadProgressFn = std::function<void(int64_t version, const engine::QuantizationProgress& progress)>;

struct LoaderOptions {
  EngineFns engine;
  ModelConfig default_config;
  // Execution streams of models whose config sets no layout.
  ExecutionPreset default_preset = ExecutionPreset::kAuto;
  int cpus = 1;  // the CPU budget presets divide
  // max_concurrent_loads, max_queue_size, max_threads_per_cpu; the memory
  // budget below is max_model_memory_bytes resolved (0: no limit).
  ResourceLimits limits;
  int64_t memory_budget = 0;
  // What a calibration/inputs.npz may inflate to in total (the server sets
  // --max_upload_bytes: no archive unpacks to more than an upload may hold).
  int64_t max_calibration_bytes = int64_t{1} << 30;
  // Called after an operation changed whether `name` has a READY version.
  std::function<void(const std::string& name, bool ready)> on_ready_changed;
};

// One of --max_concurrent_loads upload/quantization slots, held for a whole
// RepositoryModelLoad or ModelService.Upload; released on destruction.
class LoadSlot {
 public:
  explicit LoadSlot(std::atomic<int>* in_use) : in_use_(in_use) {}
  LoadSlot(LoadSlot&& other) noexcept : in_use_(std::exchange(other.in_use_, nullptr)) {}
  LoadSlot& operator=(LoadSlot&&) = delete;
  LoadSlot(const LoadSlot&) = delete;
  ~LoadSlot() {
    if (in_use_ != nullptr) in_use_->fetch_sub(1);
  }

 private:
  std::atomic<int>* in_use_;
};

class ModelLoader {
 public:
  ModelLoader(LoaderOptions options, const ModelRepository* repository, ModelRegistry* registry)
      : options_(std::move(options)), repository_(repository), registry_(registry) {}
  // Stops live calibration first (its jobs use the loader).
  ~ModelLoader() { calibrator_.Stop(); }

  // What a client load (Upload, RepositoryModelLoad) holds from before its
  // files arrive until it is published, taken in this order: the model's name
  // (ABORTED while another operation on it runs) and one of
  // --max_concurrent_loads slots (RESOURCE_EXHAUSTED when all are taken; the
  // slots bound the uploads held in memory). Name first, so a duplicate upload
  // is refused before it can cost another model's upload a slot. Startup and
  // repository sync take no slot: they run one model at a time on their own
  // thread.
  struct LoadTicket {
    ModelRegistry::OperationGuard operation;
    LoadSlot slot;
  };
  absl::StatusOr<LoadTicket> BeginLoad(absl::string_view name);

  // Upload (files given) or reload from the repository (no files). All or
  // nothing: every version must build before anything is written.
  // `progress` sees the engine's quantization stages; `published`, if not
  // null, receives what was published on success.
  // Takes its own ticket (BeginLoad), so its refusals are the same.
  absl::Status Load(const LoadRequest& request, const LoadProgressFn& progress = nullptr,
                    std::map<int64_t, ServedModel>* published = nullptr);
  // The same under a ticket the caller took for `request.name` (before
  // receiving the files).
  absl::Status Load(const LoadTicket& ticket, const LoadRequest& request, const LoadProgressFn& progress = nullptr,
                    std::map<int64_t, ServedModel>* published = nullptr);
  // Unloads from memory and marks the model unloaded on disk (files kept).
  absl::Status Unload(absl::string_view name);
  // Startup: every model in the repository. Errors are only repository I/O
  // failures; model failures are recorded in the registry.
  absl::Status LoadAll();
  // Adopts what another replica wrote to a shared repository (the repository
  // poller calls this for a model whose files changed). Read-only: never
  // writes, never calibrates or quantizes. Per version on disk:
  //   quantization.json + report.json   LoadQuantized (the persisted artifact)
  //   model.onnx only, config mode none compiled as fp32
  //   model.onnx only, quantizing mode  not yet complete (the writer is between
  //                                     model.onnx and quantization.json, or the
  //                                     version needs quantizing by whoever put
  //                                     it there): skipped; a version already
  //                                     serving keeps serving
  // Versions whose files equal what is served (model fingerprint, artifact
  // bytes) are kept as they are unless `config_changed`. Versions gone from
  // disk are dropped; an UNLOADED marker or a deleted model directory unloads
  // the model. ABORTED while another operation on `name` runs (retry later);
  // other errors name the versions that could not be adopted (the rest is
  // published).
  absl::Status SyncFromRepository(absl::string_view name, bool config_changed);

  // The execution layout for `config`: preset over the CPUs, clamped to
  // --max_threads_per_cpu x CPUs threads.
  StreamLayout Layout(const ModelConfig& config) const;
  // Bytes loaded models may hold (0: no limit).
  int64_t memory_budget() const { return options_.memory_budget; }
  // Waits until no live-calibration job is queued or running (false on
  // timeout): lets a caller observe the end of a job that changes nothing.
  bool WaitLiveCalibrationIdle(absl::Duration timeout) const { return calibrator_.WaitUntilIdle(timeout); }

 private:
  absl::StatusOr<LoadSlot> AcquireLoadSlot();

  // Where the versions an operation wants come from; decides the failure
  // rules of Reconcile (see model_loader.cc).
  enum class DesiredSource { kUpload, kStartup, kReplica, kLiveCalibration };
  struct Desired {
    DesiredSource source = DesiredSource::kUpload;
    ModelConfig config;
    // Versions already serving are rebuilt (a new config), not kept.
    bool rebuild = false;
    std::map<int64_t, const UploadedVersion*> versions;  // nullptr: the version on disk
    std::map<int64_t, std::string> unreadable;           // version directories that could not be read
    // Upload: config.json to write (if any) and the UNLOADED marker to drop.
    std::optional<std::string> config_json;
    bool write_model_state = false;
    // Live calibration: the version it quantized, built off the operation
    // guard, and the sampler of the interim version it replaces (published
    // only if that interim version still serves).
    std::map<int64_t, ServedModel> calibrated;
    std::shared_ptr<LiveSampler> replaces;
  };

  // The one loop: builds the desired versions, writes, publishes.
  absl::Status Reconcile(const std::string& name, const Desired& desired, const LoadProgressFn& progress,
                         std::map<int64_t, ServedModel>* published);

  // A built version and what must be written for it.
  struct Prepared {
    ServedModel served;
    std::optional<absl::string_view> model_bytes;  // uploaded: write model.onnx
    bool write_quantization = false;               // write report.json + quantization.json
  };

  absl::StatusOr<ModelConfig> EffectiveConfig(absl::string_view name, const std::optional<std::string>& json) const;
  absl::StatusOr<Prepared> PrepareUpload(absl::string_view name, int64_t version, const UploadedVersion& files,
                                         const ModelConfig& config, const LoadProgressFn& progress) const;
  absl::StatusOr<Prepared> PrepareFromDisk(absl::string_view name, int64_t version, const ModelConfig& config,
                                           const LoadProgressFn& progress) const;
  absl::StatusOr<ServedModel> Compile(absl::string_view name, int64_t version, absl::string_view bytes,
                                      const ModelConfig& config) const;
  absl::StatusOr<ServedModel> Quantize(absl::string_view name, int64_t version, absl::string_view bytes,
                                       const ModelConfig& config, const engine::CalibrationData* data,
                                       absl::string_view data_source, const LoadProgressFn& progress) const;
  // Stages what `prepared` needs written for `version` in `write`.
  absl::Status Persist(ModelWrite& write, int64_t version, const Prepared& prepared) const;
  static bool NeedsQuantizationWrite(const Prepared& p) {
    return p.write_quantization && p.served.quantization != nullptr;
  }
  int StreamThreads(const ModelConfig& config) const;
  // The last step of every path that builds a version (upload, startup,
  // adoption from the shared repository): starts `served`'s execution
  // streams, warms them up, and stamps what the metrics report (load time
  // since `start`, the config's shadow fraction). A version that already
  // serves (has streams) is left as it is.
  absl::Status StartServing(absl::string_view name, int64_t version, const ModelConfig& config,
                            std::chrono::steady_clock::time_point start, ServedModel& served) const;
  // quantization.json + report.json (+ model.onnx bytes) -> served model, no calibration.
  absl::StatusOr<ServedModel> LoadPersisted(absl::string_view name, int64_t version, absl::string_view bytes,
                                            std::string artifact, std::string report, const ModelConfig& config) const;
  // One version for SyncFromRepository: nullopt when not complete on disk;
  // `*unchanged` when it equals `current`.
  absl::StatusOr<std::optional<ServedModel>> AdoptVersion(absl::string_view name, int64_t version,
                                                          const ModelConfig& config, const ServedModel* current,
                                                          bool* unchanged) const;
  void LoadAtStartup(const ScannedModel& model);
  // Mode auto without calibration data: fp32 or dynamic int8 (the faster at
  // batch 1), with a LiveSampler for live calibration.
  absl::StatusOr<ServedModel> BuildInterim(absl::string_view name, int64_t version, absl::string_view bytes,
                                           const ModelConfig& config) const;
  std::shared_ptr<LiveSampler> MakeSampler(const std::string& name, int64_t version, const engine::CompiledModel& model,
                                           const ModelConfig& config, std::string interim) const;
  // The background job: quantizes `sampler`'s samples and publishes the
  // int8 version through Reconcile (on the LiveCalibrator thread).
  void CalibrateLive(const std::string& name, int64_t version, const std::weak_ptr<LiveSampler>& weak);
  // A calibration's result, waiting to be published.
  struct LiveResult {
    ModelConfig config;
    ServedModel served;
  };
  // Publishes `result` under the model's operation guard; while another
  // operation holds it, re-queues itself (every kLivePublishRetry, at most
  // kLivePublishAttempts times) instead of blocking the calibrator thread.
  void PublishLive(const std::string& name, int64_t version, const std::weak_ptr<LiveSampler>& weak,
                   std::shared_ptr<const LiveResult> result, int attempt);
  static constexpr int kLivePublishAttempts = 600;
  // The sampler says why calibration stopped; the version keeps its interim precision.
  void FailLive(const std::string& name, int64_t version, LiveSampler& sampler, const absl::Status& status) const;
  static constexpr absl::Duration kLivePublishRetry = absl::Milliseconds(100);
  void Notify(const std::string& name) const;

  LoaderOptions options_;
  const ModelRepository* repository_;
  ModelRegistry* registry_;
  std::atomic<int> loads_in_use_{0};
  // For the samplers' callbacks, made in const build paths.
  ModelLoader* const self_ = this;
  // Last: stopped before anything its jobs use goes away.
  LiveCalibrator calibrator_;
};

}  // namespace q8::server
