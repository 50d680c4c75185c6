#include "server/metrics/model_metrics.h"

#include <cmath>
#include <utility>

#include "server/metrics/buckets.h"
#include "server/metrics/shadow_evaluator.h"

namespace q8::server::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Family order: AppendTo indexes by these.
enum Family : int {
  kRequests,
  kInferenceCount,
  kRequestDuration,
  kQueueDuration,
  kComputeDuration,
  kBatchSize,
  kInflight,
  kQueueDepth,
  kMemory,
  kWeightBytes,
  kServedWeightBytes,
  kLayers,
  kAccuracy,
  kOutputSqnr,
  kTargetMet,
  kLoadDuration,
  kQuantizationDuration,
  kInfo,
  kServingState,
  kLiveSamples,
  kShadowComparisons,
  kShadowAgreements,
  kShadowDropped,
  kShadowRelativeError,
  kPlanBuilds,
  kCachedPlans,
  kFamilyCount
};

ClientMetric WithLabels(ClientMetric metric, const ModelDescription& d,
                        std::initializer_list<ClientMetric::Label> extra = {}) {
  metric.label.push_back({"model", d.model});
  metric.label.push_back({"version", std::to_string(d.version)});
  for (const auto& l : extra) metric.label.push_back(l);
  return metric;
}

ClientMetric GaugeValue(double value) {
  ClientMetric m;
  m.gauge.value = value;
  return m;
}

}  // namespace

std::vector<MetricFamily> MetricFamilies() {
  std::vector<MetricFamily> f(kFamilyCount);
  auto set = [&f](Family i, const char* name, MetricType type, const char* help) {
    f[i].name = name;
    f[i].type = type;
    f[i].help = help;
  };
  set(kRequests, "q8serve_inference_requests_total", MetricType::Counter,
      "Inference requests finished, by status (ok or the gRPC code name).");
  set(kInferenceCount, "q8serve_inference_count_total", MetricType::Counter,
      "Batch elements inferred by successful requests.");
  set(kRequestDuration, "q8serve_inference_request_duration_seconds", MetricType::Histogram,
      "Server-side end-to-end duration of successful inference requests.");
  set(kQueueDuration, "q8serve_inference_queue_duration_seconds", MetricType::Histogram,
      "Time successful requests waited before the model ran.");
  set(kComputeDuration, "q8serve_inference_compute_duration_seconds", MetricType::Histogram,
      "Model execution time of successful requests.");
  set(kBatchSize, "q8serve_inference_batch_size", MetricType::Histogram, "Batch elements per model execution.");
  set(kInflight, "q8serve_inference_inflight_requests", MetricType::Gauge,
      "Inference requests of this version in progress.");
  set(kQueueDepth, "q8serve_inference_queue_depth", MetricType::Gauge,
      "Inference requests of this version waiting to run.");
  set(kMemory, "q8serve_model_memory_bytes", MetricType::Gauge,
      "Memory of the served model and its fp32 reference, from the engine's allocation accounting, by kind.");
  set(kWeightBytes, "q8serve_model_weight_bytes", MetricType::Gauge,
      "Weight bytes of the model in fp32 and of the served quantized model (all of its weights, whatever their "
      "precision: q8serve_model_served_weight_bytes splits them).");
  set(kServedWeightBytes, "q8serve_model_served_weight_bytes", MetricType::Gauge,
      "Weight bytes the served model holds, by the precision they are stored in (int8, bf16, fp32: the rest, "
      "biases included); measured at scrape time.");
  set(kLayers, "q8serve_model_layers", MetricType::Gauge,
      "Weighted layers (Conv, Gemm, MatMul with constant weights) of the served model per precision it runs in.");
  set(kAccuracy, "q8serve_model_accuracy", MetricType::Gauge,
      "Accuracy measured at upload on the held-out calibration samples (0-1).");
  set(kOutputSqnr, "q8serve_model_output_sqnr_db", MetricType::Gauge,
      "Signal-to-quantization-noise ratio of the int8 model's output at upload, in dB.");
  set(kTargetMet, "q8serve_model_accuracy_target_met", MetricType::Gauge,
      "1 if the upload-time accuracy drop was within max_drop, else 0.");
  set(kLoadDuration, "q8serve_model_load_duration_seconds", MetricType::Gauge,
      "Time the version took to load (compile, or quantize, or rebuild from its artifact).");
  set(kQuantizationDuration, "q8serve_model_quantization_duration_seconds", MetricType::Gauge,
      "Calibration and quantization time recorded in the version's quantization report.");
  set(kInfo, "q8serve_model_info", MetricType::Gauge, "Served model version information; value 1.");
  set(kServingState, "q8serve_model_serving_state", MetricType::Gauge,
      "What the version serves and why (state: calibrating, quantizing, int8_live, live_off, live_failed, "
      "live_unsupported, static, dynamic, none); value 1. The report and ModelMetadata give the text.");
  set(kLiveSamples, "q8serve_model_live_calibration_samples", MetricType::Gauge,
      "Live calibration: request samples collected so far and the number it waits for (kind collected|target); "
      "for a live-calibrated version, the samples it was calibrated on.");
  set(kShadowComparisons, "q8serve_shadow_comparisons_total", MetricType::Counter,
      "Shadowed samples whose int8 and fp32 top-1 classes were compared.");
  set(kShadowAgreements, "q8serve_shadow_agreements_total", MetricType::Counter,
      "Shadowed samples whose int8 top-1 class equals the fp32 one.");
  set(kShadowDropped, "q8serve_shadow_dropped_total", MetricType::Counter,
      "Sampled requests not shadowed because the shadow queue was full.");
  set(kShadowRelativeError, "q8serve_shadow_relative_error", MetricType::Histogram,
      "Per-sample ||int8 - fp32|| / ||fp32|| of the outputs of shadowed requests.");
  set(kPlanBuilds, "q8serve_model_plan_builds_total", MetricType::Counter,
      "Execution plans built for the served model: one per new set of input shapes and thread count, again after "
      "an evicted plan is needed (max_cached_plans).");
  set(kCachedPlans, "q8serve_model_cached_plans", MetricType::Gauge,
      "Execution plans the served model holds now (at most its max_cached_plans).");
  return f;
}

