// The q8ctl commands. Each runs one user action through a Client and prints
// its result to `out`; errors come back as absl::Status (the caller prints
// them as "error: <CODE>: <message>").
#pragma once

#include <ostream>

#include "absl/status/status.h"
#include "client/q8ctl/client.h"
#include "client/q8ctl/options.h"

namespace q8::client {

// cmd_server.cc: server and repository queries.
// health fails with UNAVAILABLE (after printing) if the server is not live/ready.
absl::Status RunHealth(Client& client, std::ostream& out);
absl::Status RunList(const ListOptions& options, Client& client, std::ostream& out);
absl::Status RunMetadata(const ModelOptions& options, Client& client, std::ostream& out);

// cmd_model.cc: model lifecycle. Upload shows live progress on `err`.
absl::Status RunUpload(const UploadOptions& options, Client& client, std::ostream& out, std::ostream& err);
absl::Status RunReport(const ReportOptions& options, Client& client, std::ostream& out);
absl::Status RunExport(const ExportOptions& options, Client& client, std::ostream& out);
absl::Status RunUnload(const ModelOptions& options, Client& client, std::ostream& out);

// cmd_infer.cc: inference from .npy files.
absl::Status RunInfer(const InferOptions& options, Client& client, std::ostream& out);

}  // namespace q8::client
