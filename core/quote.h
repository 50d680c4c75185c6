// The one way client-supplied strings (model names, tensor and node names,
// file labels, JSON fragments) are echoed into messages and logs: bounded,
// so a 1 MiB name costs a client 1 MiB of upload, not us 1 MiB per echo.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace q8::core {

// Longest client string echoed verbatim.
inline constexpr size_t kMaxQuotedChars = 128;

// `s` itself when it has at most `max_chars` bytes; otherwise its first
// `max_chars` bytes followed by the marker "...[N more bytes]".
std::string Quote(absl::string_view s, size_t max_chars = kMaxQuotedChars);

}  // namespace q8::core
