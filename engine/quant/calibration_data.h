// Calibration data: the samples quantize-on-upload calibrates on and checks
// accuracy with, as the client sends them, and the same resolved against a
// model's inputs (what the calibrator and the accuracy check read).
//
// Data = one or more sample groups. A group gives a tensor for every graph
// input, all with the same leading sample count N, plus optional int64 class
// ids [N]. Groups may differ in their other dims (text at sequence length 16
// and at 48): each group runs through the plan for its shapes and the
// statistics of all groups are merged. Non-float inputs (token ids, masks)
// are fed as they are; only float tensors get statistics.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/npz.h"
#include "core/tensor.h"
#include "engine/compiled_model.h"

namespace q8::engine {

struct CalibrationGroup {
  std::string name;  // "" for the default group, else the npz key prefix ("len16")
  // (graph input name, [N, ...]); the name "" stands for the only input of a
  // single-input model (the .npy form).
  std::vector<std::pair<std::string, core::Tensor>> inputs;
  std::optional<core::Tensor> labels;  // int64 [N]
};

// What the client sent. `inputs` + `labels` is the .npy form (one group, the
// model's only input); `groups` the general form. Give one or the other.
struct CalibrationData {
  core::Tensor inputs;
  std::optional<core::Tensor> labels;
  std::vector<CalibrationGroup> groups;
};

// Samples over all groups (leading count of each group's first input), for
// logs; 0 for empty data.
int64_t CalibrationSamples(const CalibrationData& data);

// The .npz key convention (README "Quantization", server/model_repository.h):
//   "<input>"              input <input> of the default group
//   "<group>/<input>"      input <input> of group <group> (split at the first '/';
//                          inputs whose names hold '/' therefore need a group)
//   "__labels__", "<group>/__labels__"   the group's int64 class ids
// Groups appear in the order of their first key. INVALID_ARGUMENT naming
// the key for an empty group or input name.
inline constexpr char kLabelsKey[] = "__labels__";
absl::StatusOr<CalibrationData> CalibrationFromNpz(std::vector<core::NamedTensor> arrays);

// A group resolved against a model: one tensor per graph input, in graph
// order (views into the CalibrationData, which must outlive it).
struct SampleGroup {
  std::string name;
  std::vector<const core::Tensor*> inputs;
  const core::Tensor* labels = nullptr;
  int64_t rows = 0;
  // "len16/" or "": the prefix of the group's npz keys, for messages.
  std::string KeyPrefix() const { return name.empty() ? "" : name + "/"; }
};

// Checks `data` against the model's inputs and resolves it: every group names
// each input once (missing, extra and duplicate keys are refused), dtypes
// equal the model's, ranks and fixed dims match, all inputs of a group share
// N >= 1, float samples are finite, labels are int64 [N] within the model's
// classes, and either every group has labels or none. INVALID_ARGUMENT naming
// the key and the reason.
absl::StatusOr<std::vector<SampleGroup>> ResolveCalibration(const CompiledModel& fp32, const CalibrationData& data);

// One group over the only input of a single-input model (tests, tools).
SampleGroup SingleInputGroup(const core::Tensor& samples);

}  // namespace q8::engine
