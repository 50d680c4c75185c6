// fork/exec with redirected output (see tool_runner.h).
#include "tests/integration/tool_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "tests/integration/server_process.h"

namespace q8::testing {

ToolResult RunTool(const std::string& binary, std::vector<std::string> args, const std::string& tmp) {
  static int counter = 0;
  const std::string out_path = tmp + "/tool.out." + std::to_string(counter);
  const std::string err_path = tmp + "/tool.err." + std::to_string(counter++);
  args.insert(args.begin(), binary);
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* out = std::freopen(out_path.c_str(), "w", stdout);
    FILE* err = std::freopen(err_path.c_str(), "w", stderr);
    if (out == nullptr || err == nullptr) std::_Exit(126);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  ToolResult result;
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFileOrDie(out_path);
  result.err = ReadFileOrDie(err_path);
  return result;
}

}  // namespace q8::testing
