// Command table, argument parser and usage text of q8ctl (see cli.h).
#include "client/q8ctl/cli.h"

#include <algorithm>
#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace q8::client {
namespace {

std::vector<CommandSpec> BuildCommands() {
  return {
      {"health",
       "",
       {},
       "Check that the server is live and ready; print its name, version and extensions.",
       "Exit status 0 when the server is live and ready, 1 otherwise.",
       {}},
      {"list",
       "[--ready]",
       {},
       "List the repository's models as a table: name, version, state, reason.",
       "",
       {{"ready", "", "only models that are READY"}}},
      {"upload",
       "NAME MODEL.onnx [--version N] [--config CONFIG.json | --max_batch_size N] "
       "[--quantization auto|static|dynamic|none] [--calibration INPUTS.npy|INPUTS.npz [--labels LABELS.npy]] "
       "[--method M] [--percentile P] [--max_samples N] [--metric top1|agreement] [--max_drop X] "
       "[--eval_fraction F] [--fallback auto|bf16|fp32]",
       {"NAME", "MODEL.onnx"},
       "Upload a float ONNX model; the server quantizes it and loads it.",
       "Streams the model (and calibration data) with q8serve.v1.ModelService/Upload in 1 MiB\n"
       "chunks, shows the server's progress on stderr (bytes received, then the quantization\n"
       "stages calibration / quantization / evaluation / fallback / benchmark) and prints the\n"
       "quantization report: per-layer precision and SQNR, fp32 vs int8 accuracy, weight sizes\n"
       "and latency. The config is the --config file (else {} or {\"max_batch_size\": N});\n"
       "quantization flags override the same keys of its \"quantization\" section.\n"
       "With --calibration (float32 samples shaped like the model input, [N, ...]; --labels adds\n"
       "int64 class ids [N] for a top-1 check) the model is quantized statically before it serves.\n"
       "Models with several inputs (token ids + mask) take an .npz (numpy.savez) with one array\n"
       "per input name, or \"<group>/<input>\" keys for several shape groups (README, Quantization).\n"
       "Without it (mode auto, the default) it serves at once in fp32 or dynamic int8, calibrates\n"
       "on the inputs of its first requests (config quantization.live) and then serves static int8.\n"
       "Raise --timeout_seconds for large models: the call returns when the model serves.",
       {{"version", "N", "model version to create (default 1)"},
        {"config", "CONFIG.json", "model configuration JSON file"},
        {"max_batch_size", "N", "config {\"max_batch_size\": N} (when no --config is given)"},
        {"quantization", "MODE", "auto (default), static, dynamic or none (serve fp32)"},
        {"calibration", "INPUTS.npy|.npz",
         "calibration/evaluation samples ([N, ...] like the model input; .npz: one array per input)"},
        {"labels", "LABELS.npy", "class ids of the samples (int64 [N]); enables the top1 metric"},
        {"method", "M", "calibration method: minmax, percentile (default), entropy, mse"},
        {"percentile", "P", "percentile for --method percentile (default 99.99)"},
        {"max_samples", "N", "calibration samples used at most (default 512)"},
        {"metric", "METRIC", "accuracy metric: top1 (default with labels) or agreement"},
        {"max_drop", "X", "largest accepted accuracy drop, absolute (default 0.01)"},
        {"eval_fraction", "F", "share of the samples held out for the accuracy check (default 0.2)"},
        {"fallback", "P",
         "where layers failing the check go: auto (bf16 where the CPU has it, then fp32), bf16, fp32"}}},
      {"report",
       "NAME [--version V] [--json]",
       {"NAME"},
       "Print what a model version serves and why, and its quantization report.",
       "The first line says what serves now: \"calibrating (137/512 samples)\", \"int8 (calibrated on\n"
       "512 live samples at TIME)\", \"fp32 (live calibration off)\" or the quantization summary.",
       {{"version", "V", "model version (default: the highest ready one)"},
        {"json", "", "print the report JSON as stored by the server"}}},
      {"export",
       "NAME OUT.onnx [--version V]",
       {"NAME", "OUT.onnx"},
       "Save the served model as a standard QDQ ONNX file (QuantizeLinear/DequantizeLinear).",
       "Any ONNX runtime can run the file; fp32 models export their optimized float graph.",
       {{"version", "V", "model version (default: the highest ready one)"}}},
      {"infer",
       "NAME --input [TENSOR=]X.npy [--input ...] [--output Y.npy] [--version V] [--top_k K] [--typed]",
       {"NAME"},
       "Run inference on .npy inputs; save the first output and print its top-k classes.",
       "A model with one input takes --input X.npy (the name comes from ModelMetadata);\n"
       "models with several inputs take one --input TENSOR=X.npy per input.\n"
       "If the first output is 2-D [batch, classes], prints per row the top-k class\n"
       "indices with scores and softmax probabilities.",
       {{"input", "[TENSOR=]X.npy", "input tensor (.npy, any dtype)", /*repeatable=*/true, /*required=*/true},
        {"output", "Y.npy", "write the first output to this .npy file"},
        {"version", "V", "model version (default: the server's choice)"},
        {"top_k", "K", "classes to print per row (default 5; 0 disables)"},
        {"typed", "", "send typed contents (fp32_contents, ...) instead of raw_input_contents"}}},
      {"unload", "NAME", {"NAME"}, "Unload a model (all its versions).", "", {}},
      {"metadata",
       "NAME [--version V]",
       {"NAME"},
       "Print a model's platform, versions, inputs and outputs (datatype, shape) and properties.",
       "",
       {{"version", "V", "model version (default: the server's choice)"}}},
  };
}

const FlagSpec* FindIn(const std::vector<FlagSpec>& flags, absl::string_view name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

const FlagSpec* FindFlag(const CommandSpec* command, absl::string_view name) {
  if (const FlagSpec* flag = FindIn(GlobalFlags(), name)) return flag;
  return command == nullptr ? nullptr : FindIn(command->flags, name);
}

// True if some command (or the global set) has a flag `name` that takes a value.
bool TakesValueSomewhere(absl::string_view name) {
  if (const FlagSpec* flag = FindIn(GlobalFlags(), name)) return !flag->value_name.empty();
  for (const CommandSpec& command : Commands()) {
    if (const FlagSpec* flag = FindIn(command.flags, name)) {
      if (!flag->value_name.empty()) return true;
    }
  }
  return false;
}

bool IsFlagToken(absl::string_view token) { return token.size() > 1 && token[0] == '-'; }

// "--top-k=3" -> name "top_k", value "3".
void SplitFlag(absl::string_view token, std::string* name, std::optional<std::string>* value) {
  absl::string_view body = token;
  while (absl::ConsumePrefix(&body, "-")) {
  }
  const size_t eq = body.find('=');
  *name = std::string(body.substr(0, eq));
  std::replace(name->begin(), name->end(), '-', '_');
  if (eq != absl::string_view::npos) {
    *value = std::string(body.substr(eq + 1));
  } else {
    value->reset();
  }
}

std::string FlagLabel(const FlagSpec& flag) {
  std::string label = absl::StrCat("--", flag.name);
  if (flag.name == "help") absl::StrAppend(&label, ", -h");
  if (!flag.value_name.empty()) absl::StrAppend(&label, " ", flag.value_name);
  return label;
}

void AppendFlagTable(const std::vector<FlagSpec>& flags, std::string* out) {
  size_t width = 0;
  for (const FlagSpec& flag : flags) width = std::max(width, FlagLabel(flag).size());
  for (const FlagSpec& flag : flags) {
    const std::string label = FlagLabel(flag);
    std::string help = flag.help;
    if (flag.repeatable) absl::StrAppend(&help, " (repeatable)");
    if (flag.required) absl::StrAppend(&help, " (required)");
    absl::StrAppend(out, "  ", label, std::string(width + 2 - label.size(), ' '), help, "\n");
  }
}

std::string Synopsis(const CommandSpec& command) {
  std::string line = absl::StrCat("q8ctl ", command.name);
  if (!command.synopsis.empty()) absl::StrAppend(&line, " ", command.synopsis);
  return line;
}

}  // namespace

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>(BuildCommands());
  return *commands;
}

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"server", "HOST:PORT", "server address (default localhost:8001)"},
      {"timeout_seconds", "S", "deadline of every RPC in seconds (default 60)"},
      {"token_file", "FILE", "send the (first) token of FILE as 'authorization: Bearer <token>'"},
      {"tls_ca_file", "FILE", "use TLS, trusting the CA certificate(s) in FILE (default with TLS: system roots)"},
      {"tls_cert_file", "FILE", "use TLS with this client certificate (mutual TLS; needs --tls_key_file)"},
      {"tls_key_file", "FILE", "private key of --tls_cert_file"},
      {"help", "", "print usage and exit"},
  };
  return *flags;
}

