// Tiny ONNX models built in the test with the onnx protobuf classes, for
// error paths the committed fixtures do not cover.
#pragma once

#include <string>

namespace q8::testing {

// input "x" FP32 [N,4] -> Erf -> "y": valid ONNX, op q8serve does not support.
std::string MakeErfModel();

}  // namespace q8::testing
