#include "server/grpc_status.h"

#include <string>

#include "core/quote.h"

namespace q8::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int code = static_cast<int>(status.code());
  // UNKNOWN tells a client nothing it can act on: an unexpected failure of
  // ours is INTERNAL, and so is any code absl may grow that gRPC lacks.
  if (code <= 0 || code > static_cast<int>(grpc::StatusCode::UNAUTHENTICATED) ||
      code == static_cast<int>(grpc::StatusCode::UNKNOWN)) {
    code = static_cast<int>(grpc::StatusCode::INTERNAL);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), core::Quote(status.message(), kMaxStatusMessageChars));
}

}  // namespace q8::server