std::string StatusLabel(absl::StatusCode code) {
  if (code == absl::StatusCode::kOk) return "ok";
  return absl::StatusCodeToString(code);
}

ModelMetrics::ModelMetrics(ModelDescription description, ShadowEvaluator* shadow)
    : description_(std::move(description)),
      shadow_(shadow),
      shadowed_(!description_.precision.empty() && description_.precision != "fp32" &&
                !description_.reference.expired()),
      shadow_relative_error_(RelativeErrorBuckets()) {}

bool ModelMetrics::SampleForShadow() {
  const double f = description_.shadow_fraction;
  if (!(f > 0)) return false;
  const uint64_t n = shadow_seen_.fetch_add(1, std::memory_order_relaxed);
  return std::floor(static_cast<double>(n + 1) * f) > std::floor(static_cast<double>(n) * f);
}

void ModelMetrics::MaybeShadow(absl::Span<const core::TensorView> inputs,
                               absl::Span<const core::MutableTensorView> outputs) {
  if (shadow_ == nullptr || !shadowed_ || !SampleForShadow()) return;
  std::shared_ptr<const engine::CompiledModel> reference = description_.reference.lock();
  if (reference == nullptr) return;
  shadow_->Submit(shared_from_this(), std::move(reference), inputs, outputs);
}

void ModelMetrics::RecordShadow(const ShadowResult& result) {
  if (result.compared > 0) shadow_comparisons_.Increment(static_cast<double>(result.compared));
  if (result.agreed > 0) shadow_agreements_.Increment(static_cast<double>(result.agreed));
  for (double e : result.relative_errors) shadow_relative_error_.Observe(e);
}

