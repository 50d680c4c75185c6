// Upload parsing: RepositoryModelLoad parameters ("config", "file:<path>")
// -> LoadRequest, with the upload size limit. Checks only the shape of what
// arrived; building and publishing versions is ModelLoader's (model_loader.cc).
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/status_macros.h"
#include "server/model_loader.h"

namespace q8::server {
namespace {

constexpr absl::string_view kConfigParam = "config";
constexpr absl::string_view kFilePrefix = "file:";
constexpr absl::string_view kCalibrationDir = "calibration/";

}  // namespace

absl::Status UploadFiles::Add(absl::string_view path, absl::string_view bytes, std::string label) {
  const std::string accepted =
      "expected <version>/model.onnx, [<version>/]calibration/inputs.npy, [<version>/]calibration/inputs.npz or "
      "[<version>/]calibration/labels.npy";
  std::optional<int64_t> version;  // unset: calibration shared by every version
  absl::string_view rest = path;
  if (!absl::StartsWith(path, kCalibrationDir)) {
    const size_t slash = path.find('/');
    version = slash == absl::string_view::npos ? std::nullopt : ParseVersion(path.substr(0, slash));
    if (!version) {
      return absl::InvalidArgumentError(
          absl::StrCat("upload file '", label, "': ", accepted, ", with a numeric version >= 1"));
    }
    rest = path.substr(slash + 1);
  }
  const bool is_model = rest == kModelFileName && version.has_value();
  // inputs.npy and inputs.npz are two forms of the same data: one slot.
  const bool is_inputs = rest == kCalibrationInputsFile || rest == kCalibrationInputsNpzFile;
  if (!is_model && !is_inputs && rest != kCalibrationLabelsFile) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload file '", label, "': unsupported file '", rest, "'; ", accepted));
  }
  // The version entry is created only for a valid file: Finish() relies on
  // every entry holding at least one file.
  Pending* target = version ? &versions_[*version] : &shared_;
  std::optional<UploadedFile>* slot = is_model ? &target->model : is_inputs ? &target->inputs : &target->labels;
  if (slot->has_value()) {
    if (is_inputs && (*slot)->label != label) {
      return absl::InvalidArgumentError(absl::StrCat("upload files '", (*slot)->label, "' and '", label,
                                                     "': give calibration inputs once, as .npy or as .npz"));
    }
    return absl::InvalidArgumentError(absl::StrCat("upload file '", label, "' given twice"));
  }
  *slot = UploadedFile{bytes, std::move(label)};
  return absl::OkStatus();
}

absl::StatusOr<std::map<int64_t, UploadedVersion>> UploadFiles::Finish() const {
  std::map<int64_t, UploadedVersion> out;
  for (const auto& [version, pending] : versions_) {
    if (!pending.model) {
      const UploadedFile& any = pending.inputs ? *pending.inputs : *pending.labels;
      return absl::InvalidArgumentError(absl::StrCat("upload file '", any.label, "': version ", version,
                                                     " has calibration data but no ", kModelFileName));
    }
    if (pending.labels && !pending.inputs) {
      return absl::InvalidArgumentError(absl::StrCat("upload file '", pending.labels->label,
                                                     "': labels need calibration inputs (", version, "/",
                                                     kCalibrationInputsFile, ")"));
    }
    UploadedVersion v;
    v.model = *pending.model;
    const Pending& calibration = pending.inputs ? pending : shared_;
    v.calibration_inputs = calibration.inputs;
    v.calibration_labels = calibration.labels;
    if (v.calibration_labels && !v.calibration_inputs) {
      return absl::InvalidArgumentError(absl::StrCat("upload file '", v.calibration_labels->label,
                                                     "': labels need calibration inputs (", kCalibrationInputsFile,
                                                     ")"));
    }
    out.emplace(version, std::move(v));
  }
  if (out.empty() && (shared_.inputs || shared_.labels)) {
    const UploadedFile& any = shared_.inputs ? *shared_.inputs : *shared_.labels;
    return absl::InvalidArgumentError(
        absl::StrCat("upload file '", any.label, "': calibration data needs a model in the same upload"));
  }
  return out;
}

absl::Status UploadTooLarge(absl::string_view name, int64_t total, int64_t limit) {
  return absl::ResourceExhaustedError(absl::StrCat("upload of model '", name, "' is ", total,
                                                   " bytes, over the server's upload limit of ", limit,
                                                   " bytes (--max_upload_bytes)"));
}

absl::StatusOr<LoadRequest> ParseLoadRequest(const inference::RepositoryModelLoadRequest& request,
                                             int64_t max_upload_bytes) {
  LoadRequest out;
  out.name = request.model_name();
  Q8_RETURN_IF_ERROR(ValidateModelName(out.name));
  int64_t total = 0;
  UploadFiles files;
  for (const auto& [key, param] : request.parameters()) {
    if (key == kConfigParam) {
      if (param.parameter_choice_case() != inference::ModelRepositoryParameter::kStringParam) {
        return absl::InvalidArgumentError("load parameter 'config' must be a string_param holding JSON");
      }
      out.config_json = param.string_param();
      total += static_cast<int64_t>(param.string_param().size());
      continue;
    }
    absl::string_view path = key;
    if (!absl::ConsumePrefix(&path, kFilePrefix)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown load parameter '", key,
                                                     "'; expected 'config' or 'file:<version>/model.onnx' "
                                                     "(plus optional 'file:calibration/inputs.npy' or "
                                                     "'file:calibration/inputs.npz', 'file:calibration/labels.npy')"));
    }
    if (param.parameter_choice_case() != inference::ModelRepositoryParameter::kBytesParam) {
      return absl::InvalidArgumentError(absl::StrCat("load parameter '", key, "' must be a bytes_param"));
    }
    Q8_RETURN_IF_ERROR(files.Add(path, param.bytes_param(), key));
    total += static_cast<int64_t>(param.bytes_param().size());
  }
  if (total > max_upload_bytes) return UploadTooLarge(out.name, total, max_upload_bytes);
  Q8_ASSIGN_OR_RETURN(out.files, files.Finish());
  return out;
}

}  // namespace q8::server
