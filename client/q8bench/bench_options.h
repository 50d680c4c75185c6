// q8bench's validated options and the load-level ranges they expand to.
// Parsing of argv happens in main.cc (absl flags); everything that can be
// wrong with a value is checked here, so it is unit-testable without a server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace q8::bench {

enum class LoadMode {
  kConcurrency,  // closed loop: N requests in flight, a new one as each completes
  kRequestRate,  // open loop: requests sent on a schedule, whatever the server does
};
enum class Arrival { kConstant, kPoisson };

struct BenchOptions {
  std::string server = "localhost:8001";
  std::string model;
  std::string version;  // empty: server's choice
  int64_t batch_size = 1;
  LoadMode mode = LoadMode::kConcurrency;
  std::vector<double> levels;  // concurrencies or request rates (req/s), in order
  Arrival arrival = Arrival::kConstant;
  int64_t max_outstanding = 1024;  // open loop: cap on requests in flight
  absl::Duration warmup = absl::Milliseconds(1000);
  absl::Duration window = absl::Milliseconds(1000);
  double stability_percent = 10;  // throughput and p99 of the last 3 windows within +-x% of their mean
  int max_windows = 10;
  absl::Duration timeout = absl::Seconds(30);  // per request
  // Input data: empty -> random data synthesized from ModelMetadata.
  // Entries are "PATH.npy" (the only input) or "TENSOR=PATH.npy".
  std::vector<std::string> input_data;
  // Shapes for inputs whose non-batch dims are dynamic: "TENSOR:D1,D2,...".
  std::vector<std::string> shapes;
  // A mix of requests instead: an .npz whose keys are "GROUP/TENSOR" (one
  // request per group, e.g. one per sequence length), sent in turn in archive
  // order. Replaces input_data, shapes and batch_size (the arrays' own shapes).
  std::string request_mix;
  uint32_t seed = 1;
  std::string csv_path;   // "-" = stdout
  std::string json_path;  // "-" = stdout
  bool progress = true;
};

// Expands "START:END:xF" (multiply by F) or "START:END:+S" (add S), or a
// single value. END is included when the series hits it and is always the
// last level (so 1:12:x2 gives 1,2,4,8,12). Values must be > 0; for
// concurrency they must also be integers. INVALID_ARGUMENT names the problem.
absl::StatusOr<std::vector<double>> ParseRange(const std::string& spec, bool integers);

// Checks ranges and combinations; returns the first problem as INVALID_ARGUMENT.
absl::Status Validate(const BenchOptions& options);

}  // namespace q8::bench
