// upload and unload: model lifecycle through the repository extension.
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/q8ctl/commands.h"
#include "client/q8ctl/requests.h"

namespace q8::client {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream bytes;
  bytes << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return std::move(bytes).str();
}

}  // namespace

absl::Status RunUpload(const UploadOptions& options, Client& client, std::ostream& out) {
  absl::StatusOr<std::string> model = ReadFile(options.model_path);
  if (!model.ok()) return model.status();
  if (model->empty()) return absl::InvalidArgumentError(absl::StrCat(options.model_path, " is empty"));
  // Leave room for the config and the message framing.
  if (model->size() > static_cast<size_t>(kMaxMessageBytes) - (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(options.model_path, " is ", model->size(),
                                                   " bytes; uploads are limited to 1 GiB"));
  }
  std::string config = DefaultConfigJson(options.max_batch_size);
  if (options.config_path.has_value()) {
    absl::StatusOr<std::string> text = ReadFile(*options.config_path);
    if (!text.ok()) return text.status();
    config = *std::move(text);
  }
  const size_t model_bytes = model->size();
  inference::RepositoryModelLoadRequest request =
      BuildLoadRequest(options.name, options.version, *std::move(model), std::move(config));

  const absl::Time start = absl::Now();
  absl::Status status = client.RepositoryModelLoad(request);
  const absl::Duration took = absl::Now() - start;
  if (!status.ok()) return status;
  out << absl::StrFormat("uploaded %s version %d (%.1f MiB) in %.2f s\n", options.name, options.version,
                         static_cast<double>(model_bytes) / (1 << 20), absl::ToDoubleSeconds(took));
  return absl::OkStatus();
}

absl::Status RunUnload(const ModelOptions& options, Client& client, std::ostream& out) {
  absl::Status status = client.RepositoryModelUnload(options.name);
  if (!status.ok()) return status;
  out << "unloaded " << options.name << "\n";
  return absl::OkStatus();
}

}  // namespace q8::client
