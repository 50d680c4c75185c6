#include "server/security/rpc_guard.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/bearer_token.h"
#include "core/logging.h"

namespace q8::server::security {
namespace {

absl::StatusOr<std::unique_ptr<TokenFile>> OpenIfSet(const std::string& path, const char* flag, double check_seconds) {
  if (path.empty()) return std::unique_ptr<TokenFile>();
  auto file = TokenFile::Open(path, absl::Seconds(check_seconds));
  if (!file.ok()) return absl::Status(file.status().code(), absl::StrCat("--", flag, ": ", file.status().message()));
  return file;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RpcGuard>> RpcGuard::Create(const SecurityOptions& options) {
  if (!std::isfinite(options.token_check_seconds)) {
    return absl::InvalidArgumentError("--token_check_seconds must be a finite number of seconds");
  }
  auto admin = OpenIfSet(options.admin_token_file, "admin_token_file", options.token_check_seconds);
  if (!admin.ok()) return admin.status();
  auto inference = OpenIfSet(options.infer_token_file, "infer_token_file", options.token_check_seconds);
  if (!inference.ok()) return inference.status();
  return std::make_unique<RpcGuard>(*std::move(admin), *std::move(inference));
}

absl::Status RpcGuard::Authorize(const grpc::ServerContextBase& context, absl::string_view full_method) const {
  // Fast path: nothing to check, no metadata to walk.
  if (admin_ == nullptr && inference_ == nullptr && AccessOf(full_method).has_value()) return absl::OkStatus();
  std::vector<absl::string_view> values;
  const auto range = context.client_metadata().equal_range("authorization");
  for (auto it = range.first; it != range.second; ++it) values.emplace_back(it->second.data(), it->second.size());
  return AuthorizeValues(values, full_method);
}

absl::Status RpcGuard::AuthorizeValues(const std::vector<absl::string_view>& authorization,
                                       absl::string_view full_method) const {
  const std::optional<RpcAccess> access = AccessOf(full_method);
  // Fail closed: an RPC without a rule is a bug, not an open door.
  if (!access.has_value()) return absl::PermissionDeniedError("no access rule for this method");
  TokenFile* tokens = *access == RpcAccess::kAdmin       ? admin_.get()
                      : *access == RpcAccess::kInference ? inference_.get()
                                                         : nullptr;
  if (tokens == nullptr) return absl::OkStatus();
  // The admin token opens inference RPCs too: an operator can do what any client can.
  TokenFile* also = *access == RpcAccess::kInference ? admin_.get() : nullptr;
  const char* which = *access == RpcAccess::kAdmin ? "the admin token" : "the inference (or admin) token";
  const absl::string_view method = full_method.substr(full_method.rfind('/') + 1);
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat(method, " needs ", which, ": send metadata 'authorization: Bearer <token>'"));
  }
  bool accepted = false;
  for (absl::string_view value : authorization) {
    std::optional<absl::string_view> token = core::ParseBearerHeader(value);
    if (!token.has_value()) continue;
    if (tokens->Accepts(*token) || (also != nullptr && also->Accepts(*token))) accepted = true;
  }
  if (!accepted) {
    Q8_LOG(Debug, "refused ", method, ": no valid ", which);
    return absl::UnauthenticatedError(absl::StrCat(
        method, " needs ", which, "; the 'authorization' metadata sent is not 'Bearer <token>' with a valid token"));
  }
  return absl::OkStatus();
}

void RpcGuard::ReloadTokens() {
  if (admin_ != nullptr) (void)admin_->Reload();
  if (inference_ != nullptr) (void)inference_->Reload();
}

}  // namespace q8::server::security
