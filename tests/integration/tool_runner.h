// RunTool: runs a client binary (q8bench, ...) as a child process with
// stdout/stderr captured to files under `tmp`, and returns its exit code and
// output. For integration tests that drive the real tools.
#pragma once

#include <string>
#include <vector>

namespace q8::testing {

struct ToolResult {
  int code = -1;  // exit status; -1 if killed by a signal
  std::string out, err;
};

ToolResult RunTool(const std::string& binary, std::vector<std::string> args, const std::string& tmp);

}  // namespace q8::testing
