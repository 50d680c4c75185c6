// Tiny ONNX models built in the test with the onnx protobuf classes, for
// error paths the committed fixtures do not cover.
#pragma once

#include <string>

namespace q8::testing {

// input "x" FP32 [N,4] -> NonMaxSuppression -> "y": an op q8serve does not support
// (its message must name the op and the node).
std::string MakeUnsupportedOpModel();

}  // namespace q8::testing
