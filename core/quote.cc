// Truncation for echoed client strings.
#include "core/quote.h"

#include "absl/strings/str_cat.h"

namespace q8::core {

std::string Quote(absl::string_view s, size_t max_chars) {
  if (s.size() <= max_chars) return std::string(s);
  return absl::StrCat(s.substr(0, max_chars), "...[", s.size() - max_chars, " more bytes]");
}

}  // namespace q8::core
