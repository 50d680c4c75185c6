// Server: owns and wires everything one q8serve process runs — repository,
// registry, loader, OIP service, health — and the grpc::Server itself
// (reflection, message size limits). main.cc adds flags and signals; the
// integration tests drive the real binary.
//
// Lifecycle: Create() (listening; health "" NOT_SERVING, RPCs that need
// models answer UNAVAILABLE) -> LoadRepository() (startup loads, then ready)
// -> [Drain() -> Shutdown(grace)] -> Wait() returns.
// Drain/Shutdown may be called from any thread, but never from a signal handler.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/health.h"
#include "server/infer_queues.h"
#include "server/inference_service.h"
#include "server/metrics/metrics_registry.h"
#include "server/model_loader.h"
#include "server/model_registry.h"
#include "server/model_repository.h"
#include "server/model_service.h"
#include "server/repository_poller.h"
#include "server/security/rpc_guard.h"
#include "server/server_options.h"
#include "server/serving_state.h"

namespace q8::server {

class Server {
 public:
  // `engine`: RealEngine() in production, fakes in tests.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options, EngineFns engine);
  ~Server();

  // Port actually bound (useful with ":0").
  int port() const { return port_; }
  // Loads every model found in the repository, then reports ready (and
  // starts polling the repository, if configured).
  // Metrics port actually bound; 0 when metrics are disabled.
  int metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }
  // Null when metrics are disabled (--metrics_port=-1).
  metrics::MetricsRegistry* metrics() { return metrics_.get(); }
  // Loads every model found in the repository, then reports ready.
  absl::Status LoadRepository();
  // Health NOT_SERVING everywhere, refuse repository changes, stop polling;
  // keeps serving inference.
  void Drain();
  // Stops accepting calls; in-flight calls get until now + grace, then are cancelled.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown() completes.
  void Wait();
  // SIGHUP: re-reads the token files now (a failed read keeps the old tokens).
  void ReloadTokens() { guard_->ReloadTokens(); }

 private:
  Server(const ServerOptions& options, EngineFns engine, std::unique_ptr<metrics::MetricsRegistry> metrics,
         std::unique_ptr<security::RpcGuard> guard);

  ServerOptions options_;
  ModelRepository repository_;
  std::unique_ptr<metrics::MetricsRegistry> metrics_;  // before registry_, which reports to it
  ModelRegistry registry_;
  ServingState state_;
  std::unique_ptr<security::RpcGuard> guard_;  // before the services, which check it
  // grpc.health.v1; before the loader, which reports model readiness to it.
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<ModelLoader> loader_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<ModelService> model_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  // ModelInfer's completion queues and threads; shut down after grpc_server_.
  std::unique_ptr<InferQueues> infer_queues_;
  int port_ = 0;
  // With --repository_poll_seconds; last, so it stops before what it uses goes away.
  std::unique_ptr<RepositoryPoller> poller_;
};

// gRPC receive limit for a given upload limit: room for the upload plus the
// protobuf framing, at least 64 MiB for inference, at most INT32_MAX.
int ReceiveLimitFor(int64_t max_upload_bytes);

}  // namespace q8::server
