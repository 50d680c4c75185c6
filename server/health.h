// HealthService: q8serve's grpc.health.v1.Health (Check and Watch).
//   ""            server ready: NOT_SERVING until the startup loads finish,
//                 SERVING afterwards, NOT_SERVING again once draining starts.
//   "<model>"     SERVING while the model has a READY version, NOT_SERVING
//                 after unload or a failed load; unknown names: Check answers
//                 NOT_FOUND, Watch streams SERVICE_UNKNOWN until one appears.
// Mirrors OIP ServerReady / ModelReady; both read the same state.
//
// Why not grpc++'s built-in service: it is written on the callback API, and
// a server with any callback method runs gRPC's two "nexting" threads, which
// then poll every connection, ModelInfer's included, and hand each event to
// the thread that serves it: ~2 extra context switches per request and ~30 %
// of a small model's served latency (BENCHMARKS.md, "ModelInfer on
// completion queues"). This one is synchronous, like the other light RPCs.
//
// Bounded: at most kMaxWatches Watch streams at once (each holds a thread of
// gRPC's sync pool); more get RESOURCE_EXHAUSTED. A watcher notices its
// client left within kWatchPoll.
//
// Thread-safe; after Shutdown() every name is NOT_SERVING and later changes
// are ignored (the built-in service's semantics).
#pragma once

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace q8::server {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  static constexpr int kMaxWatches = 64;
  static constexpr absl::Duration kWatchPoll = absl::Milliseconds(200);

  HealthService();

  void SetServerReady(bool ready) { Set("", ready); }
  void SetModelReady(const std::string& model, bool ready) { Set(model, ready); }
  // Drain: everything NOT_SERVING, permanently.
  void Shutdown();

  grpc::Status Check(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  void Set(const std::string& name, bool serving);
  ServingStatus StatusOf(const std::string& name) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by every change; watchers wait on it
  int watches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace q8::server
