// q8serve entry point: the only place that reads flags (-> ServerOptions) and
// handles signals. SIGTERM/SIGINT are blocked before any thread starts and
// consumed by one sigwait thread, which drains and shuts the server down
// (never from a signal handler: grpc's Shutdown takes locks). SIGHUP, consumed
// by the same thread, re-reads the token files.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/logging.h"
#include "server/execution/cpu_budget.h"
#include "server/health_probe.h"
#include "server/omp_wait_policy.h"
#include "server/server.h"
#include "server/server_options.h"

ABSL_FLAG(std::string, grpc_address, "0.0.0.0:8001", "host:port for the gRPC API (OIP + health + reflection)");
ABSL_FLAG(std::string, model_repository, "",
          "model repository directory: DIR/<model>/config.json, DIR/<model>/<version>/model.onnx (required)");
ABSL_FLAG(int64_t, max_upload_bytes, int64_t{1} << 30,
          "largest upload in bytes (config + model + calibration files, RepositoryModelLoad or "
          "ModelService.Upload); larger uploads get RESOURCE_EXHAUSTED");
ABSL_FLAG(double, drain_seconds, 0, "on SIGTERM: seconds to keep serving with health NOT_SERVING");
ABSL_FLAG(double, shutdown_grace_seconds, 20, "on SIGTERM, after draining: seconds in-flight calls may take");
ABSL_FLAG(bool, enable_reflection, true, "serve grpc.reflection.v1alpha");
ABSL_FLAG(int64_t, max_batch_size, 64, "max_batch_size for models whose config.json does not set one");
ABSL_FLAG(std::string, execution_preset, "auto",
          "execution streams of models whose config.json sets none: auto (from the model's measured run time: "
          "one single-threaded stream per CPU for small models, fewer streams with more threads for large ones), "
          "latency (one stream using every CPU) or throughput (one single-threaded stream per CPU)");
ABSL_FLAG(int, cpus, 0,
          "CPUs the presets divide among streams; 0 = detect (CPU affinity, capped by the container's CPU limit)");
ABSL_FLAG(int, infer_threads, 0,
          "threads that receive ModelInfer calls, run small models inline and send responses; 0 = one");
ABSL_FLAG(int32_t, metrics_port, 8002,
          "Prometheus metrics port (path /metrics, all interfaces); 0 picks a free port, -1 disables metrics");
ABSL_FLAG(double, shadow_fraction, 0.01,
          "share of successful requests of int8 models also run in fp32 to measure live accuracy, in [0, 1] "
          "(config.json \"shadow_fraction\" overrides it per model)");
ABSL_FLAG(bool, verbose, false, "log debug lines (e.g. every failed inference)");
ABSL_FLAG(double, repository_poll_seconds, 0,
          "replicas sharing one repository: every N seconds load what other replicas uploaded, drop what they "
          "unloaded (0 = off)");
ABSL_FLAG(double, max_connection_age_seconds, 0,
          "close client connections after this many seconds so they reconnect and spread over replicas "
          "(GRPC_ARG_MAX_CONNECTION_AGE_MS; 0 = never)");
ABSL_FLAG(double, max_connection_age_grace_seconds, 30,
          "after --max_connection_age_seconds: time in-flight calls get before the connection is closed");
// Resource limits (server/resource_limits.h; server/README.md "Resource limits").
ABSL_FLAG(int64_t, max_request_bytes, int64_t{64} << 20,
          "largest ModelInfer request in bytes (separate from --max_upload_bytes); larger: RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_tensor_bytes, int64_t{1} << 30,
          "largest single tensor in bytes (model initializers and activations, request tensors, calibration "
          "arrays); larger: INVALID_ARGUMENT before anything is allocated");
ABSL_FLAG(int32_t, max_concurrent_loads, 2,
          "uploads/quantizations (RepositoryModelLoad, ModelService.Upload) at once; more: RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_queue_size, 512,
          "requests a model version may queue for its streams (config.json execution.max_queue_size overrides); "
          "more: RESOURCE_EXHAUSTED");
