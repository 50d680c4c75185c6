// The one conversion from absl::Status (used everywhere below the RPC edge)
// to grpc::Status. absl and gRPC share the canonical code numbers, so this is
// a cast plus the message; no other file builds a grpc::Status from a code.
// Client strings inside messages are quoted with core::Quote where they are
// written; this boundary also bounds the whole message and never answers
// UNKNOWN (INTERNAL instead), so every failure a client sees is precise.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace q8::server {

// Longest status message sent to a client (backstop for core::Quote).
inline constexpr size_t kMaxStatusMessageChars = 4096;

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace q8::server
