// TLS credentials of q8serve from PEM files: the server's (--tls_cert_file,
// --tls_key_file, --tls_client_ca_file for mutual TLS) and those of
// `q8serve --health_probe` dialing a TLS server. The files are parsed with
// OpenSSL before gRPC sees them, so a wrong path, a file that is not PEM or a
// key that does not belong to the certificate is a startup error naming the
// flag and file (gRPC alone only reports that the port cannot be bound).
// Certificates are read once: rotating them needs a restart (rolling, with
// replicas).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "server/security/security_options.h"

namespace q8::server::security {

// Insecure credentials when no TLS file is set; TLS (client certificates
// required and verified when tls.client_ca_file is set) otherwise.
// INVALID_ARGUMENT / NOT_FOUND naming the flag for a bad combination or file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const TlsFiles& tls);

struct ProbeChannel {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // TLS name to verify instead of the dialed host ("" = the host): the
  // probe dials loopback, the certificate names the service.
  std::string server_name;
};
// Credentials for the health probe of a server started with `tls`: insecure
// without TLS; else trusting `ca_file` (default: the server's own
// certificate, right for a self-signed one), verifying the certificate's
// first DNS name (or common name), and presenting the server's certificate
// and key as client certificate under mutual TLS (so it must be signed by the
// client CA to pass).
absl::StatusOr<ProbeChannel> ProbeChannelFor(const TlsFiles& tls, const std::string& ca_file);

}  // namespace q8::server::security
