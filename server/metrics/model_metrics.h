// ModelMetrics: the Prometheus series of one served model version (labels
// model, version) and the counters requests update without any lookup.
//
// Ownership instead of prometheus::Family children: a Family owns its
// children and Family::Remove destroys them, so removing a version's series
// while an in-flight request of that version still held a child reference
// would be a use-after-free (and Family::Add hands back the *same* child when
// a replaced version re-registers identical labels). Here each version owns
// its metric objects (prometheus-cpp's Counter/Gauge/Histogram, so values and
// bucket logic are the library's) and is shared with requests through
// ModelHandle. MetricsRegistry exports the registered versions at scrape
// time; unregistering a version (unload, replace) removes its series from the
// next scrape at once, and late requests update an orphan harmlessly.
//
// Series are created when the version is registered (counters export 0).
// Status series other than "ok" appear once that code has been seen, so a
// model does not export 16 always-zero error series.
//
// The per-request series are one lock-free record per request
// (RequestCounters: per-thread shards summed at scrape); prometheus-cpp's own
// metric objects remain for what changes rarely (shadow outcomes).
//
// Thread safety: the request-path methods are lock-free; AppendTo() may run
// concurrently with them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "engine/compiled_model.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "server/metrics/request_counters.h"

namespace q8::server::metrics {

class ShadowEvaluator;

// What does not change while a version serves: identity, precision, the
// upload-time quantization report, load timing, shadow configuration.
struct ModelDescription {
  std::string model;
  int64_t version = 0;
  // The served model's label: "int8", "bf16" or "fp32" when every weighted
  // layer runs in it, else "mixed" (QuantizationReport::precision).
  std::string precision;
  std::string isa;                // oneDNN ISA in use
  std::string quantization_mode;  // static | dynamic | none
  // Read at scrape time for q8serve_model_memory_bytes (workspaces grow with
  // traffic). `reference` is the fp32 model kept for shadow evaluation and
  // export; null (or == served) for fp32 versions. Weak: metrics never keep a
  // model alive.
  std::weak_ptr<const engine::CompiledModel> served;
  std::weak_ptr<const engine::CompiledModel> reference;
  // q8serve_model_weight_bytes: what the weights cost in fp32 and, for
  // quantized versions, what the served int8 model's weights cost.
  int64_t weight_bytes_fp32 = 0;
  std::optional<int64_t> weight_bytes_int8;
  // q8serve_model_layers: weighted layers per precision (int8, bf16, fp32),
  // from the quantization report; empty: not exported.
  std::map<std::string, int64_t> precision_layers;
  struct Accuracy {
    std::string precision;  // fp32 | int8
    std::string metric;     // top1 | agreement
    double value = 0;
  };
  std::vector<Accuracy> accuracy;  // empty when the upload did not measure accuracy
  std::optional<double> output_sqnr_db;
  std::optional<bool> target_met;
  double load_seconds = 0;
  std::optional<double> quantization_seconds;  // quantized versions only
  // Share of successful requests re-run through `reference` (0 = none; always
  // 0 for fp32 versions, which have nothing to compare with).
  double shadow_fraction = 0;
  // Read at scrape time (live calibration changes them while the version
  // serves): the serving state's label for q8serve_model_serving_state
  // ("calibrating", "int8_live", "static", "none"...), and the
  // live-calibration samples collected (target) for
  // q8serve_model_live_calibration_samples. Unset: not exported.
  std::function<std::string()> serving_state;
  std::function<std::pair<int64_t, int64_t>()> live_samples;
  // Read at scrape time for q8serve_inference_queue_depth (requests waiting
  // for an execution stream). Unset: 0.
  std::function<int64_t()> queue_depth;
};

// Result of comparing one shadowed request (see ShadowEvaluator::Compare).
struct ShadowResult {
  int64_t compared = 0;                 // samples with a class dimension (top-1 compared)
  int64_t agreed = 0;                   // of those, samples whose int8 and fp32 argmax agree
  std::vector<double> relative_errors;  // one per sample: ||int8-fp32|| / ||fp32||
};

class ModelMetrics : public std::enable_shared_from_this<ModelMetrics> {
 public:
  // `shadow` may be null (no shadow evaluation); it must outlive this object's
  // MaybeShadow() calls (MetricsRegistry owns both).
  ModelMetrics(ModelDescription description, ShadowEvaluator* shadow);
  ModelMetrics(const ModelMetrics&) = delete;
  ModelMetrics& operator=(const ModelMetrics&) = delete;

