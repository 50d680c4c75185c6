// ModelLoader, mode auto: the interim precision a version serves before it is
// calibrated, the sampler that collects its live inputs, and the background
// calibration whose result is published through Reconcile like any other
// arrival (model_loader.cc owns that loop).
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "engine/threading.h"
#include "server/model_loader.h"

namespace q8::server {

absl::StatusOr<ServedModel> ModelLoader::BuildInterim(absl::string_view name, int64_t version, absl::string_view bytes,
                                                      const ModelConfig& config) const {
  // Dynamic int8 needs no data; the engine measures it against fp32 at
  // batch 1, and the faster of the two serves until calibration is done.
  ModelConfig dynamic = config;
  dynamic.quantization.mode = engine::QuantMode::kDynamic;
  auto quantized = Quantize(name, version, bytes, dynamic, nullptr, "", nullptr);
  ServedModel served;
  std::string interim = "fp32";
  if (quantized.ok() && quantized->quantization != nullptr) {
    const engine::QuantizationReport& r = quantized->quantization->report;
    const bool faster =
        quantized->quantization->int8 && r.latency_int8_b1_ms > 0 && r.latency_int8_b1_ms < r.latency_fp32_b1_ms;
    Q8_LOG(Info, VersionContext(name, version), ": interim precision: fp32 ", r.latency_fp32_b1_ms,
           " ms, dynamic int8 ", r.latency_int8_b1_ms, " ms at batch 1 -> ", faster ? "dynamic int8" : "fp32");
    if (faster) {
      served = *std::move(quantized);
      interim = "int8 dynamic";
    } else {
      served = ServedModel(quantized->fp32_model);
      served.onnx_fingerprint = quantized->onnx_fingerprint;
    }
  } else {
    if (!quantized.ok()) {
      Q8_LOG(Info, VersionContext(name, version), ": dynamic quantization not possible (", quantized.status().message(),
             "); interim precision fp32");
    }
    Q8_ASSIGN_OR_RETURN(served, Compile(name, version, bytes, config));
  }
  served.live = MakeSampler(std::string(name), version, *served.model, config, std::move(interim));
  return served;
}

std::shared_ptr<LiveSampler> ModelLoader::MakeSampler(const std::string& name, int64_t version,
                                                      const engine::CompiledModel& model, const ModelConfig& config,
                                                      std::string interim) const {
  using Phase = LiveSampler::Phase;
  if (!config.live.enabled) return std::make_shared<LiveSampler>(Phase::kOff, "", std::move(interim));
  auto unsupported = [&](std::string why) {
    Q8_LOG(Info, VersionContext(name, version), ": live calibration not possible: ", why);
    return std::make_shared<LiveSampler>(Phase::kUnsupported, std::move(why), std::move(interim));
  };
  if (model.inputs().size() != 1) {
    // Live sampling keeps one float input per request; several inputs (ids +
    // mask) calibrate from an uploaded calibration/inputs.npz instead.
    return unsupported(absl::StrCat("the model has ", model.inputs().size(),
                                    " inputs (live calibration samples single-input models; upload "
                                    "calibration/inputs.npz to calibrate it)"));
  }
  const engine::TensorInfo& input = model.inputs()[0];
  if (input.dtype != core::DataType::kFloat32) return unsupported("its input is not float32");
  if (input.dims.empty() || input.dims[0] != core::kDynamicDim) return unsupported("its input has no batch dimension");
  core::Dims sample(input.dims.begin() + 1, input.dims.end());
  for (int64_t d : sample) {
    if (d <= 0) return unsupported("its input has a dynamic dimension besides the batch");
  }
  const int64_t sample_bytes = core::NumElements(sample) * static_cast<int64_t>(sizeof(float));
  int64_t cap = kMaxLiveSampleBytes;
  // Samples count against the model memory budget too: at most an eighth of it.
  if (options_.memory_budget > 0) cap = std::min(cap, options_.memory_budget / 8);
  const int64_t fits = sample_bytes > 0 ? cap / sample_bytes : 0;
  const int64_t target = std::min(config.live.samples, fits);
  if (target < kMinLiveSamples) {
    return unsupported(absl::StrCat("one sample is ", sample_bytes, " bytes; ", kMinLiveSamples,
                                    " do not fit the live-calibration memory cap of ", cap, " bytes"));
  }
  if (target < config.live.samples) {
    Q8_LOG(Warning, VersionContext(name, version), ": live calibration collects ", target, " samples, not ",
           config.live.samples, " (", sample_bytes, " bytes each; memory cap ", cap, " bytes)");
  }
  auto sampler = std::make_shared<LiveSampler>(std::move(sample), target, std::move(interim));
  std::weak_ptr<LiveSampler> weak = sampler;
  ModelLoader* self = self_;
  sampler->SetOnFull([self, name, version, weak] {
    self->calibrator_.Enqueue([self, name, version, weak] { self->CalibrateLive(name, version, weak); });
  });
  Q8_LOG(Info, VersionContext(name, version), ": live calibration on the next ", target, " request samples");
  return sampler;
}

void ModelLoader::CalibrateLive(const std::string& name, int64_t version, const std::weak_ptr<LiveSampler>& weak) {
  std::shared_ptr<LiveSampler> sampler = weak.lock();
  if (sampler == nullptr) return;  // the interim version is gone (replaced, unloaded)
  auto current = registry_->Get(name, std::to_string(version));
  if (!current.ok() || current->served.live != sampler) return;
  core::Tensor inputs = sampler->TakeSamples();
  const int64_t n = inputs.dims().empty() ? 0 : inputs.dims()[0];
  const auto calibrated_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  auto fail = [&](const absl::Status& s) { FailLive(name, version, *sampler, s); };
  auto bytes = repository_->ReadModel(name, version);
  if (!bytes.ok()) return fail(bytes.status());
  if (Fingerprint(*bytes) != current->served.onnx_fingerprint) {
    // Replaced on disk: the new file's load decides what serves; until then
    // this sampler says why it stopped instead of "quantizing" forever.
    return fail(absl::AbortedError("model.onnx changed on disk during live calibration"));
  }
  auto config = EffectiveConfig(name, std::nullopt);
  if (!config.ok()) return fail(config.status());
  ModelConfig calibration = *config;
  calibration.quantization.mode = engine::QuantMode::kStatic;
  calibration.quantization.metric = engine::AccuracyMetric::kAgreement;  // no labels on live traffic
  engine::CalibrationData data;
  data.inputs = std::move(inputs);
  absl::StatusOr<ServedModel> built;
  {
    engine::ScopedIntraOpThreads threads(StreamThreads(calibration));
    built = Quantize(name, version, *bytes, calibration, &data, "live traffic", nullptr);
  }
  data = {};  // the samples are dropped once used
  if (!built.ok()) return fail(built.status());
  const std::shared_ptr<const QuantizationInfo> q = built->quantization;
  built->quantization =
      MakeQuantizationInfo(q->report, WithLiveCalibration(q->report_json, n, calibrated_at), q->artifact);
  auto published = std::make_shared<LiveResult>(LiveResult{*std::move(config), *std::move(built)});
  PublishLive(name, version, weak, std::move(published), 0);
}

void ModelLoader::FailLive(const std::string& name, int64_t version, LiveSampler& sampler,
                           const absl::Status& status) const {
  Q8_LOG(Warning, VersionContext(name, version), ": live calibration failed: ", status.ToString());
  sampler.Fail(std::string(status.message()));
  Notify(name);
}

void ModelLoader::PublishLive(const std::string& name, int64_t version, const std::weak_ptr<LiveSampler>& weak,
                              std::shared_ptr<const LiveResult> result, int attempt) {
  std::shared_ptr<LiveSampler> sampler = weak.lock();
  if (sampler == nullptr || calibrator_.stopping()) return;  // the interim version is gone, or shutdown
  // Published through the one lifecycle path, under the model's operation
  // guard. While an upload or sync holds it, the job goes back to the queue
  // (the calibrator thread serves other models meanwhile) and tries again.
  auto guard = registry_->BeginOperation(name, "live calibration");
  if (!guard.ok()) {
    if (attempt >= kLivePublishAttempts) return FailLive(name, version, *sampler, guard.status());
    ModelLoader* self = self_;
    calibrator_.Enqueue(
        [self, name, version, weak, result, attempt] { self->PublishLive(name, version, weak, result, attempt + 1); },
        absl::Now() + kLivePublishRetry);
    return;
  }
  auto fail = [&](const absl::Status& s) { FailLive(name, version, *sampler, s); };
  // The versions on disk decide, as for a repository sync: a version that
  // failed to load stays listed (UNAVAILABLE) instead of dropping out.
  auto scanned = repository_->ScanModel(name, /*clean_up=*/false);
  if (!scanned.ok()) return fail(scanned.status());
  if (!absl::c_linear_search(scanned->versions, version)) {
    return fail(absl::AbortedError("the version was removed from the repository during live calibration"));
  }
  Desired desired;
  desired.source = DesiredSource::kLiveCalibration;
  desired.config = result->config;
  for (int64_t v : scanned->versions) desired.versions[v] = nullptr;
  desired.unreadable = scanned->version_errors;
  desired.calibrated[version] = result->served;
  desired.replaces = sampler;
  if (absl::Status s = Reconcile(name, desired, nullptr, nullptr); !s.ok()) fail(s);
}

}  // namespace q8::server
