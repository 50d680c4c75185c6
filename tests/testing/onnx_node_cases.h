// Picks cases out of ONNX's node conformance suite (Debian libonnx-testdata)
// by the ops their graphs use, for the op-family tests in tests/unit/engine
// that read the cases as raw onnx protos. Test-only.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace q8::testing {

// A file's bytes; empty when it cannot be read (the caller's parse then fails).
std::string ReadFileBytes(const std::string& path);

// The case directories under `node_dir` (names starting "test_") whose
// model.onnx parses, has at least one node, and uses only ops for which
// `keep(op_type)` is true; sorted. Empty when the suite is not installed.
std::vector<std::string> NodeCasesWhere(const std::string& node_dir,
                                        const std::function<bool(const std::string& op_type)>& keep);

}  // namespace q8::testing