ABSL_FLAG(int32_t, max_threads_per_cpu, 4,
          "a model version's streams x threads_per_stream is clamped to this many threads per CPU");
ABSL_FLAG(int64_t, max_model_memory_bytes, -1,
          "total measured memory of loaded models; a load beyond it is refused (RESOURCE_EXHAUSTED). "
          "-1 = 3/4 of physical memory or the cgroup memory limit, 0 = no limit");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0",
          "interface the metrics endpoint binds (IP or host, no port; the port is --metrics_port): 127.0.0.1 keeps it "
          "on loopback, a pod IP on the pod network");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate chain: serve gRPC over TLS (needs --tls_key_file)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file (unencrypted)");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificate(s): mutual TLS, every client must present a certificate signed by one of them");
ABSL_FLAG(std::string, admin_token_file, "",
          "file of bearer tokens (one per line) required by the model management RPCs (load, unload, upload, export, "
          "repository index); re-read on change and on SIGHUP");
ABSL_FLAG(std::string, infer_token_file, "",
          "file of bearer tokens required by the inference RPCs (infer, metadata, statistics, readiness of models, "
          "reports); re-read on change and on SIGHUP");
ABSL_FLAG(double, token_check_seconds, 1,
          "how often (at most) the token files are checked for changes; 0 = only on SIGHUP");
ABSL_FLAG(std::string, health_probe_ca_file, "",
          "--health_probe against a TLS server: CA that signed its certificate (default: --tls_cert_file itself, right "
          "for a self-signed certificate)");
ABSL_FLAG(bool, health_probe, false,
          "do not serve: check grpc.health.v1 \"\" of the server at --grpc_address (wildcard host -> loopback) "
          "and exit 0 if SERVING, else 1 (Docker HEALTHCHECK); with --tls_cert_file it speaks TLS (see "
          "--health_probe_ca_file), under mutual TLS it presents --tls_cert_file/--tls_key_file");

