#include "server/metrics/metrics_registry.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"

namespace q8::server::metrics {

MetricsRegistry::MetricsRegistry(const MetricsOptions& options)
    : options_(options),
      registry_(std::make_shared<prometheus::Registry>()),
      models_(std::make_shared<ModelCollector>()),
      process_(std::make_shared<ProcessCollector>()),
      shadow_(std::make_unique<ShadowEvaluator>(options.shadow_queue_capacity)) {}

MetricsRegistry::~MetricsRegistry() {
  exposer_.reset();  // no scrape runs while the rest is destroyed
  shadow_.reset();   // the worker may still hold ModelMetrics
}

absl::Status ValidateMetricsOptions(const MetricsOptions& options) {
  if (!(options.shadow_fraction >= 0 && options.shadow_fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shadow_fraction must be in [0, 1], got ", options.shadow_fraction));
  }
  if (options.port < -1 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_port must be in [0, 65535], or -1 to disable metrics, got ", options.port));
  }
  const std::string& a = options.address;
  const bool bracketed = a.size() > 2 && a.front() == '[' && a.back() == ']';
  const std::string host = bracketed ? a.substr(1, a.size() - 2) : a;
  const bool bad_char = host.find_first_of(bracketed ? "[]/, \t" : ":[]/, \t") != std::string::npos;
  if (host.empty() || bad_char) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_address must be one host or IP without a port (the port is --metrics_port), "
                     "e.g. 127.0.0.1 or a pod IP; got '",
                     a.substr(0, 128), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MetricsRegistry>> MetricsRegistry::Create(const MetricsOptions& options) {
  Q8_RETURN_IF_ERROR(ValidateMetricsOptions(options));
  std::unique_ptr<MetricsRegistry> m(new MetricsRegistry(options));
  if (options.port < 0) return m;
  // prometheus-cpp reports a bind failure by throwing (civetweb's
  // CivetException): this is the one place q8serve catches exceptions.
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(absl::StrCat(options.address, ":", options.port));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot listen for metrics on ", options.address, " port ", options.port,
                                               " (--metrics_address, --metrics_port): ", e.what(),
                                               "; is another process using it?"));
  }
  for (const auto& c : m->Collectables()) m->exposer_->RegisterCollectable(c);
  const std::vector<int> ports = m->exposer_->GetListeningPorts();
  m->port_ = ports.empty() ? options.port : ports.front();
  return m;
}

std::vector<std::shared_ptr<prometheus::Collectable>> MetricsRegistry::Collectables() const {
  return {models_, process_, registry_};
}

std::shared_ptr<ModelMetrics> MetricsRegistry::Register(ModelDescription description) {
  auto key = std::make_pair(description.model, description.version);
  auto metrics = std::make_shared<ModelMetrics>(std::move(description), shadow_.get());
  std::shared_ptr<ModelMetrics> replaced;  // released outside the lock
  {
    std::lock_guard<std::mutex> lock(models_->mu);
    auto& slot = models_->models[key];
    replaced = std::exchange(slot, metrics);
  }
  return metrics;
}

void MetricsRegistry::Unregister(const std::shared_ptr<ModelMetrics>& metrics) {
  if (metrics == nullptr) return;
  std::shared_ptr<ModelMetrics> removed;
  std::lock_guard<std::mutex> lock(models_->mu);
  auto it = models_->models.find({metrics->description().model, metrics->description().version});
  if (it == models_->models.end() || it->second != metrics) return;
  removed = std::move(it->second);
  models_->models.erase(it);
}

size_t MetricsRegistry::registered() const {
  std::lock_guard<std::mutex> lock(models_->mu);
  return models_->models.size();
}

std::vector<prometheus::MetricFamily> MetricsRegistry::ModelCollector::Collect() const {
  std::vector<std::shared_ptr<ModelMetrics>> snapshot;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [key, m] : models) snapshot.push_back(m);
  }
  std::vector<prometheus::MetricFamily> families = MetricFamilies();
  for (const auto& m : snapshot) m->AppendTo(families);
  // A family without series would be a bare HELP/TYPE: leave it out.
  std::erase_if(families, [](const prometheus::MetricFamily& f) { return f.metric.empty(); });
  return families;
}

std::string MetricsRegistry::Scrape() const {
  std::vector<prometheus::MetricFamily> all;
  for (const auto& c : Collectables()) {
    auto families = c->Collect();
    all.insert(all.end(), std::make_move_iterator(families.begin()), std::make_move_iterator(families.end()));
  }
  return prometheus::TextSerializer().Serialize(all);
}

}  // namespace q8::server::metrics