  const ModelDescription& description() const { return description_; }

  // ---- Request path ----
  // RAII: counts the request in q8serve_inference_inflight_requests while alive.
  class Inflight {
   public:
    explicit Inflight(ModelMetrics* metrics) : metrics_(metrics) {
      if (metrics_ != nullptr) metrics_->counters_.AddInflight(1);
    }
    ~Inflight() {
      if (metrics_ != nullptr) metrics_->counters_.AddInflight(-1);
    }
    Inflight(const Inflight&) = delete;
    Inflight& operator=(const Inflight&) = delete;

   private:
    ModelMetrics* metrics_;
  };
  // Counts a finished request under its status ("ok" or the gRPC code name).
  // Successful requests also feed the duration and batch histograms and
  // q8serve_inference_count_total; failed ones only the status counter.
  void RecordRequest(absl::StatusCode code, const RequestTiming& timing) { counters_.Record(Index(code), timing); }

  // Deterministic sampling for shadow evaluation: the n-th call (n = 0, 1, ...)
  // is sampled iff floor((n+1)·f) > floor(n·f). Over any run of calls exactly
  // ⌊count·f⌋ are sampled, evenly spaced: f = 0.01 samples calls 99, 199, ...;
  // f = 1 samples every call; f = 0 none.
  bool SampleForShadow();
  // Called after a successful execution with the request's inputs and the
  // served model's outputs: if sampled, copies them to the shadow queue (or
  // counts a drop when it is full). Costs one atomic increment otherwise.
  void MaybeShadow(absl::Span<const core::TensorView> inputs, absl::Span<const core::MutableTensorView> outputs);
  // Shadow outcomes (the worker; tests).
  void RecordShadow(const ShadowResult& result);
  void RecordShadowDropped() { shadow_dropped_.Increment(); }

  // ---- Scrape ----
  // Appends this version's series to `families`, which MetricFamilies()
  // created (same order).
  void AppendTo(std::vector<prometheus::MetricFamily>& families) const;

  // Values for tests and the ModelStatistics cross-check.
  double requests(absl::StatusCode code) const { return static_cast<double>(counters_.requests(Index(code))); }
  double inflight() const { return static_cast<double>(counters_.inflight()); }

 private:
  static constexpr int kCodes = RequestCounters::kCodes;
  static int Index(absl::StatusCode code) {
    const int i = static_cast<int>(code);
    return i >= 0 && i < kCodes ? i : static_cast<int>(absl::StatusCode::kUnknown);
  }

  const ModelDescription description_;
  ShadowEvaluator* const shadow_;
  const bool shadowed_;  // int8 version with a reference: exports shadow series

  RequestCounters counters_;

  std::atomic<uint64_t> shadow_seen_{0};
  prometheus::Counter shadow_comparisons_;
  prometheus::Counter shadow_agreements_;
  prometheus::Counter shadow_dropped_;
  prometheus::Histogram shadow_relative_error_;
};

// The per-model families (name, help, type) with no series, in the order
// AppendTo() fills them.
std::vector<prometheus::MetricFamily> MetricFamilies();

// "ok" for OK, else the canonical gRPC code name ("INVALID_ARGUMENT").
std::string StatusLabel(absl::StatusCode code);

}  // namespace q8::server::metrics
