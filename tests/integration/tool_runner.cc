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
  const pid_t pid = Spawn(args, out_path, err_path);
  ToolResult result;
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFileOrDie(out_path);
  result.err = ReadFileOrDie(err_path);
  return result;
}

}  // namespace q8::testing
