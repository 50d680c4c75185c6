// Top-k classes of classifier outputs: selection, softmax and the text q8ctl
// prints for a [batch, classes] tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"

namespace q8::client {

struct ClassScore {
  int64_t index = 0;
  float score = 0;        // the model's output value
  float probability = 0;  // softmax over the whole row
};

// Numerically stable softmax (max subtracted). NaN scores get probability 0
// unless every score is NaN (then all are NaN).
std::vector<float> Softmax(absl::Span<const float> row);

// The min(k, row.size()) highest scores, best first; ties go to the lower
// index; NaN ranks below every number.
std::vector<ClassScore> TopK(absl::Span<const float> row, int k);

// True for a 2-D FP32/FP64 tensor with at least one class: what infer prints.
bool IsClassScores(const core::TensorView& tensor);

// Per row: "row R: top-K of N classes" then rank, class, score and softmax
// probability. INVALID_ARGUMENT unless IsClassScores(tensor).
absl::StatusOr<std::string> FormatTopK(const core::TensorView& tensor, int k);

}  // namespace q8::client
