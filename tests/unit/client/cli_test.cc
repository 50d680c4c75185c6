// Argument grammar: every command's required args, flags syntax, errors, help.
#include "client/q8ctl/cli.h"

#include <gtest/gtest.h>

namespace q8::client {
namespace {

absl::Status Parse(std::vector<std::string> args, ParsedArgs* out) { return ParseArgs(args, out); }

ParsedArgs ParseOk(std::vector<std::string> args) {
  ParsedArgs out;
  absl::Status status = ParseArgs(args, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

std::string ParseError(std::vector<std::string> args) {
  ParsedArgs out;
  absl::Status status = ParseArgs(args, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

TEST(CliTest, EveryCommandWithItsRequiredArgs) {
  EXPECT_EQ(ParseOk({"health"}).command->name, "health");
  EXPECT_EQ(ParseOk({"list"}).command->name, "list");
  EXPECT_EQ(ParseOk({"upload", "m", "m.onnx"}).positionals, (std::vector<std::string>{"m", "m.onnx"}));
  EXPECT_EQ(ParseOk({"infer", "m", "--input", "x.npy"}).GetAll("input"), (std::vector<std::string>{"x.npy"}));
  EXPECT_EQ(ParseOk({"unload", "m"}).positionals, (std::vector<std::string>{"m"}));
  EXPECT_EQ(ParseOk({"metadata", "m"}).positionals, (std::vector<std::string>{"m"}));
}

TEST(CliTest, MissingArguments) {
  EXPECT_EQ(ParseError({"upload"}), "'upload' needs NAME");
  EXPECT_EQ(ParseError({"upload", "m"}), "'upload' needs MODEL.onnx");
  EXPECT_EQ(ParseError({"infer", "--input", "x.npy"}), "'infer' needs NAME");
  EXPECT_EQ(ParseError({"infer", "m"}), "'infer' needs --input [TENSOR=]X.npy");
  EXPECT_EQ(ParseError({"unload"}), "'unload' needs NAME");
  EXPECT_EQ(ParseError({"metadata"}), "'metadata' needs NAME");
  EXPECT_EQ(ParseError({}), "no command given");
  EXPECT_EQ(ParseError({"--server", "h:1"}), "no command given");
}

TEST(CliTest, ExtraArgumentsAndUnknownThings) {
  EXPECT_EQ(ParseError({"unload", "a", "b"}), "unexpected argument 'b' for 'unload'");
  EXPECT_EQ(ParseError({"health", "x"}), "unexpected argument 'x' for 'health'");
  EXPECT_EQ(ParseError({"frobnicate"}), "unknown command 'frobnicate'");
  EXPECT_EQ(ParseError({"list", "--typed"}), "unknown flag --typed for 'list'");
  EXPECT_EQ(ParseError({"unload", "m", "--version", "2"}), "unknown flag --version for 'unload'");
  EXPECT_EQ(ParseError({"list", "-x"}), "unknown flag -x (flags start with --)");
}

TEST(CliTest, UnknownCommandLeavesCommandUnset) {
  ParsedArgs out;
  EXPECT_FALSE(Parse({"--server", "h:1", "nope"}, &out).ok());
  EXPECT_EQ(out.command, nullptr);
}

TEST(CliTest, ErrorAfterCommandKeepsCommandForUsage) {
  ParsedArgs out;
  EXPECT_FALSE(Parse({"upload", "m"}, &out).ok());
  ASSERT_NE(out.command, nullptr);
  EXPECT_EQ(out.command->name, "upload");
}

TEST(CliTest, FlagSyntax) {
  ParsedArgs a = ParseOk({"upload", "m", "--version=3", "m.onnx", "--max-batch-size", "8", "--server", "h:9"});
  EXPECT_EQ(a.positionals, (std::vector<std::string>{"m", "m.onnx"}));
  EXPECT_EQ(a.Get("version"), "3");
  EXPECT_EQ(a.Get("max_batch_size"), "8");
  EXPECT_EQ(a.Get("server"), "h:9");
  EXPECT_FALSE(a.Get("config").has_value());

  // Global flags (and command flags) may precede the command.
  ParsedArgs b = ParseOk({"--server", "h:1", "--timeout_seconds=2.5", "metadata", "m"});
  EXPECT_EQ(b.command->name, "metadata");
  EXPECT_EQ(b.Get("timeout_seconds"), "2.5");
  ParsedArgs c = ParseOk({"--version", "7", "metadata", "m"});
  EXPECT_EQ(c.Get("version"), "7");

  // Values may look like flags or be empty.
  EXPECT_EQ(ParseOk({"infer", "m", "--input", "x.npy", "--top_k", "-1"}).Get("top_k"), "-1");
  EXPECT_EQ(ParseOk({"metadata", "m", "--version="}).Get("version"), "");

  // "--" ends flags.
  EXPECT_EQ(ParseOk({"unload", "--", "--weird-name"}).positionals, (std::vector<std::string>{"--weird-name"}));
}

TEST(CliTest, FlagErrors) {
  EXPECT_EQ(ParseError({"metadata", "m", "--version"}), "flag --version needs a value V");
  EXPECT_EQ(ParseError({"metadata", "m", "--version", "1", "--version", "2"}), "flag --version given more than once");
  EXPECT_EQ(ParseError({"list", "--ready=maybe"}), "flag --ready takes no value (or =true / =false), got 'maybe'");
}

TEST(CliTest, BooleanAndRepeatedFlags) {
  ParsedArgs a = ParseOk({"infer", "m", "--input", "a=x.npy", "--typed", "--input=b=y.npy"});
  EXPECT_TRUE(a.GetBool("typed"));
  EXPECT_EQ(a.GetAll("input"), (std::vector<std::string>{"a=x.npy", "b=y.npy"}));
  EXPECT_FALSE(ParseOk({"infer", "m", "--input", "x", "--typed=false"}).GetBool("typed"));
  EXPECT_FALSE(ParseOk({"infer", "m", "--input", "x"}).GetBool("typed"));
  EXPECT_TRUE(ParseOk({"list", "--ready=TRUE"}).GetBool("ready"));
}

TEST(CliTest, Help) {
  ParsedArgs general = ParseOk({"--help"});
  EXPECT_TRUE(general.help);
  EXPECT_EQ(general.command, nullptr);
  EXPECT_TRUE(ParseOk({"-h"}).help);
  EXPECT_TRUE(ParseOk({"help"}).help);

  for (const CommandSpec& command : Commands()) {
    // Help wins over missing arguments and bad flags.
    for (std::vector<std::string> args : {std::vector<std::string>{command.name, "--help"},
                                          std::vector<std::string>{"--help", command.name, "--bogus"},
                                          std::vector<std::string>{command.name, "-h", "a", "b", "c"},
                                          std::vector<std::string>{"help", command.name}}) {
      ParsedArgs out = ParseOk(args);
      EXPECT_TRUE(out.help);
      ASSERT_NE(out.command, nullptr);
      EXPECT_EQ(out.command->name, command.name);
    }
  }
  EXPECT_EQ(ParseError({"help", "nope"}), "unknown command 'nope'");
}

TEST(CliTest, UsageMentionsEveryCommandAndFlag) {
  const std::string general = GeneralUsage();
  EXPECT_NE(general.find("usage: q8ctl <command> [args] [--flags]"), std::string::npos);
  for (const FlagSpec& flag : GlobalFlags()) EXPECT_NE(general.find("--" + flag.name), std::string::npos);
  for (const CommandSpec& command : Commands()) {
    EXPECT_NE(general.find("usage: q8ctl " + command.name), std::string::npos) << command.name;
    const std::string usage = CommandUsage(command);
    EXPECT_EQ(usage.rfind("usage: q8ctl " + command.name, 0), 0u) << usage;
    EXPECT_NE(usage.find("--server HOST:PORT"), std::string::npos);
    for (const std::string& positional : command.positionals) {
      EXPECT_NE(command.synopsis.find(positional), std::string::npos) << command.name << " " << positional;
    }
    for (const FlagSpec& flag : command.flags) {
      // The hand-written synopsis must list every flag of the table.
      EXPECT_NE(command.synopsis.find("--" + flag.name), std::string::npos) << command.name << " --" << flag.name;
      EXPECT_NE(usage.find("--" + flag.name), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace q8::client
