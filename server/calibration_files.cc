// Calibration files of an upload or a version directory -> engine data.
#include "server/calibration_files.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/npy.h"
#include "core/npz.h"
#include "core/status_macros.h"

namespace q8::server {
namespace {

// .npy bytes -> tensor; any parse failure is INVALID_ARGUMENT naming the file.
absl::StatusOr<core::Tensor> ParseNpyFile(const UploadedFile& file) {
  auto tensor = core::ParseNpy(file.bytes);
  if (!tensor.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.label, " is not a valid .npy file: ", tensor.status().message()));
  }
  return tensor;
}

}  // namespace

absl::StatusOr<engine::CalibrationData> ParseCalibration(const UploadedFile& inputs,
                                                         const std::optional<UploadedFile>& labels, int64_t max_bytes) {
  engine::CalibrationData data;
  if (absl::EndsWith(inputs.label, ".npz")) {
    core::ZipLimits limits;
    limits.max_total_bytes = max_bytes;
    auto arrays = core::ParseNpz(inputs.bytes, limits);
    if (!arrays.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(inputs.label, " is not a valid .npz file: ", arrays.status().message()));
    }
    auto grouped = engine::CalibrationFromNpz(*std::move(arrays));
    if (!grouped.ok()) {
      return absl::Status(grouped.status().code(), absl::StrCat(inputs.label, ": ", grouped.status().message()));
    }
    data = *std::move(grouped);
    if (labels) {
      if (data.groups.size() != 1 || data.groups[0].labels) {
        return absl::InvalidArgumentError(absl::StrCat(
            labels->label, ": labels.npy goes with an inputs.npz of one group without '", engine::kLabelsKey,
            "'; give each group's labels as '<group>/", engine::kLabelsKey, "' in the archive"));
      }
      Q8_ASSIGN_OR_RETURN(core::Tensor y, ParseNpyFile(*labels));
      data.groups[0].labels = std::move(y);
    }
    return data;
  }
  Q8_ASSIGN_OR_RETURN(data.inputs, ParseNpyFile(inputs));
  if (labels) {
    Q8_ASSIGN_OR_RETURN(core::Tensor y, ParseNpyFile(*labels));
    data.labels = std::move(y);
  }
  return data;
}

}  // namespace q8::server