const CommandSpec* FindCommand(absl::string_view name) {
  for (const CommandSpec& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

std::optional<std::string> ParsedArgs::Get(const std::string& flag) const {
  auto it = flags.find(flag);
  if (it == flags.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& flag) const {
  auto it = flags.find(flag);
  return it == flags.end() ? std::vector<std::string>{} : it->second;
}

bool ParsedArgs::GetBool(const std::string& flag) const {
  std::optional<std::string> value = Get(flag);
  return value.has_value() && *value == "true";
}

absl::Status ParseArgs(const std::vector<std::string>& args, ParsedArgs* out) {
  *out = ParsedArgs();
  absl::Status first_error;
  auto fail = [&first_error](std::string message) {
    if (first_error.ok()) first_error = absl::InvalidArgumentError(message);
  };

  // Pass 1: the command word is the first token that is neither a flag nor a
  // flag's value (flags may come before the command).
  size_t command_index = args.size();
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") {
      command_index = i + 1;
      break;
    }
    if (!IsFlagToken(args[i])) {
      command_index = i;
      break;
    }
    std::string name;
    std::optional<std::string> value;
    SplitFlag(args[i], &name, &value);
    if (!value.has_value() && TakesValueSomewhere(name)) ++i;
  }
  bool help_word = false;
  if (command_index < args.size()) {
    const std::string& word = args[command_index];
    if (word == "help") {
      help_word = true;
      out->help = true;
    } else {
      out->command = FindCommand(word);
      if (out->command == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown command '", word, "'"));
    }
  }

  // Pass 2: flags and positionals, checked against the command's table.
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i == command_index) continue;
    const std::string& token = args[i];
    if (!flags_done && token == "--") {
      flags_done = true;
      continue;
    }
    if (flags_done || !IsFlagToken(token)) {
      if (help_word && out->command == nullptr) {
        out->command = FindCommand(token);
        if (out->command == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown command '", token, "'"));
        continue;
      }
      out->positionals.push_back(token);
      continue;
    }
    if (token == "-h") {
      out->help = true;
      continue;
    }
    std::string name;
    std::optional<std::string> value;
    SplitFlag(token, &name, &value);
    if (!absl::StartsWith(token, "--")) {
      fail(absl::StrCat("unknown flag ", token, " (flags start with --)"));
      continue;
    }
    if (name == "help") {
      out->help = true;
      continue;
    }
    const FlagSpec* flag = FindFlag(out->command, name);
    if (flag == nullptr) {
      fail(out->command == nullptr ? absl::StrCat("unknown flag --", name)
                                   : absl::StrCat("unknown flag --", name, " for '", out->command->name, "'"));
      if (!value.has_value() && TakesValueSomewhere(name)) ++i;
      continue;
    }
    if (flag->value_name.empty()) {
      if (!value.has_value()) value = "true";
      *value = absl::AsciiStrToLower(*value);
      if (*value != "true" && *value != "false") {
        fail(absl::StrCat("flag --", name, " takes no value (or =true / =false), got '", *value, "'"));
        continue;
      }
    } else if (!value.has_value()) {
      if (i + 1 >= args.size()) {
        fail(absl::StrCat("flag --", name, " needs a value ", flag->value_name));
        continue;
      }
      value = args[++i];
    }
    if (!flag->repeatable && out->Has(name)) {
      fail(absl::StrCat("flag --", name, " given more than once"));
      continue;
    }
    out->flags[name].push_back(*value);
  }

  if (out->help) return absl::OkStatus();
  if (!first_error.ok()) return first_error;
  if (out->command == nullptr) return absl::InvalidArgumentError("no command given");
  const CommandSpec& command = *out->command;
  if (out->positionals.size() < command.positionals.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", command.name, "' needs ", command.positionals[out->positionals.size()]));
  }
  if (out->positionals.size() > command.positionals.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument '", out->positionals[command.positionals.size()], "' for '", command.name, "'"));
  }
  for (const FlagSpec& flag : command.flags) {
    if (flag.required && !out->Has(flag.name)) {
      return absl::InvalidArgumentError(absl::StrCat("'", command.name, "' needs --", flag.name, " ", flag.value_name));
    }
  }
  return absl::OkStatus();
}

namespace {

std::string CommandUsageImpl(const CommandSpec& command, bool with_global_flags) {
  std::string out = absl::StrCat("usage: ", Synopsis(command), "\n\n", command.summary, "\n");
  if (!command.details.empty()) absl::StrAppend(&out, command.details, "\n");
  if (!command.flags.empty()) {
    absl::StrAppend(&out, "\nflags:\n");
    AppendFlagTable(command.flags, &out);
  }
  if (with_global_flags) {
    absl::StrAppend(&out, "\nglobal flags:\n");
    AppendFlagTable(GlobalFlags(), &out);
  }
  return out;
}

}  // namespace

std::string CommandUsage(const CommandSpec& command) { return CommandUsageImpl(command, true); }

std::string ShortUsage() {
  std::string out =
      "q8ctl: command-line client for q8serve (Open Inference Protocol / KServe v2 over gRPC)\n\n"
      "usage: q8ctl <command> [args] [--flags]\n\ncommands:\n";
  size_t width = 4;  // "help"
  for (const CommandSpec& command : Commands()) width = std::max(width, command.name.size());
  for (const CommandSpec& command : Commands()) {
    absl::StrAppend(&out, "  ", command.name, std::string(width + 2 - command.name.size(), ' '), command.summary, "\n");
  }
  absl::StrAppend(&out, "  help", std::string(width - 2, ' '),
                  "Print usage of every command, or of one: help COMMAND\n");
  absl::StrAppend(&out, "\nglobal flags (accepted by every command):\n");
  AppendFlagTable(GlobalFlags(), &out);
  absl::StrAppend(&out,
                  "\nflags: --key value or --key=value; boolean flags take no value.\n"
                  "exit status: 0 ok, 1 error (printed as 'error: <CODE>: <message>'), 2 usage error.\n");
  return out;
}

std::string GeneralUsage() {
  std::string out = ShortUsage();
  for (const CommandSpec& command : Commands()) {
    absl::StrAppend(&out, "\n", CommandUsageImpl(command, false));
  }
  return out;
}

}  // namespace q8::client
