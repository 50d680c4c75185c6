#include "server/server.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "engine/export/qdq_exporter.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "server/execution/cpu_budget.h"
#include "server/security/credentials.h"

namespace q8::server {

int ReceiveLimitFor(int64_t max_upload_bytes) {
  constexpr int64_t kFraming = int64_t{1} << 20;
  constexpr int64_t kMinimum = int64_t{64} << 20;
  return static_cast<int>(std::clamp<int64_t>(max_upload_bytes + kFraming, kMinimum, INT_MAX));
}

// Seconds -> a channel argument in milliseconds (saturating).
namespace {
int MillisArg(double seconds) {
  return static_cast<int>(std::clamp(seconds * 1000.0, 0.0, static_cast<double>(INT_MAX)));
}
}  // namespace

Server::Server(const ServerOptions& options, EngineFns engine, std::unique_ptr<metrics::MetricsRegistry> metrics,
               std::unique_ptr<security::RpcGuard> guard)
    : options_(options),
      repository_(options.model_repository),
      metrics_(std::move(metrics)),
      registry_(metrics_.get()),
      guard_(std::move(guard)) {
  health_ = std::make_unique<HealthService>();
  LoaderOptions loader_options;
  loader_options.engine = std::move(engine);
  loader_options.default_config.max_batch_size = options.default_max_batch_size;
  loader_options.default_preset = options.execution_preset;
  loader_options.cpus = options.cpus > 0 ? options.cpus : ReadCpuBudget().cpus;
  loader_options.limits = options.limits;
  loader_options.memory_budget = ResolveMemoryBudget(options.limits.max_model_memory_bytes);
  loader_options.max_calibration_bytes = options.max_upload_bytes;
  loader_options.on_ready_changed = [this](const std::string& name, bool ready) {
    if (health_ != nullptr) health_->SetModelReady(name, ready);
  };
  loader_ = std::make_unique<ModelLoader>(std::move(loader_options), &repository_, &registry_);
  service_ = std::make_unique<InferenceService>(&registry_, loader_.get(), &state_, options.max_upload_bytes,
                                                options.limits.max_request_bytes, guard_.get());
  model_service_ = std::make_unique<ModelService>(
      &registry_, loader_.get(), &repository_, &state_, options.max_upload_bytes,
      [](absl::string_view onnx, absl::string_view artifact) { return engine::ExportQdqOnnx(onnx, artifact); },
      guard_.get());
}

Server::~Server() {
  if (poller_ != nullptr) poller_->Stop();
  if (grpc_server_ != nullptr) {
    grpc_server_->Shutdown(std::chrono::system_clock::now());
    grpc_server_->Wait();
  }
  // After gRPC's shutdown (which cancels and ends every call), before the
  // server and the service they point into go away.
  if (infer_queues_ != nullptr) infer_queues_->Shutdown();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options, EngineFns engine) {
  if (options.max_upload_bytes < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_upload_bytes must be >= 1, got ", options.max_upload_bytes));
  }
  if (options.default_max_batch_size < 1 || options.default_max_batch_size > kMaxConfigBatchSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_size must be in [1, ", kMaxConfigBatchSize, "], got ", options.default_max_batch_size));
  }
  Q8_RETURN_IF_ERROR(ValidateResourceLimits(options.limits));
  core::SetMaxTensorBytes(options.limits.max_tensor_bytes);
  if (options.cpus < 0) return absl::InvalidArgumentError(absl::StrCat("cpus must be >= 0, got ", options.cpus));
  if (options.infer_threads < 0 || options.infer_threads > 256) {
    return absl::InvalidArgumentError(absl::StrCat("infer_threads must be in [0, 256], got ", options.infer_threads));
  }
  if (!(options.repository_poll_seconds >= 0) || !(options.max_connection_age_seconds >= 0) ||
      !(options.max_connection_age_grace_seconds >= 0)) {
    return absl::InvalidArgumentError(
        "repository_poll_seconds, max_connection_age_seconds and max_connection_age_grace_seconds must be >= 0");
  }
  // Security first: a bad certificate or token file fails before anything binds.
  Q8_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                      security::ServerCredentialsFor(options.security.tls));
  Q8_ASSIGN_OR_RETURN(std::unique_ptr<security::RpcGuard> guard, security::RpcGuard::Create(options.security));
  metrics::MetricsOptions metrics_options;
  metrics_options.port = options.metrics_port;
  metrics_options.address = options.metrics_address;
  metrics_options.shadow_fraction = options.shadow_fraction;
  Q8_RETURN_IF_ERROR(metrics::ValidateMetricsOptions(metrics_options));
  std::unique_ptr<metrics::MetricsRegistry> metrics;
  if (options.metrics_port >= 0) {
    Q8_ASSIGN_OR_RETURN(metrics, metrics::MetricsRegistry::Create(metrics_options));
    Q8_LOG(Info, "metrics listening on ", options.metrics_address, ":", metrics->port(), " (port ", metrics->port(),
           "), path /metrics");
  }
  std::unique_ptr<Server> server(new Server(options, std::move(engine), std::move(metrics), std::move(guard)));
  Q8_RETURN_IF_ERROR(server->repository_.Init());

