// MetricsRegistry: q8serve's Prometheus endpoint. Owns the HTTP exposer
// (prometheus-cpp, civetweb) on the metrics port, path /metrics, and what it
// exports:
//   - the per-version ModelMetrics registered by the model registry
//     (model_metrics.h), collected at scrape time;
//   - the process_* collector (process_collector.h);
//   - a prometheus::Registry for server-wide families of other components;
//   - the shadow evaluator shared by all versions (shadow_evaluator.h).
// The exposer adds its own exposer_* families (exposer_request_latencies is a
// summary in microseconds: do not alert on it as seconds).
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/registry.h"
#include "server/metrics/model_metrics.h"
#include "server/metrics/process_collector.h"
#include "server/metrics/shadow_evaluator.h"

namespace prometheus {
class Exposer;
}

namespace q8::server::metrics {

struct MetricsOptions {
  // TCP port on all interfaces; 0 picks a free one (see port()); -1: no
  // HTTP endpoint (the registry still collects, e.g. for tests).
  int port = 8002;
  // Interface the endpoint binds (--metrics_address): an IPv4 address or a
  // host name; never a port (that is `port`). "0.0.0.0": every IPv4
  // interface. A bracketed IPv6 address passes validation but Debian 12's
  // civetweb is built without IPv6, so binding it fails (UNAVAILABLE).
  std::string address = "0.0.0.0";
  // Default share of successful requests of int8 versions re-run in fp32,
  // in [0, 1]; a model's config.json may override it.
  double shadow_fraction = 0.01;
  size_t shadow_queue_capacity = 64;
};

// INVALID_ARGUMENT naming the flag unless shadow_fraction is in [0, 1] and
// port in [-1, 65535] and address a bare host (no port, list or spaces).
// Create() checks it; the server checks it even when metrics are off (-1), so a
// bad --shadow_fraction never starts silently.
absl::Status ValidateMetricsOptions(const MetricsOptions& options);

class MetricsRegistry {
 public:
  // INVALID_ARGUMENT for a shadow fraction outside [0, 1] or a port above
  // 65535; UNAVAILABLE naming the port when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsRegistry>> Create(const MetricsOptions& options);
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Port the endpoint listens on (0 without one).
  int port() const { return port_; }
  double default_shadow_fraction() const { return options_.shadow_fraction; }

  // Exports a version from now on, replacing any version registered with the
  // same {model, version}. The returned object is what requests update.
  std::shared_ptr<ModelMetrics> Register(ModelDescription description);
  // Stops exporting `metrics` (no-op if it is not the registered object of
  // its {model, version}, e.g. already replaced).
  void Unregister(const std::shared_ptr<ModelMetrics>& metrics);
  size_t registered() const;

  ShadowEvaluator& shadow() { return *shadow_; }
  // For server-wide families of other components (e.g. a batcher).
  prometheus::Registry& registry() { return *registry_; }

  // Everything the endpoint serves, in the text exposition format.
  std::string Scrape() const;

 private:
  // The per-version families, collected from the registered versions.
  class ModelCollector : public prometheus::Collectable {
   public:
    std::vector<prometheus::MetricFamily> Collect() const override;
    mutable std::mutex mu;
    std::map<std::pair<std::string, int64_t>, std::shared_ptr<ModelMetrics>> models;
  };

  explicit MetricsRegistry(const MetricsOptions& options);
  std::vector<std::shared_ptr<prometheus::Collectable>> Collectables() const;

  const MetricsOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ModelCollector> models_;
  std::shared_ptr<ProcessCollector> process_;
  std::unique_ptr<ShadowEvaluator> shadow_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace q8::server::metrics
