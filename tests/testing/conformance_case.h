// Reads one case of ONNX's backend conformance data (Debian libonnx-testdata):
// <case>/model.onnx plus test_data_set_*/input_K.pb and output_K.pb, each a
// serialized onnx.TensorProto. Inputs bind, in order, to the graph inputs that
// are not initializers; outputs to the graph outputs. Test-only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace q8::testing {

struct ConformanceDataSet {
  std::string name;  // "test_data_set_0"
  std::vector<std::shared_ptr<const core::Tensor>> inputs;
  std::vector<std::shared_ptr<const core::Tensor>> outputs;
};

struct ConformanceCase {
  std::string name;                      // "<suite>/<case directory>", e.g. "node/test_abs"
  std::string model;                     // model.onnx bytes
  std::vector<std::string> input_names;  // non-initializer graph inputs, in graph order
  std::vector<std::string> output_names;
  std::vector<ConformanceDataSet> data_sets;  // sorted by name
};

// Case directories under <root>/<suite> for each suite, as "<suite>/<dir>",
// sorted. A missing suite directory is NOT_FOUND (the data is not installed).
absl::StatusOr<std::vector<std::string>> ListConformanceCases(const std::string& root,
                                                              const std::vector<std::string>& suites);

// Loads <root>/<name>. INVALID_ARGUMENT (naming the input or output) when the
// case uses what a TensorProto cannot carry (sequence, optional and map
// values), when a data set's file count differs from the graph's, or when a
// file does not parse; NOT_FOUND when model.onnx or every data set is missing.
// UINT16 data where the graph declares BF16 is read as BF16 (older test data
// stores bfloat16 bits that way; see the .cc).
absl::StatusOr<ConformanceCase> LoadConformanceCase(const std::string& root, const std::string& name);

}  // namespace q8::testing
