// RpcGuard: the one check every q8serve handler makes first. It looks the
// method up in the access table (rpc_access.h) and, when that class of RPC
// has a token file, requires gRPC metadata `authorization: Bearer <token>`
// with one of its tokens (inference RPCs also take an admin token). Refusals
// are UNAUTHENTICATED and name the method and the token that is needed, never
// the token that was sent.
//
// Why handlers call it rather than an AuthMetadataProcessor or interceptor:
// a processor needs secure credentials (tokens must also work behind a
// TLS-terminating mesh), and a grpc++ 1.51 server interceptor cannot end a
// call with a chosen status before the handler runs. One call at the top of each
// handler, with the method looked up in one table, is both exact and
// testable (tests/integration/security_test.cc calls every method).
//
// Thread safety: Authorize() and ReloadTokens() may run concurrently.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "server/security/rpc_access.h"
#include "server/security/security_options.h"
#include "server/security/token_file.h"

namespace q8::server::security {

class RpcGuard {
 public:
  // Null token file: that class of RPC is open.
  RpcGuard(std::unique_ptr<TokenFile> admin, std::unique_ptr<TokenFile> inference)
      : admin_(std::move(admin)), inference_(std::move(inference)) {}
  // Opens the token files of `options`; their errors name the flag.
  static absl::StatusOr<std::unique_ptr<RpcGuard>> Create(const SecurityOptions& options);

  absl::Status Authorize(const grpc::ServerContextBase& context, absl::string_view full_method) const;
  // The same, from the `authorization` values the client sent.
  absl::Status AuthorizeValues(const std::vector<absl::string_view>& authorization,
                               absl::string_view full_method) const;
  // SIGHUP: re-reads both token files; a file that fails keeps its tokens.
  void ReloadTokens();

  bool admin_required() const { return admin_ != nullptr; }
  bool inference_required() const { return inference_ != nullptr; }

 private:
  std::unique_ptr<TokenFile> admin_;
  std::unique_ptr<TokenFile> inference_;
};

}  // namespace q8::server::security
