// Health: what grpc.health.v1.Health (grpc++'s default service) reports.
//   ""            server ready: NOT_SERVING until the startup loads finish,
//                 SERVING afterwards, NOT_SERVING again once draining starts.
//   "<model>"     SERVING while the model has a READY version, NOT_SERVING
//                 after unload or a failed load; unknown names -> NOT_FOUND.
// Mirrors OIP ServerReady / ModelReady; both read the same state.
//
// EnableHealthService() must run before the grpc::ServerBuilder is created.
// All methods are thread-safe; after Shutdown() every name is NOT_SERVING and
// later changes are ignored (grpc++ semantics).
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/health_check_service_interface.h"

namespace q8::server {

void EnableHealthService();

class HealthReporter {
 public:
  // `service` may be null (health disabled); then every call is a no-op.
  explicit HealthReporter(grpc::HealthCheckServiceInterface* service) : service_(service) {}

  void SetServerReady(bool ready);
  void SetModelReady(const std::string& model, bool ready);
  // Drain: everything NOT_SERVING, permanently.
  void Shutdown();

 private:
  grpc::HealthCheckServiceInterface* service_;
};

}  // namespace q8::server
