// The request q8bench sends: one ModelInferRequest built once, from the
// model's metadata (shape with --batch_size, dtype; random data) or from .npy
// files, with raw_input_contents (the server's fast path); or a mix of them
// from an .npz (e.g. one per sequence length). Requests are encoded once, so
// the client pays for encoding only once.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/q8bench/bench_options.h"
#include "inference.pb.h"

namespace q8::bench {

absl::StatusOr<inference::ModelInferRequest> BuildRequest(const inference::ModelMetadataResponse& metadata,
                                                          const BenchOptions& options);

// The requests of a run: BuildRequest's one, or one per group of
// --request_mix (INVALID_ARGUMENT naming the key for a group that misses an
// input, an unknown input, or a dtype the model does not declare).
absl::StatusOr<std::vector<inference::ModelInferRequest>> BuildRequests(
    const inference::ModelMetadataResponse& metadata, const BenchOptions& options);

}  // namespace q8::bench
