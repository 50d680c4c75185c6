// q8ctl's top level: parse arguments, print usage, connect, dispatch to the
// command, map the outcome to an exit status. main() and the tests call it.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "client/q8ctl/client.h"

namespace q8::client {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // RPC or I/O failure: "error: <CODE>: <message>"
inline constexpr int kExitUsage = 2;  // bad command line

using ClientFactory = std::function<std::unique_ptr<Client>(const ClientOptions&)>;

// `args` excludes the program name. The factory defaults to Client::Connect.
int RunQ8ctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
             const ClientFactory& factory = nullptr);

}  // namespace q8::client
