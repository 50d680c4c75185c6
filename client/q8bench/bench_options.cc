// Range expansion and option checks for q8bench (see bench_options.h).
#include "client/q8bench/bench_options.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace q8::bench {
namespace {

constexpr size_t kMaxLevels = 1000;

absl::StatusOr<double> Positive(absl::string_view text, bool integer, const std::string& spec) {
  double v = 0;
  if (!absl::SimpleAtod(text, &v) || !std::isfinite(v) || v <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("range '", spec, "': '", text, "' is not a number > 0"));
  }
  if (integer && v != std::floor(v)) {
    return absl::InvalidArgumentError(absl::StrCat("range '", spec, "': '", text, "' is not an integer"));
  }
  return v;
}

}  // namespace

absl::StatusOr<std::vector<double>> ParseRange(const std::string& spec, bool integers) {
  std::vector<std::string> parts = absl::StrSplit(spec, ':');
  if (parts.empty() || parts.size() > 3) {
    return absl::InvalidArgumentError(absl::StrCat("range '", spec, "': expected START[:END[:xF|+S]]"));
  }
  auto start = Positive(parts[0], integers, spec);
  if (!start.ok()) return start.status();
  if (parts.size() == 1) return std::vector<double>{*start};
  auto end = Positive(parts[1], integers, spec);
  if (!end.ok()) return end.status();
  if (*end < *start) return absl::InvalidArgumentError(absl::StrCat("range '", spec, "': END is below START"));
  bool multiply = true;
  double step = 2;
  if (parts.size() == 3) {
    const std::string& s = parts[2];
    if (s.empty() || (s[0] != 'x' && s[0] != '*' && s[0] != '+')) {
      return absl::InvalidArgumentError(
          absl::StrCat("range '", spec, "': step '", s, "' must be xF (multiply) or +S (add)"));
    }
    multiply = s[0] != '+';
    auto v = Positive(absl::string_view(s).substr(1), integers && !multiply, spec);
    if (!v.ok()) return v.status();
    step = *v;
    if (multiply && step <= 1) {
      return absl::InvalidArgumentError(absl::StrCat("range '", spec, "': factor must be > 1"));
    }
  }
  std::vector<double> levels;
  double v = *start;
  while (v < *end) {
    levels.push_back(v);
    if (levels.size() > kMaxLevels) {
      return absl::InvalidArgumentError(absl::StrCat("range '", spec, "': more than ", kMaxLevels, " levels"));
    }
    double next = multiply ? v * step : v + step;
    if (integers) next = std::max(std::round(next), v + 1);
    v = next;
  }
  levels.push_back(*end);
  return levels;
}

absl::Status Validate(const BenchOptions& o) {
  if (o.model.empty()) return absl::InvalidArgumentError("--model is required");
  if (o.batch_size < 1) return absl::InvalidArgumentError("--batch_size must be >= 1");
  if (o.levels.empty()) return absl::InvalidArgumentError("no load levels");
  if (o.window < absl::Milliseconds(10)) return absl::InvalidArgumentError("--window_ms must be >= 10");
  if (o.warmup < absl::ZeroDuration()) return absl::InvalidArgumentError("--warmup_ms must be >= 0");
  if (!(o.stability_percent > 0)) return absl::InvalidArgumentError("--stability_percent must be > 0");
  if (o.max_windows < 3) return absl::InvalidArgumentError("--max_windows must be >= 3 (stability needs 3)");
  if (o.max_outstanding < 1) return absl::InvalidArgumentError("--max_outstanding must be >= 1");
  if (o.timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("--timeout_ms must be > 0");
  if (!o.request_mix.empty() && (!o.input_data.empty() || !o.shapes.empty() || o.batch_size != 1)) {
    return absl::InvalidArgumentError(
        "--request_mix gives every request's inputs and shapes: drop --input_data, --shape and --batch_size");
  }
  if (o.mode == LoadMode::kConcurrency) {
    for (double level : o.levels) {
      if (level > 4096) return absl::InvalidArgumentError("concurrency above 4096");
    }
  }
  return absl::OkStatus();
}

}  // namespace q8::bench
