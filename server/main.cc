// q8serve entry point: the only place that reads flags (-> ServerOptions) and
// handles signals. SIGTERM/SIGINT are blocked before any thread starts and
// consumed by one sigwait thread, which drains and shuts the server down
// (never from a signal handler: grpc's Shutdown takes locks).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/logging.h"
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
ABSL_FLAG(int32_t, metrics_port, 8002,
          "Prometheus metrics port (path /metrics, all interfaces); 0 picks a free port, -1 disables metrics");
ABSL_FLAG(double, shadow_fraction, 0.01,
          "share of successful requests of int8 models also run in fp32 to measure live accuracy, in [0, 1] "
          "(config.json \"shadow_fraction\" overrides it per model)");
ABSL_FLAG(bool, verbose, false, "log debug lines (e.g. every failed inference)");

namespace {

q8::server::ServerOptions OptionsFromFlags() {
  q8::server::ServerOptions o;
  o.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  o.model_repository = absl::GetFlag(FLAGS_model_repository);
  o.max_upload_bytes = absl::GetFlag(FLAGS_max_upload_bytes);
  o.drain_seconds = absl::GetFlag(FLAGS_drain_seconds);
  o.shutdown_grace_seconds = absl::GetFlag(FLAGS_shutdown_grace_seconds);
  o.enable_reflection = absl::GetFlag(FLAGS_enable_reflection);
  o.default_max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  o.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  o.shadow_fraction = absl::GetFlag(FLAGS_shadow_fraction);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("q8serve --model_repository=DIR [--grpc_address=0.0.0.0:8001] [flags]");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_verbose)) q8::core::SetMinLogLevel(q8::core::LogLevel::kDebug);
  const q8::server::ServerOptions options = OptionsFromFlags();
  if (options.model_repository.empty()) {
    std::fprintf(stderr, "q8serve: --model_repository is required\n");
    return 2;
  }

  // Before any thread exists, so every thread inherits the blocked mask and
  // only the sigwait thread below ever sees SIGTERM/SIGINT.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = q8::server::Server::Create(options, q8::server::RealEngine());
  if (!server.ok()) {
    Q8_LOG(Error, "q8serve: ", server.status().ToString());
    return 1;
  }
  q8::server::Server* s = server->get();

  std::thread signal_thread([s, signals, &options] {
    int signo = 0;
    sigwait(&signals, &signo);
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
