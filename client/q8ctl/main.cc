// q8ctl entry point: everything else lives in q8ctl_lib (app.h).
#include <iostream>
#include <string>
#include <vector>

#include "client/q8ctl/app.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return q8::client::RunQ8ctl(args, std::cout, std::cerr);
}
