// Bearer tokens: the token-file format shared by q8serve (--admin_token_file,
// --infer_token_file) and the clients (--token_file), the
// `authorization: Bearer <token>` header, and a comparison whose time does
// not depend on where a guess goes wrong.
//
// Token file: one token per line; blank lines and lines starting with '#'
// are ignored; surrounding whitespace (and a trailing CR) is trimmed. Several
// tokens let an operator roll a new token out before retiring the old one.
// A token is 16..4096 visible ASCII characters without spaces (RFC 6750's
// b64token is a subset), so a short or garbled secret fails at startup rather
// than weakening the server.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace q8::core {

inline constexpr size_t kMinTokenLength = 16;
inline constexpr size_t kMaxTokenLength = 4096;
inline constexpr size_t kMaxTokensPerFile = 64;

// The tokens of a token file's contents, in order. INVALID_ARGUMENT when there
// is none, too many, or one is malformed (the message gives its line number,
// never the token).
absl::StatusOr<std::vector<std::string>> ParseTokenFile(absl::string_view contents);

// The token of an authorization header value "Bearer <token>" (scheme
// case-insensitive, one or more spaces); nullopt for any other form.
std::optional<absl::string_view> ParseBearerHeader(absl::string_view value);

// a == b, taking time that depends only on the lengths (no early exit).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace q8::core
