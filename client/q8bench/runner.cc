// Warm-up / window / stability loop of q8bench (see runner.h).
#include "client/q8bench/runner.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace q8::bench {
namespace {

constexpr int kStableWindows = 3;

std::string LevelName(LoadMode mode, double level) {
  return mode == LoadMode::kConcurrency ? absl::StrFormat("concurrency %g", level)
                                        : absl::StrFormat("rate %g/s", level);
}

}  // namespace

Runner::Runner(const BenchOptions& options, client::Client& client, LoadGenerator& generator, std::string version)
    : options_(options), client_(client), generator_(generator), version_(std::move(version)),
      tty_(options.progress && ::isatty(STDERR_FILENO) != 0) {}

absl::StatusOr<ServerCounters> Runner::Counters() {
  auto response = client_.ModelStatistics(options_.model, version_);
  if (!response.ok()) return response.status();
  if (response->model_stats_size() != 1) {
    return absl::InternalError(absl::StrCat("ModelStatistics returned ", response->model_stats_size(),
                                            " entries for ", options_.model, " version ", version_));
  }
  return FromProto(response->model_stats(0));
}

void Runner::Progress(const std::string& line, bool done) {
  if (!options_.progress) return;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), done ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

absl::StatusOr<LevelResult> Runner::RunLevel(double level) {
  LoadLevel load{.mode = options_.mode,
                 .concurrency = static_cast<int64_t>(level),
                 .rate = level,
                 .arrival = options_.arrival,
                 .max_outstanding = options_.max_outstanding,
                 .seed = options_.seed};
  const std::string name = LevelName(options_.mode, level);
  const int64_t late_before = generator_.late();
  generator_.Start(load);
  Progress(absl::StrCat("q8bench: ", name, ": warming up"), false);
  std::this_thread::sleep_for(absl::ToChronoNanoseconds(options_.warmup));

  // Windows are contiguous: window k holds the completions with end time in
  // [boundary k-1, boundary k). The server is read right after each boundary.
  std::vector<Window> windows;
  std::vector<ServerCounters> snapshots;
  std::vector<Completion> carry;
  int64_t boundary = NowNs();
  {
    for (const Completion& c : generator_.Drain()) {
      if (c.end_ns >= boundary) carry.push_back(c);
    }
    auto s = Counters();
    if (!s.ok()) return s.status();
    snapshots.push_back(*s);
  }
  std::vector<std::vector<Completion>> window_completions;
  while (static_cast<int>(windows.size()) < options_.max_windows) {
    const int64_t start = boundary;
    const int64_t target = start + absl::ToInt64Nanoseconds(options_.window);
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(target - NowNs(), 0)));
    boundary = NowNs();
    std::vector<Completion> all = std::move(carry);
    carry.clear();
    for (const Completion& c : generator_.Drain()) all.push_back(c);
    auto s = Counters();
    if (!s.ok()) return s.status();
    std::vector<Completion> in;
    for (const Completion& c : all) (c.end_ns < boundary ? in : carry).push_back(c);
    // Late drains may still be missing completions that ended just before the
    // boundary; they arrive with the next drain and are counted there. That
    // shifts at most the calls in flight between windows.
    Window w;
    w.seconds = static_cast<double>(boundary - start) / 1e9;
    w.latency = Summarize(in);
    w.requests = w.latency.count;
    w.errors = static_cast<int64_t>(in.size()) - w.requests;
    w.throughput = static_cast<double>(w.requests * options_.batch_size) / w.seconds;
    w.server = Delta(*s, snapshots.back());
    snapshots.push_back(*s);
    windows.push_back(w);
    window_completions.push_back(std::move(in));
    const bool stable = IsStable(windows, options_.stability_percent);
    Progress(absl::StrFormat("q8bench: %s: window %d/%d: %.1f infer/s, p50 %.0f us, p99 %.0f us%s", name,
                             windows.size(), options_.max_windows, w.throughput, w.latency.p50_us, w.latency.p99_us,
                             stable ? " (stable)" : ""),
             false);
    if (stable) break;
  }
  generator_.Stop();

  LevelResult r;
  r.level = level;
  r.mode = options_.mode;
  r.windows = static_cast<int>(windows.size());
  r.stable = IsStable(windows, options_.stability_percent);
  r.late_sends = generator_.late() - late_before;
  const size_t first = windows.size() >= kStableWindows ? windows.size() - kStableWindows : 0;
  std::vector<Completion> reported;
  for (size_t i = first; i < windows.size(); ++i) {
    r.seconds += windows[i].seconds;
    r.errors += windows[i].errors;
    reported.insert(reported.end(), window_completions[i].begin(), window_completions[i].end());
  }
  r.latency = Summarize(reported);
  r.requests = r.latency.count;
  r.throughput = static_cast<double>(r.requests * options_.batch_size) / r.seconds;
  r.request_rate = static_cast<double>(r.requests) / r.seconds;
  r.server = Delta(snapshots.back(), snapshots[first]);
  r.split = Split(r.server);
  Progress(absl::StrFormat("q8bench: %s: %.1f infer/s, p50 %.0f us, p99 %.0f us, %d windows%s", name, r.throughput,
                           r.latency.p50_us, r.latency.p99_us, r.windows, r.stable ? "" : " (NOT stable)"),
           true);
  if (r.requests == 0) {
    std::string error = generator_.first_error();
    return absl::UnavailableError(absl::StrCat(name, ": no request succeeded",
                                               error.empty() ? "" : absl::StrCat(" (first error: ", error, ")")));
  }
  return r;
}

absl::StatusOr<RunResult> Runner::Run() {
  RunResult run;
  run.model = options_.model;
  run.version = version_;
  run.batch_size = options_.batch_size;
  auto before = Counters();
  if (!before.ok()) return before.status();
  const int64_t ok_before = generator_.completed(), failed_before = generator_.failed();
  for (double level : options_.levels) {
    auto r = RunLevel(level);
    if (!r.ok()) return r.status();
    run.levels.push_back(*r);
  }
  auto after = Counters();
  if (!after.ok()) return after.status();
  run.client_requests = generator_.completed() - ok_before;
  run.client_errors = generator_.failed() - failed_before;
  run.server_inference_count = after->inference_count - before->inference_count;
  return run;
}

}  // namespace q8::bench
