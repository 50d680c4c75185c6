// grpc::Status -> absl::Status conversion: the one place where gRPC error codes
// enter the client, so every caller sees absl codes with the server's message.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace q8::client {

// Same code (the numbering is shared by gRPC and Abseil, but the mapping is
// spelled out rather than cast) and the same message. OK maps to OkStatus();
// codes outside the known range map to UNKNOWN.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace q8::client
