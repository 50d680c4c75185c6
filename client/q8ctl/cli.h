// q8ctl's command-line grammar: the command table (names, positional args,
// flags, help text), the parser for `q8ctl <command> [args] [--flags]`, and the
// usage text generated from the same table.
//
// Why a hand-written parser instead of absl flags: absl flags are process-
// global and registered once, while q8ctl's flags are per command (--version is
// an upload integer but an infer/metadata string; --input repeats and may be
// `name=path`), and Abseil 20220623 cannot parse "only the flags of this
// command". A ~200-line table-driven parser validates each command's flags and
// positionals, keeps no global state and is unit-testable.
//
// Accepted syntax: flags anywhere after the program name, as `--key value` or
// `--key=value` (`-` and `_` are interchangeable in names); boolean flags take
// no value (`--typed`, or `--typed=true|false`); `--` ends flag parsing;
// `-h`/`--help` and `q8ctl help [COMMAND]` ask for usage.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace q8::client {

struct FlagSpec {
  std::string name;        // without "--"
  std::string value_name;  // e.g. "N"; empty for a boolean flag
  std::string help;
  bool repeatable = false;
  bool required = false;
};

struct CommandSpec {
  std::string name;
  std::string synopsis;  // arguments and flags after "q8ctl <name>"
  std::vector<std::string> positionals;  // required, in order
  std::string summary;  // one line
  std::string details;  // optional extra paragraph(s)
  std::vector<FlagSpec> flags;
};

const std::vector<CommandSpec>& Commands();
const std::vector<FlagSpec>& GlobalFlags();
const CommandSpec* FindCommand(absl::string_view name);

struct ParsedArgs {
  const CommandSpec* command = nullptr;  // null: no (known) command
  bool help = false;                      // --help, -h or `help`
  std::vector<std::string> positionals;
  std::map<std::string, std::vector<std::string>> flags;  // canonical name -> values

  bool Has(const std::string& flag) const { return flags.count(flag) > 0; }
  // Last value of a flag, if given.
  std::optional<std::string> Get(const std::string& flag) const;
  std::vector<std::string> GetAll(const std::string& flag) const;
  // Boolean flags: given without value or as =true.
  bool GetBool(const std::string& flag) const;
};

// Parses argv without the program name into `out`. Errors are
// INVALID_ARGUMENT. `out->command` is set as soon as the command is known (so
// the caller can print that command's usage after an error). With --help the
// result is OK as long as the command (if any) exists: other errors are
// ignored.
absl::Status ParseArgs(const std::vector<std::string>& args, ParsedArgs* out);

// Overview: the commands with one line each, the global flags, exit statuses.
std::string ShortUsage();
// ShortUsage() followed by each command's usage (what --help prints).
std::string GeneralUsage();
// One command: synopsis, description, its flags and the global flags.
std::string CommandUsage(const CommandSpec& command);

}  // namespace q8::client
