// The one conversion from absl::Status (used everywhere below the RPC edge)
// to grpc::Status. absl and gRPC share the canonical code numbers, so this is
// a cast plus the message; no other file builds a grpc::Status from a code.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace q8::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace q8::server
