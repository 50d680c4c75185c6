// The one place the client tools (q8ctl, q8bench, tests) build their gRPC
// channel: 1 GiB message limits, TLS / mutual TLS from PEM files, and the
// bearer token sent as `authorization: Bearer <token>` on every call.
//
// The token is added by a client interceptor rather than by gRPC call
// credentials so that it also reaches a plaintext server (behind a mesh that
// terminates TLS, or a test); the tools warn when it would travel unencrypted.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace q8::client {

// Paths from the command line (--token_file, --tls_ca_file, --tls_cert_file,
// --tls_key_file); empty = not given.
struct ChannelSecurityFiles {
  std::string token_file;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

// What the files hold, read once.
struct ChannelSecurity {
  bool tls = false;      // any TLS file given
  std::string ca_pem;    // empty with tls: the system's root certificates
  std::string cert_pem;  // client certificate (mutual TLS), with key_pem
  std::string key_pem;
  std::string token;  // empty: none sent
};

// Reads and checks the files: the first token of the token file (same
// format as the server's, core/bearer_token.h); a client certificate needs
// its key and vice versa. Errors name the flag.
absl::StatusOr<ChannelSecurity> LoadChannelSecurity(const ChannelSecurityFiles& files);

// Channel with the 1 GiB send/receive limits; plaintext unless security.tls.
std::shared_ptr<grpc::Channel> CreateChannel(const std::string& server, const ChannelSecurity& security = {});

}  // namespace q8::client
