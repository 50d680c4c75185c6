#include "core/bearer_token.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace q8::core {

absl::StatusOr<std::vector<std::string>> ParseTokenFile(absl::string_view contents) {
  std::vector<std::string> tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    if (line.size() < kMinTokenLength || line.size() > kMaxTokenLength) {
      return absl::InvalidArgumentError(absl::StrCat("token on line ", line_number, " has ", line.size(),
                                                     " characters; tokens need ", kMinTokenLength, "..",
                                                     kMaxTokenLength));
    }
    for (char c : line) {
      if (c <= ' ' || c > '~') {
        return absl::InvalidArgumentError(
            absl::StrCat("token on line ", line_number, " contains a space or a non-printable/non-ASCII character"));
      }
    }
    if (tokens.size() == kMaxTokensPerFile) {
      return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxTokensPerFile, " tokens"));
    }
    tokens.emplace_back(line);
  }
  if (tokens.empty()) return absl::InvalidArgumentError("no token (empty, or only blank/comment lines)");
  return tokens;
}

std::optional<absl::string_view> ParseBearerHeader(absl::string_view value) {
  constexpr absl::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || !absl::StartsWithIgnoreCase(value, kScheme)) return std::nullopt;
  absl::string_view rest = value.substr(kScheme.size());
  if (rest.front() != ' ') return std::nullopt;
  rest = absl::StripLeadingAsciiWhitespace(rest);
  if (rest.empty()) return std::nullopt;
  return rest;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Volatile: keeps the compiler from turning the loop into an early-exit
  // memcmp.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace q8::core
