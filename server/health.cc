#include "server/health.h"

#include "grpcpp/grpcpp.h"

namespace q8::server {

void EnableHealthService() { grpc::EnableDefaultHealthCheckService(true); }

void HealthReporter::SetServerReady(bool ready) {
  if (service_ != nullptr) service_->SetServingStatus("", ready);
}

void HealthReporter::SetModelReady(const std::string& model, bool ready) {
  if (service_ != nullptr) service_->SetServingStatus(model, ready);
}

void HealthReporter::Shutdown() {
  if (service_ != nullptr) service_->Shutdown();
}

}  // namespace q8::server
