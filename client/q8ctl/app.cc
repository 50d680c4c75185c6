// Argument parsing, usage output, client creation and command dispatch.
#include "client/q8ctl/app.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/q8ctl/cli.h"
#include "client/q8ctl/commands.h"
#include "client/q8ctl/options.h"

namespace q8::client {
namespace {

int PrintError(const absl::Status& status, std::ostream& err) {
  err << "error: " << absl::StatusCodeToString(status.code()) << ": " << status.message() << "\n";
  return kExitError;
}

int UsageError(const std::string& message, const CommandSpec* command, std::ostream& err) {
  err << "error: " << message << "\n\n"
      << (command != nullptr ? CommandUsage(*command) : ShortUsage())
      << (command != nullptr ? "" : "\nRun 'q8ctl --help' for the arguments and flags of every command.\n");
  return kExitUsage;
}

absl::Status Dispatch(const ParsedArgs& args, Client& client, std::ostream& out, std::ostream& err) {
  const std::string& name = args.command->name;
  if (name == "health") return RunHealth(client, out);
  if (name == "list") return RunList(GetListOptions(args), client, out);
  if (name == "upload") {
    absl::StatusOr<UploadOptions> options = GetUploadOptions(args);
    return options.ok() ? RunUpload(*options, client, out, err) : options.status();
  }
  if (name == "report") {
    absl::StatusOr<ReportOptions> options = GetReportOptions(args);
    return options.ok() ? RunReport(*options, client, out) : options.status();
  }
  if (name == "export") {
    absl::StatusOr<ExportOptions> options = GetExportOptions(args);
    return options.ok() ? RunExport(*options, client, out) : options.status();
  }
  if (name == "infer") {
    absl::StatusOr<InferOptions> options = GetInferOptions(args);
    return options.ok() ? RunInfer(*options, client, out) : options.status();
  }
  if (name == "unload" || name == "metadata") {
    absl::StatusOr<ModelOptions> options = GetModelOptions(args);
    if (!options.ok()) return options.status();
    return name == "unload" ? RunUnload(*options, client, out) : RunMetadata(*options, client, out);
  }
  return absl::InternalError(absl::StrCat("command '", name, "' has no implementation"));
}

// Command options are validated before connecting, so that argument mistakes
// are usage errors (exit 2) rather than RPC-time failures.
absl::Status ValidateOptions(const ParsedArgs& args) {
  const std::string& name = args.command->name;
  if (name == "upload") return GetUploadOptions(args).status();
  if (name == "infer") return GetInferOptions(args).status();
  if (name == "report") return GetReportOptions(args).status();
  if (name == "export") return GetExportOptions(args).status();
  if (name == "unload" || name == "metadata") return GetModelOptions(args).status();
  return absl::OkStatus();
}

}  // namespace

int RunQ8ctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const ClientFactory& factory) {
  ParsedArgs parsed;
  absl::Status status = ParseArgs(args, &parsed);
  if (!status.ok()) return UsageError(std::string(status.message()), parsed.command, err);
  if (parsed.help) {
    out << (parsed.command != nullptr ? CommandUsage(*parsed.command) : GeneralUsage());
    return kExitOk;
  }
  absl::StatusOr<ClientOptions> client_options = GetClientOptions(parsed);
  if (!client_options.ok()) return UsageError(std::string(client_options.status().message()), parsed.command, err);
  if (status = ValidateOptions(parsed); !status.ok()) {
    return UsageError(std::string(status.message()), parsed.command, err);
  }

  if (!client_options->security.token.empty() && !client_options->security.tls) {
    err << "q8ctl: warning: the token is sent without TLS (add --tls_ca_file)\n";
  }
  std::unique_ptr<Client> client = factory ? factory(*client_options) : Client::Connect(*client_options);
  status = Dispatch(parsed, *client, out, err);
  if (status.ok()) return kExitOk;
  if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    status = absl::DeadlineExceededError(absl::StrFormat("%s (deadline %gs; raise --timeout_seconds)", status.message(),
                                                         absl::ToDoubleSeconds(client_options->timeout)));
  }
  return PrintError(status, err);
}

}  // namespace q8::client
