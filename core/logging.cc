// Log sink: timestamped single-line records on stderr.
#include "core/logging.h"

#include <atomic>
#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/quote.h"

namespace q8::core {
namespace {
std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
// Backstop for messages that echo client strings without core::Quote.
constexpr size_t kMaxLogMessageChars = 4096;
constexpr absl::string_view kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level = static_cast<int>(level); }

void LogLine(LogLevel level, absl::string_view message) {
  if (static_cast<int>(level) < g_min_level) return;
  std::string line = absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
                                  kNames[static_cast<int>(level)], " ", Quote(message, kMaxLogMessageChars), "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace q8::core
