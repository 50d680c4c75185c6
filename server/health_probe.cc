#include "server/health_probe.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace q8::server {
namespace {

using HealthResponse = grpc::health::v1::HealthCheckResponse;

std::string ServingStatusName(HealthResponse::ServingStatus status) {
  return HealthResponse::ServingStatus_Name(status);
}

}  // namespace

std::string ProbeTarget(absl::string_view listen_address) {
  const size_t colon = listen_address.rfind(':');
  if (colon == absl::string_view::npos) return std::string(listen_address);
  const absl::string_view host = listen_address.substr(0, colon);
  const absl::string_view port = listen_address.substr(colon + 1);
  if (host.empty() || host == "0.0.0.0" || host == "*") return absl::StrCat("127.0.0.1:", port);
  if (host == "[::]" || host == "::") return absl::StrCat("[::1]:", port);
  return std::string(listen_address);
}

absl::Status ProbeHealth(const std::string& target, const std::string& service, absl::Duration timeout,
                         const security::ProbeChannel& probe) {
  grpc::ChannelArguments args;
  if (!probe.server_name.empty()) args.SetSslTargetNameOverride(probe.server_name);
  auto channel = grpc::CreateCustomChannel(
      target, probe.credentials != nullptr ? probe.credentials : grpc::InsecureChannelCredentials(), args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  HealthResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  const std::string what = absl::StrCat("health check of '", service, "' at ", target);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat(what, " failed: ", status.error_message()));
  }
  if (response.status() != HealthResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(what, ": ", ServingStatusName(response.status())));
  }
  return absl::OkStatus();
}

}  // namespace q8::server
