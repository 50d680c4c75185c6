#include "server/upload_assembler.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "server/model_repository.h"

namespace q8::server {
namespace {

namespace pb = q8serve::v1;

// File names a streamed upload may carry (relative to the version directory).
bool IsUploadFile(const std::string& path) {
  return path == kModelFileName || path == kCalibrationInputsFile || path == kCalibrationInputsNpzFile ||
         path == kCalibrationLabelsFile;
}

}  // namespace

absl::StatusOr<UploadAssembler> UploadAssembler::Start(const pb::UploadHeader& header, int64_t max_upload_bytes) {
  const std::string& name = header.model_name();
  Q8_RETURN_IF_ERROR(ValidateModelName(name));
  UploadAssembler out;
  out.version_ = header.version() == 0 ? 1 : header.version();
  if (!ParseVersion(std::to_string(out.version_))) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload of model '", name, "': version must be in [1, 2^53), got ", header.version()));
  }
  if (header.total_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload of model '", name, "': total_bytes must be >= 0, got ", header.total_bytes()));
  }
  out.config_bytes_ = header.has_config_json() ? static_cast<int64_t>(header.config_json().size()) : 0;
  // Checked addition: a hostile total_bytes near 2^63 must not overflow (it did before, UB).
  int64_t announced = 0;
  if (__builtin_add_overflow(header.total_bytes(), out.config_bytes_, &announced)) {
    announced = std::numeric_limits<int64_t>::max();
  }
  if (announced > max_upload_bytes) return UploadTooLarge(name, announced, max_upload_bytes);
  out.header_ = header;
  out.max_upload_bytes_ = max_upload_bytes;
  return out;
}

absl::Status UploadAssembler::Add(pb::FileChunk* chunk) {
  if (!IsUploadFile(chunk->path())) {
    return absl::InvalidArgumentError(absl::StrCat("upload of model '", name(), "': unsupported file '", chunk->path(),
                                                   "'; expected ", kModelFileName, ", ", kCalibrationInputsFile, ", ",
                                                   kCalibrationInputsNpzFile, " or ", kCalibrationLabelsFile));
  }
  received_ += static_cast<int64_t>(chunk->data().size());
  if (received_ + config_bytes_ > max_upload_bytes_) {
    return UploadTooLarge(name(), received_ + config_bytes_, max_upload_bytes_);
  }
  std::string& file = files_[chunk->path()];
  if (file.empty()) {
    file = std::move(*chunk->mutable_data());
  } else {
    file.append(chunk->data());
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadRequest> UploadAssembler::Finish() const {
  if (header_.total_bytes() > 0 && received_ != header_.total_bytes()) {
    return absl::InvalidArgumentError(absl::StrCat("upload of model '", name(), "' ended after ", received_,
                                                   " bytes but the header announced ", header_.total_bytes()));
  }
  if (files_.count(std::string(kModelFileName)) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("upload of model '", name(), "' has no ", kModelFileName));
  }
  UploadFiles collected;
  for (const auto& [path, bytes] : files_) {
    Q8_RETURN_IF_ERROR(collected.Add(absl::StrCat(version_, "/", path), bytes, path));
  }
  LoadRequest request;
  request.name = name();
  if (header_.has_config_json()) request.config_json = header_.config_json();
  Q8_ASSIGN_OR_RETURN(request.files, collected.Finish());
  return request;
}

}  // namespace q8::server
