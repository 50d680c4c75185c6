// Minimal leveled logging to stderr (Debian 12's Abseil has no absl/log).
// Thread-safe: each line is written with one fwrite.
#pragma once

#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"

namespace q8::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetMinLogLevel(LogLevel level);
void LogLine(LogLevel level, absl::string_view message);

}  // namespace q8::core

#define Q8_LOG(level, ...) \
  ::q8::core::LogLine(::q8::core::LogLevel::k##level, ::absl::StrCat(__VA_ARGS__))
