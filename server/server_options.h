// ServerOptions: every knob of the server as a plain struct. main.cc turns
// the command-line flags into one of these; tests build it directly. Nothing
// below main.cc reads a flag.
#pragma once

#include <cstdint>
#include <string>

#include "server/execution/execution_config.h"
#include "server/resource_limits.h"
#include "server/security/security_options.h"

namespace q8::server {

struct ServerOptions {
  // host:port to listen on ("127.0.0.1:0" picks a free port; see Server::port()).
  std::string grpc_address = "0.0.0.0:8001";
  // Root of the model repository: DIR/<model>/config.json, DIR/<model>/<version>/model.onnx.
  std::string model_repository;
  // Largest accepted RepositoryModelLoad payload (config + all files), in bytes.
  int64_t max_upload_bytes = int64_t{1} << 30;
  // After SIGTERM: seconds to keep serving with health NOT_SERVING, then
  // seconds in-flight calls get before they are cancelled.
  double drain_seconds = 0;
  double shutdown_grace_seconds = 20;
  bool enable_reflection = true;
  // max_batch_size for models whose config.json does not set one.
  int64_t default_max_batch_size = 64;
  // Execution streams of models whose config.json has no "execution"
  // section, over `cpus` CPUs (0: the affinity mask / container CPU limit).
  ExecutionPreset execution_preset = ExecutionPreset::kAuto;
  int cpus = 0;
  // Threads (each with its own gRPC completion queue) that receive ModelInfer
  // calls, run small models inline and send responses; 0 = one
  // (server/infer_queues.h; BENCHMARKS.md, "ModelInfer on completion queues").
  int infer_threads = 0;
  // Replicas sharing one repository: every this many seconds, adopt what
  // others wrote (new/changed quantized versions, unloads, deletions).
  // 0 = off. See server/repository_poller.h.
  double repository_poll_seconds = 0;
  // GRPC_ARG_MAX_CONNECTION_AGE_MS / _GRACE_MS: clients reconnect after this
  // long (so new replicas behind a Kubernetes Service get load); in-flight
  // calls then get the grace period. 0 = unlimited (gRPC's default).
  double max_connection_age_seconds = 0;
  double max_connection_age_grace_seconds = 30;
  // Prometheus endpoint (http://host:port/metrics) on all interfaces; 0 picks
  // a free port (logged), -1 disables metrics and shadow evaluation.
  int metrics_port = 8002;
  // Interface (IP or host name, no port) the metrics endpoint binds:
  // "0.0.0.0" all IPv4 interfaces, "127.0.0.1" loopback only, a pod IP.
  std::string metrics_address = "0.0.0.0";
  // Share of successful requests of int8 versions also run through the fp32
  // reference (shadow evaluation), in [0, 1]; config.json may override it.
  double shadow_fraction = 0.01;
  // Request size, concurrent loads, queue depth, threads per model, model
  // memory: see server/resource_limits.h.
  ResourceLimits limits;
  // TLS, mutual TLS and bearer tokens (server/security/).
  security::SecurityOptions security;
};

}  // namespace q8::server
