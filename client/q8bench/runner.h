// Runner: the measurement procedure of q8bench for every load level —
// warm-up, then back-to-back windows until the last 3 agree (IsStable) or
// the window cap is hit — with the server's ModelStatistics read at every
// window boundary, and a live progress line on stderr.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/q8bench/bench_options.h"
#include "client/q8bench/load_generator.h"
#include "client/q8bench/stats.h"
#include "client/q8ctl/client.h"

namespace q8::bench {

struct LevelResult {
  double level = 0;  // concurrency or target request rate
  LoadMode mode = LoadMode::kConcurrency;
  int windows = 0;      // measured (warm-up excluded)
  bool stable = false;  // false: the cap was hit; results are from the last 3 windows anyway
  double seconds = 0;   // of the reported windows
  int64_t requests = 0;  // successful, in the reported windows
  int64_t errors = 0;
  int64_t late_sends = 0;  // open loop, whole level
  double throughput = 0;   // inferences/s
  double request_rate = 0;  // achieved requests/s
  LatencySummary latency;   // client side, reported windows
  ServerCounters server;    // delta over the reported windows
  ServerSplit split;
};

struct RunResult {
  std::string model, version;
  int64_t batch_size = 1;
  std::vector<LevelResult> levels;
  // Whole run (warm-ups and all windows): what the client saw succeed and
  // the server's inference_count delta for the model.
  int64_t client_requests = 0;
  int64_t client_errors = 0;
  uint64_t server_inference_count = 0;
};

class Runner {
 public:
  // `client` is used for ModelStatistics; `generator` must send for options.model.
  Runner(const BenchOptions& options, client::Client& client, LoadGenerator& generator, std::string version);
  // Errors: the statistics RPC failing, or every request of a level failing.
  absl::StatusOr<RunResult> Run();

 private:
  absl::StatusOr<ServerCounters> Counters();
  absl::StatusOr<LevelResult> RunLevel(double level);
  void Progress(const std::string& line, bool done);

  const BenchOptions& options_;
  client::Client& client_;
  LoadGenerator& generator_;
  std::string version_;
  bool tty_ = false;
};

}  // namespace q8::bench