void ModelMetrics::AppendTo(std::vector<MetricFamily>& f) const {
  const ModelDescription& d = description_;
  auto add = [&](Family i, ClientMetric m, std::initializer_list<ClientMetric::Label> extra = {}) {
    f[i].metric.push_back(WithLabels(std::move(m), d, extra));
  };
  for (int code = 0; code < kCodes; ++code) {
    const uint64_t n = counters_.requests(code);
    if (code != 0 && n == 0) continue;
    ClientMetric requests;
    requests.counter.value = static_cast<double>(n);
    add(kRequests, std::move(requests), {{"status", StatusLabel(static_cast<absl::StatusCode>(code))}});
  }
  ClientMetric inferences;
  inferences.counter.value = static_cast<double>(counters_.inference_count());
  add(kInferenceCount, std::move(inferences));
  add(kRequestDuration, counters_.DurationHistogram(RequestCounters::kRequest));
  add(kQueueDuration, counters_.DurationHistogram(RequestCounters::kQueue));
  add(kComputeDuration, counters_.DurationHistogram(RequestCounters::kCompute));
  add(kBatchSize, counters_.BatchHistogram());
  add(kInflight, GaugeValue(static_cast<double>(counters_.inflight())));
  add(kQueueDepth, GaugeValue(d.queue_depth ? static_cast<double>(d.queue_depth()) : 0));

  // Memory changes as workspaces are allocated: read it now.
  engine::MemoryStats memory;
  std::shared_ptr<const engine::CompiledModel> served = d.served.lock();
  std::shared_ptr<const engine::CompiledModel> reference = d.reference.lock();
  if (reference == served) reference.reset();  // fp32 versions serve their own reference
  for (const auto* model : {served.get(), reference.get()}) {
    if (model == nullptr) continue;
    const engine::MemoryStats m = model->memory();
    memory.weights += m.weights;
    memory.activations += m.activations;
    memory.scratchpad += m.scratchpad;
  }
  if (served != nullptr) {
    add(kMemory, GaugeValue(static_cast<double>(memory.weights)), {{"kind", "weights"}});
    add(kMemory, GaugeValue(static_cast<double>(memory.activations)), {{"kind", "activations"}});
    add(kMemory, GaugeValue(static_cast<double>(memory.scratchpad)), {{"kind", "scratchpad"}});
    add(kMemory, GaugeValue(static_cast<double>(memory.total())), {{"kind", "total"}});
    const engine::MemoryStats own = served->memory();
    const int64_t own_fp32 = own.weights - own.weights_int8 - own.weights_bf16;
    add(kServedWeightBytes, GaugeValue(static_cast<double>(own.weights_int8)), {{"precision", "int8"}});
    add(kServedWeightBytes, GaugeValue(static_cast<double>(own.weights_bf16)), {{"precision", "bf16"}});
    add(kServedWeightBytes, GaugeValue(static_cast<double>(own_fp32)), {{"precision", "fp32"}});
    ClientMetric builds;
    builds.counter.value = static_cast<double>(served->plan_builds());
    add(kPlanBuilds, std::move(builds));
    add(kCachedPlans, GaugeValue(static_cast<double>(served->cached_plans())));
  }
  add(kWeightBytes, GaugeValue(static_cast<double>(d.weight_bytes_fp32)), {{"precision", "fp32"}});
  if (d.weight_bytes_int8) {
    add(kWeightBytes, GaugeValue(static_cast<double>(*d.weight_bytes_int8)), {{"precision", "int8"}});
  }
  for (const auto& [precision, n] : d.precision_layers) {
    add(kLayers, GaugeValue(static_cast<double>(n)), {{"precision", precision}});
  }
  for (const auto& a : d.accuracy) {
    add(kAccuracy, GaugeValue(a.value), {{"precision", a.precision}, {"metric", a.metric}});
  }
  if (d.output_sqnr_db) add(kOutputSqnr, GaugeValue(*d.output_sqnr_db));
  if (d.target_met) add(kTargetMet, GaugeValue(*d.target_met ? 1 : 0));
  add(kLoadDuration, GaugeValue(d.load_seconds));
  if (d.quantization_seconds) add(kQuantizationDuration, GaugeValue(*d.quantization_seconds));
  add(kInfo, GaugeValue(1), {{"precision", d.precision}, {"isa", d.isa}, {"quantization_mode", d.quantization_mode}});
  if (d.serving_state) {
    // No free-text label: the counts in the text would make a new series per sample.
    add(kServingState, GaugeValue(1), {{"state", d.serving_state()}});
  }
  if (d.live_samples) {
    const auto [collected, target] = d.live_samples();
    add(kLiveSamples, GaugeValue(static_cast<double>(collected)), {{"kind", "collected"}});
    add(kLiveSamples, GaugeValue(static_cast<double>(target)), {{"kind", "target"}});
  }
  if (shadowed_) {
    add(kShadowComparisons, shadow_comparisons_.Collect());
    add(kShadowAgreements, shadow_agreements_.Collect());
    add(kShadowDropped, shadow_dropped_.Collect());
    add(kShadowRelativeError, shadow_relative_error_.Collect());
  }
}

}  // namespace q8::server::metrics
