// health, list and metadata: read-only queries, printed for humans.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/q8ctl/commands.h"

namespace q8::client {
namespace {

std::string ShapeText(const google::protobuf::RepeatedField<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// Left-aligned columns separated by two spaces; the header row comes first.
void PrintTable(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&line, row[c]);
      if (c + 1 < row.size()) line.append(width[c] - row[c].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

void PrintTensors(const char* title,
                  const google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>& tensors,
                  std::ostream& out) {
  out << title << ":\n";
  if (tensors.empty()) {
    out << "  (none)\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : tensors) rows.push_back({absl::StrCat("  ", t.name()), t.datatype(), ShapeText(t.shape())});
  PrintTable(rows, out);
}

}  // namespace

absl::Status RunHealth(Client& client, std::ostream& out) {
  absl::StatusOr<bool> live = client.ServerLive();
  if (!live.ok()) return live.status();
  absl::StatusOr<bool> ready = client.ServerReady();
  if (!ready.ok()) return ready.status();
  out << "live:       " << (*live ? "true" : "false") << "\n";
  out << "ready:      " << (*ready ? "true" : "false") << "\n";
  absl::StatusOr<inference::ServerMetadataResponse> metadata = client.ServerMetadata();
  if (!metadata.ok()) return metadata.status();
  out << "name:       " << metadata->name() << "\n";
  out << "version:    " << metadata->version() << "\n";
  out << "extensions: " << absl::StrJoin(metadata->extensions(), ", ") << "\n";
  if (!*live || !*ready) {
    return absl::UnavailableError(absl::StrCat("server is ", *live ? "live but not ready" : "not live"));
  }
  return absl::OkStatus();
}

absl::Status RunList(const ListOptions& options, Client& client, std::ostream& out) {
  absl::StatusOr<inference::RepositoryIndexResponse> index = client.RepositoryIndex(options.ready_only);
  if (!index.ok()) return index.status();
  if (index->models().empty()) {
    out << "(no models)\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "VERSION", "STATE", "REASON"}};
  for (const auto& model : index->models()) {
    rows.push_back({model.name(), model.version().empty() ? "-" : model.version(), model.state(), model.reason()});
  }
  PrintTable(rows, out);
  return absl::OkStatus();
}

absl::Status RunMetadata(const ModelOptions& options, Client& client, std::ostream& out) {
  absl::StatusOr<inference::ModelMetadataResponse> metadata = client.ModelMetadata(options.name, options.version);
  if (!metadata.ok()) return metadata.status();
  out << "name:     " << metadata->name() << "\n";
  out << "platform: " << metadata->platform() << "\n";
  out << "versions: " << absl::StrJoin(metadata->versions(), ", ") << "\n";
  PrintTensors("inputs", metadata->inputs(), out);
  PrintTensors("outputs", metadata->outputs(), out);
  out << "properties:\n";
  if (metadata->properties().empty()) out << "  (none)\n";
  std::vector<std::pair<std::string, std::string>> properties(metadata->properties().begin(),
                                                              metadata->properties().end());
  std::sort(properties.begin(), properties.end());
  for (const auto& [key, value] : properties) {
    // The full report is long JSON; `q8ctl report` formats it.
    if (key == "quantization_report") {
      out << "  " << key << ": (" << value.size() << " bytes of JSON; see 'q8ctl report " << options.name << "')\n";
      continue;
    }
    out << "  " << key << ": " << value << "\n";
  }
  return absl::OkStatus();
}

}  // namespace q8::client