  if (options.enable_reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->model_service_.get());
  builder.RegisterService(server->health_.get());
  builder.SetMaxReceiveMessageSize(
      ReceiveLimitFor(std::max(options.max_upload_bytes, options.limits.max_request_bytes)));
  builder.SetMaxSendMessageSize(INT_MAX);
  // gRPC sets SO_REUSEPORT by default: a second server on the same port would
  // start and silently take half the connections. A port in use is an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (options.max_connection_age_seconds > 0) {
    // Clients get GOAWAY after this age and reconnect, possibly to another
    // replica: without it a Kubernetes Service pins every RPC of a client
    // to the pod its one HTTP/2 connection went to.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, MillisArg(options.max_connection_age_seconds));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               MillisArg(options.max_connection_age_grace_seconds));
  }
  server->infer_queues_ = std::make_unique<InferQueues>(server->service_.get(), server->service_->infer_pool(),
                                                        &builder, std::max(1, options.infer_threads));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    server->grpc_server_.reset();
    server->infer_queues_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.grpc_address));
  }
  server->infer_queues_->Start();
  Q8_LOG(Info, "q8serve listening on ", options.grpc_address, " (port ", server->port_, "), repository ",
         options.model_repository, options.security.tls.enabled() ? ", TLS" : ", plaintext",
         options.security.tls.client_ca_file.empty() ? "" : " (client certificates required)",
         server->guard_->admin_required() ? ", admin token required" : "",
         server->guard_->inference_required() ? ", inference token required" : "");
  if (!options.security.tls.enabled() && (server->guard_->admin_required() || server->guard_->inference_required())) {
    Q8_LOG(Warning, "tokens are checked but travel in clear text without TLS (--tls_cert_file/--tls_key_file)");
  }
  const int64_t budget = server->loader_->memory_budget();
  Q8_LOG(Info, "limits: --max_request_bytes=", options.limits.max_request_bytes,
         " --max_tensor_bytes=", options.limits.max_tensor_bytes,
         " --max_concurrent_loads=", options.limits.max_concurrent_loads,
         " --max_queue_size=", options.limits.max_queue_size,
         " --max_threads_per_cpu=", options.limits.max_threads_per_cpu,
         " --max_model_memory_bytes=", budget > 0 ? std::to_string(budget) : std::string("0 (no limit)"));
  return server;
}

absl::Status Server::LoadRepository() {
  // Taken before loading: whatever changes during the startup loads is
  // picked up by the first poll.
  RepositorySnapshot baseline;
  if (options_.repository_poll_seconds > 0) {
    Q8_ASSIGN_OR_RETURN(baseline, SnapshotRepository(repository_.root()));
  }
  Q8_RETURN_IF_ERROR(loader_->LoadAll());
  if (state_.FinishStartup()) {
    health_->SetServerReady(true);
    Q8_LOG(Info, "q8serve ready");
    if (options_.repository_poll_seconds > 0) {
      poller_ = std::make_unique<RepositoryPoller>(repository_.root(), absl::Seconds(options_.repository_poll_seconds),
                                                   [this](const std::string& name, bool config_changed) {
                                                     return loader_->SyncFromRepository(name, config_changed);
                                                   });
      poller_->Start(std::move(baseline));
    }
  }
  return absl::OkStatus();
}

void Server::Drain() {
  Q8_LOG(Info, "draining: health NOT_SERVING, repository changes refused");
  state_.SetPhase(ServingPhase::kDraining);
  health_->Shutdown();
  if (poller_ != nullptr) poller_->Stop();
}

void Server::Shutdown(absl::Duration grace) {
  Q8_LOG(Info, "shutting down: in-flight calls have ", absl::FormatDuration(grace));
  // grpc's Shutdown(deadline) also waits for idle client connections to go
  // away, which clients may not do until the deadline. So refuse new calls,
  // wait for the running ones ourselves, then stop grpc with what is left.
  const absl::Time deadline = absl::Now() + grace;
  state_.SetPhase(ServingPhase::kStopping);
  const bool idle = state_.WaitIdle(grace);
  Q8_LOG(Info, idle ? "no calls in flight; stopping" : "grace period over; cancelling remaining calls");
  grpc_server_->Shutdown(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Milliseconds(100))));
  infer_queues_->Shutdown();
}

void Server::Wait() { grpc_server_->Wait(); }

}  // namespace q8::server
