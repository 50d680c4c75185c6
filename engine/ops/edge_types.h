// Element types at the model's edges, and how integer and BOOL values travel
// inside a plan.
//
// Design: a plan computes in FP32 only. Integer and BOOL values (token ids,
// attention masks, Gather indices, Where conditions, ArgMax results,
// comparison results) are carried in FP32 as the exact numbers they are.
// FP32 holds every integer up to 2^24 exactly, so the input edge converts a
// declared INT64/INT32/UINT*/BOOL input to FP32 once and refuses a value
// beyond +-2^24 (core::CheckRepresentableInFloat32) rather than rounding it;
// the output edge converts the FP32 result to the declared type (truncation
// toward zero, saturation, != 0 for BOOL). Ops that read such values at run
// time (kernels/value_ops.h) validate each one per request: an index that is
// not an integer in range is INVALID_ARGUMENT, never an out-of-bounds read.
// Kernels therefore see one element type, no op needs typed variants, and
// int8 quantization is unaffected. The cost: integers above 2^24 cannot flow
// at run time (vocabulary sizes and sequence positions stay far below).
//
// Which graph inputs are converted: an input is read by op slots; a slot
// reads it as FP32 when the slot reads FP32 data (any numeric input is then
// converted, a UINT8 image into Conv) or lists the declared type in
// OpSignature::runtime_types (INT64 token ids into Gather's indices).
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
// FP32 when every consumer slot reads it as FP32 (see above), else the
// declared type (the consumer then reports what it cannot read).
// INVALID_ARGUMENT (naming `what`) for types q8serve does not serve (STRING,
// complex, undefined).
absl::StatusOr<core::DataType> RuntimeInputType(int onnx_elem_type, const std::vector<EdgeConsumer>& consumers,
                                                const std::string& what);

}  // namespace q8::engine
