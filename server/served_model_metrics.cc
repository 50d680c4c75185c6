#include "server/served_model_metrics.h"

namespace q8::server {

metrics::ModelDescription DescribeForMetrics(const std::string& name, int64_t version, const ServedModel& served,
                                             double default_shadow_fraction) {
  metrics::ModelDescription d;
  d.model = name;
  d.version = version;
  d.served = served.model;
  d.load_seconds = served.load_seconds;
  if (served.model != nullptr) d.isa = served.model->report().isa;
  // Weak: the metrics never keep a version's streams alive.
  d.queue_depth = [executor = std::weak_ptr<ModelExecutor>(served.executor)]() -> int64_t {
    const std::shared_ptr<ModelExecutor> e = executor.lock();
    return e != nullptr ? e->queue_depth() : 0;
  };
  // Captures keep only what the state needs (never the models).
  d.serving_state = [live = served.live, label = ServingStatusLabel(served)] {
    return live != nullptr ? live->StateLabel() : label;
  };
  if (served.live != nullptr) {
    d.live_samples = [live = std::weak_ptr<LiveSampler>(served.live)]() -> std::pair<int64_t, int64_t> {
      auto l = live.lock();
      return l != nullptr ? std::pair<int64_t, int64_t>{l->collected(), l->target()}
                          : std::pair<int64_t, int64_t>{0, 0};
    };
  } else if (served.quantization != nullptr && served.quantization->live_samples > 0) {
    d.live_samples = [n = served.quantization->live_samples] { return std::pair<int64_t, int64_t>{n, n}; };
  }
  const QuantizationInfo* q = served.quantization.get();
  if (q == nullptr) {
    // Quantization mode "none": the served model is the fp32 model.
    d.precision = "fp32";
    d.quantization_mode = "none";
    if (served.model != nullptr) d.weight_bytes_fp32 = served.model->memory().weights;
    return d;
  }
  const engine::QuantizationReport& r = q->report;
  d.precision = q->precision;
  d.precision_layers = r.precision_layers;
  d.quantization_mode = r.mode;
  if (!r.isa.empty()) d.isa = r.isa;
  if (served.fp32_model != served.model) d.reference = served.fp32_model;
  d.weight_bytes_fp32 = r.weight_bytes_fp32;
  if (q->precision != "fp32") d.weight_bytes_int8 = r.weight_bytes_int8;
  d.quantization_seconds = r.quantization_seconds;
  if (r.eval_samples > 0) {  // dynamic quantization without data checks nothing
    if (r.has_labels) {
      d.accuracy.push_back({"fp32", "top1", r.fp32_top1});
      d.accuracy.push_back({"int8", "top1", r.int8_top1});
    }
    d.accuracy.push_back({"int8", "agreement", r.agreement});
    d.output_sqnr_db = r.output_sqnr_db;
    d.target_met = r.target_met;
  }
  if (q->precision != "fp32" && served.fp32_model != nullptr && served.fp32_model != served.model) {
    d.shadow_fraction = served.shadow_fraction.value_or(default_shadow_fraction);
  }
  return d;
}

}  // namespace q8::server
