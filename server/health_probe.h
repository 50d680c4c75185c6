// Health probe: `q8serve --health_probe` asks a running q8serve (normally the
// one in the same container, for Docker's HEALTHCHECK) whether it is ready,
// through grpc.health.v1.Health/Check on service "" with a short deadline.
// Exists because grpc_health_probe is not packaged in Debian and images
// cannot download it; Kubernetes uses its native gRPC probe instead.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/security/credentials.h"

namespace q8::server {

// The address to dial for a listen address: a wildcard host (0.0.0.0, [::],
// or none, ":8001") becomes the loopback of the same family; anything else
// is returned unchanged.
std::string ProbeTarget(absl::string_view listen_address);

// OK when `service` reports SERVING within `timeout`. Otherwise the status
// says why: UNAVAILABLE (nothing listening / NOT_SERVING / UNKNOWN),
// DEADLINE_EXCEEDED, NOT_FOUND (unknown service name), ... each naming the
// target. `channel`: plaintext by default; security::ProbeChannelFor() for a
// TLS server.
absl::Status ProbeHealth(const std::string& target, const std::string& service, absl::Duration timeout,
                         const security::ProbeChannel& channel = {});

}  // namespace q8::server
