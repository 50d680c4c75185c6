// Sequence-length buckets: serve a model with a dynamic sequence axis from a
// few plans (one per bucket) instead of one plan per exact length. A request
// of length L runs padded to the smallest bucket >= L (token inputs with
// pad_value, the attention mask with 0) and outputs that carry the sequence
// axis are sliced back to L, so a client sees exactly the shapes it would
// without buckets. Padding is only correct for a model that masks padded
// positions out; ApplySequenceBuckets checks that on the fp32 reference before
// it turns bucketing on (see BENCHMARKS.md "Sequence-length shapes" for why
// buckets are the default where they apply).
//
// This file owns the options, the detection of the ids+mask form and the
// load-time checks; engine/buckets/sequence_bucketed_model.h owns the request path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/compiled_model.h"

namespace q8::engine {

// Bucket boundaries used when the config names none: steps of at most 1.5x
// (so padding wastes at most a third of a request's compute) up to BERT's 512.
inline constexpr int64_t kDefaultSequenceBuckets[] = {8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
// Bounds on a configured list: each bucket is a plan per stream and batch size.
inline constexpr int64_t kMaxSequenceBuckets = 32;
inline constexpr int64_t kMaxSequenceBucket = 1 << 20;

struct SequenceBucketOptions {
  enum class Mode {
    kAuto,  // the default: on where the model has the ids+mask form and padding provably changes nothing
    kOff,   // one plan per exact length
    kOn,    // the config asks for it: a model where it cannot apply fails to load
  };
  Mode mode = Mode::kAuto;
  // Ascending, distinct; a listed bucket the model's shapes cannot take is an
  // error. Empty: kDefaultSequenceBuckets minus those the model cannot take
  // (e.g. beyond its position table).
  std::vector<int64_t> buckets;
  // Inputs padded along an axis (name, axis >= 1), all of one length per
  // request. Empty: the mask input and every other integer [batch, sequence]
  // input, axis 1.
  std::vector<std::pair<std::string, int64_t>> input_axes;
  // The attention mask (padded with 0). Empty: the one integer/bool
  // [batch, sequence] input whose name contains "mask".
  std::string mask_input;
  int64_t pad_value = 0;  // for the padded inputs other than the mask (token ids: the pad id)
};

// The model to serve: `model` wrapped in bucketing, or `model` itself when
// bucketing is off or (auto) does not apply; `*why` (if set) then says why
// in one line for the log. `reference` is the fp32 model the padding check
// runs on (quantized activations shift with padding, the graph's masking
// does not); null: `model` itself.
// Errors (mode kOn only, or a malformed option in any mode): INVALID_ARGUMENT
// naming the input, bucket or output; FAILED_PRECONDITION when padding
// changes the model's outputs (the model does not mask padded positions).
absl::StatusOr<std::shared_ptr<const CompiledModel>> ApplySequenceBuckets(std::shared_ptr<const CompiledModel> model,
                                                                          const CompiledModel* reference,
                                                                          const SequenceBucketOptions& options,
                                                                          std::string* why = nullptr);

}  // namespace q8::engine
