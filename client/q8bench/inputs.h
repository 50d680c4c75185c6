// The request q8bench sends: one ModelInferRequest built once, from the
// model's metadata (shape with --batch_size, dtype; random data) or from .npy
// files, with raw_input_contents (the server's fast path). Every request of
// a run carries the same bytes, so the client pays for encoding only once.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "client/q8bench/bench_options.h"
#include "inference.pb.h"

namespace q8::bench {

absl::StatusOr<inference::ModelInferRequest> BuildRequest(const inference::ModelMetadataResponse& metadata,
                                                          const BenchOptions& options);

}  // namespace q8::bench