namespace {

absl::StatusOr<q8::server::ServerOptions> OptionsFromFlags() {
  q8::server::ServerOptions o;
  o.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  o.model_repository = absl::GetFlag(FLAGS_model_repository);
  o.max_upload_bytes = absl::GetFlag(FLAGS_max_upload_bytes);
  o.drain_seconds = absl::GetFlag(FLAGS_drain_seconds);
  o.shutdown_grace_seconds = absl::GetFlag(FLAGS_shutdown_grace_seconds);
  o.enable_reflection = absl::GetFlag(FLAGS_enable_reflection);
  o.default_max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  auto preset = q8::server::ParseExecutionPreset(absl::GetFlag(FLAGS_execution_preset));
  if (!preset.ok()) return preset.status();
  o.execution_preset = *preset;
  o.cpus = absl::GetFlag(FLAGS_cpus);
  o.infer_threads = absl::GetFlag(FLAGS_infer_threads);
  o.repository_poll_seconds = absl::GetFlag(FLAGS_repository_poll_seconds);
  o.max_connection_age_seconds = absl::GetFlag(FLAGS_max_connection_age_seconds);
  o.max_connection_age_grace_seconds = absl::GetFlag(FLAGS_max_connection_age_grace_seconds);
  o.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  o.shadow_fraction = absl::GetFlag(FLAGS_shadow_fraction);
  o.limits.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  o.limits.max_concurrent_loads = absl::GetFlag(FLAGS_max_concurrent_loads);
  o.limits.max_queue_size = absl::GetFlag(FLAGS_max_queue_size);
  o.limits.max_threads_per_cpu = absl::GetFlag(FLAGS_max_threads_per_cpu);
  o.limits.max_model_memory_bytes = absl::GetFlag(FLAGS_max_model_memory_bytes);
  o.limits.max_tensor_bytes = absl::GetFlag(FLAGS_max_tensor_bytes);
  o.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  o.security.tls = {absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
                    absl::GetFlag(FLAGS_tls_client_ca_file)};
  o.security.admin_token_file = absl::GetFlag(FLAGS_admin_token_file);
  o.security.infer_token_file = absl::GetFlag(FLAGS_infer_token_file);
  o.security.token_check_seconds = absl::GetFlag(FLAGS_token_check_seconds);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  q8::server::ApplyOmpWaitPolicy(argv);  // may re-execute this binary: before anything else
  absl::SetProgramUsageMessage("q8serve --model_repository=DIR [--grpc_address=0.0.0.0:8001] [flags]");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_verbose)) q8::core::SetMinLogLevel(q8::core::LogLevel::kDebug);
  const absl::StatusOr<q8::server::ServerOptions> parsed = OptionsFromFlags();
  if (!parsed.ok()) {
    std::fprintf(stderr, "q8serve: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  const q8::server::ServerOptions& options = *parsed;
  if (absl::GetFlag(FLAGS_health_probe)) {
    const std::string target = q8::server::ProbeTarget(options.grpc_address);
    auto channel =
        q8::server::security::ProbeChannelFor(options.security.tls, absl::GetFlag(FLAGS_health_probe_ca_file));
    const absl::Status health =
        channel.ok() ? q8::server::ProbeHealth(target, "", absl::Seconds(2), *channel) : channel.status();
    std::fprintf(stderr, "q8serve --health_probe: %s\n",
                 health.ok() ? ("SERVING at " + target).c_str() : health.ToString().c_str());
    return health.ok() ? 0 : 1;
  }
  if (options.model_repository.empty()) {
    std::fprintf(stderr, "q8serve: --model_repository is required\n");
    return 2;
  }

  // Debian's Abseil is built with lock-order (deadlock) detection on, which
  // records a graph edge and a stack trace per mutex acquisition: ~3 % of the
  // server's CPU under load, in gRPC's locks and ours (perf, BENCHMARKS.md).
  // The tests keep it on; the server does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // glibc gives threads that allocate concurrently their own malloc arenas
  // (up to 8 per core); with gRPC's threads and the execution streams, freed
  // memory stays spread over them and RSS creeps up under load and model
  // churn (soak: +146 MiB in 10 minutes with the default, flat with 2 arenas;
  // BENCHMARKS.md). Bound them to the CPU budget unless the operator set
  // MALLOC_ARENA_MAX.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, std::max(2, options.cpus > 0 ? options.cpus : q8::server::ReadCpuBudget().cpus));
  }

  // Before any thread exists, so every thread inherits the blocked mask and
  // only the sigwait thread below ever sees SIGTERM/SIGINT.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = q8::server::Server::Create(options, q8::server::RealEngine());
  if (!server.ok()) {
    Q8_LOG(Error, "q8serve: ", server.status().ToString());
    return 1;
  }
  q8::server::Server* s = server->get();

  std::thread signal_thread([s, signals, &options] {
    int signo = 0;
    while (sigwait(&signals, &signo) == 0 && signo == SIGHUP) {
      Q8_LOG(Info, "SIGHUP: re-reading the token files");
      s->ReloadTokens();
    }
    Q8_LOG(Info, "received signal ", signo);
    s->Drain();
    if (options.drain_seconds > 0) absl::SleepFor(absl::Seconds(options.drain_seconds));
    s->Shutdown(absl::Seconds(options.shutdown_grace_seconds));
  });

  absl::Status loaded = s->LoadRepository();
  if (!loaded.ok()) {
    // Repository unreadable: not recoverable by retrying requests.
    Q8_LOG(Error, "q8serve: cannot load the model repository: ", loaded.ToString());
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
    s->Wait();
    return 1;
  }
  s->Wait();
  signal_thread.join();
  Q8_LOG(Info, "q8serve stopped");
  return 0;
}
