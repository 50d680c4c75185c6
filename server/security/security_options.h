// SecurityOptions: TLS and token settings of q8serve (flags in main.cc,
// described in server/README.md "Security"). Empty paths = feature off.
#pragma once

#include <string>

namespace q8::server::security {

struct TlsFiles {
  std::string cert_file;       // PEM certificate chain of the server (--tls_cert_file)
  std::string key_file;        // PEM private key (--tls_key_file)
  std::string client_ca_file;  // PEM CA(s) client certificates must chain to
                               // (--tls_client_ca_file): mutual TLS
  bool enabled() const { return !cert_file.empty() || !key_file.empty() || !client_ca_file.empty(); }
};

struct SecurityOptions {
  TlsFiles tls;
  std::string admin_token_file;  // tokens for repository/model management RPCs
  std::string infer_token_file;  // tokens for inference and model description RPCs
  // How often (at most) a request checks the token files for changes; <= 0:
  // only on SIGHUP.
  double token_check_seconds = 1;
};

}  // namespace q8::server::security
