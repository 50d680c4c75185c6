// Element types at the model's edges: which type each graph input is held in
// at runtime. Callers may send any numeric type the model declares; a graph
// input stays in that type when every op reading it reads that type at
// runtime (OpSignature::runtime_types: INT64 token ids into Gather), and is
// converted to FP32 once at the edge otherwise (a UINT8 image into Conv).
// Outputs are converted from what the program computes to the declared type.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"

namespace q8::engine {

// One reader of a graph input: op type and input slot.
struct EdgeConsumer {
  std::string op_type;
  int slot = 0;
};

// The runtime type for a graph input of `declared` type read by `consumers`:
// the declared type when every consumer reads it, else FP32 when every
// consumer reads that, else the declared type (the consumer then reports).
// INVALID_ARGUMENT (naming `what`) for types q8serve does not serve (STRING,
// complex, undefined).
absl::StatusOr<core::DataType> RuntimeInputType(int onnx_elem_type, const std::vector<EdgeConsumer>& consumers,
                                                const std::string& what);

}  // namespace q8::engine
