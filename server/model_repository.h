// ModelRepository: the on-disk layout of uploaded models, and nothing else
// (no compiling, no serving state).
//
//   ROOT/<model>/config.json            optional; see model_config.h
//   ROOT/<model>/<version>/model.onnx   <version> is a decimal integer >= 1;
//                                       the float model as uploaded
//   ROOT/<model>/<version>/quantization.json   engine artifact (scales): the
//                                       version reloads without calibration
//   ROOT/<model>/<version>/report.json  quantization report
//   ROOT/<model>/<version>/calibration/inputs.npy, labels.npy
//                                       optional, placed by hand: calibration
//                                       data for a version without artifact
//   ROOT/<model>/UNLOADED               marker: the model was unloaded; a
//                                       restart lists it but does not load it
//
// Every write is atomic: the bytes go to a temp file in the destination
// directory (".<name>.tmp-<pid>-<n>"), which is fsync'ed, renamed over the
// final name, and the directory is fsync'ed. A crash leaves either the old
// file or the new one, plus possibly a stale temp file that ScanModel()
// deletes once it is older than kStaleTempFileAge (replicas sharing the
// directory must not delete each other's writes in progress). Directories whose name is not a valid model name/version, and
// files other than the ones above, are ignored.
//
// Thread safety: methods may be called concurrently for different models;
// callers serialize operations on one model (ModelRegistry's per-name guard).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace q8::server {

inline constexpr absl::string_view kModelFileName = "model.onnx";
inline constexpr absl::string_view kConfigFileName = "config.json";
inline constexpr absl::string_view kUnloadedMarker = "UNLOADED";
inline constexpr absl::string_view kArtifactFileName = "quantization.json";
inline constexpr absl::string_view kReportFileName = "report.json";
inline constexpr absl::string_view kCalibrationInputsFile = "calibration/inputs.npy";
inline constexpr absl::string_view kCalibrationLabelsFile = "calibration/labels.npy";
// A temp file untouched for this long is left over from a crash.
inline constexpr int64_t kStaleTempFileAgeSeconds = 600;

// ".model.onnx.tmp-<pid>-<n>": a write in progress (or a crash's leftover).
bool IsTempFileName(absl::string_view filename);

// Model names double as directory names and health service names:
// 1-128 chars of [A-Za-z0-9_.-], not starting with '.'. INVALID_ARGUMENT otherwise.
absl::Status ValidateModelName(absl::string_view name);
// "7" -> 7. Versions are decimal integers in [1, 2^53); anything else is nullopt.
std::optional<int64_t> ParseVersion(absl::string_view text);

// Writes `bytes` to `path` atomically (see above); creates no directories.
absl::Status AtomicWriteFile(const std::string& path, absl::string_view bytes);
absl::StatusOr<std::string> ReadFile(const std::string& path);

struct ScannedModel {
  std::string name;
  std::vector<int64_t> versions;  // ascending; only dirs that hold model.onnx
  bool unloaded = false;
  bool has_config = false;
};

class ModelRepository {
 public:
  explicit ModelRepository(std::string root) : root_(std::move(root)) {}

  // Creates the root directory if it does not exist.
  absl::Status Init() const;
  const std::string& root() const { return root_; }

  // Every model directory, sorted by name.
  absl::StatusOr<std::vector<ScannedModel>> Scan() const;
  // One model; NOT_FOUND if its directory does not exist. Removes stale temp
  // files (older than kStaleTempFileAge: a younger one may be another
  // replica's write in progress) unless `remove_stale_temp_files` is false.
  absl::StatusOr<ScannedModel> ScanModel(absl::string_view name, bool remove_stale_temp_files = true) const;

  // nullopt when the model has no config.json.
  absl::StatusOr<std::optional<std::string>> ReadConfig(absl::string_view name) const;
  absl::StatusOr<std::string> ReadModel(absl::string_view name, int64_t version) const;

  absl::Status WriteConfig(absl::string_view name, absl::string_view json) const;
  absl::Status WriteModel(absl::string_view name, int64_t version, absl::string_view bytes) const;
  absl::Status SetUnloaded(absl::string_view name, bool unloaded) const;

  // Other files of a version directory; `file` is relative to it
  // ("report.json", "calibration/inputs.npy"). Read: nullopt if absent.
  // Write: atomic, the version directory must exist (WriteModel first).
  // Remove: OK if absent.
  absl::StatusOr<std::optional<std::string>> ReadVersionFile(absl::string_view name, int64_t version,
                                                             absl::string_view file) const;
  absl::Status WriteVersionFile(absl::string_view name, int64_t version, absl::string_view file,
                                absl::string_view bytes) const;
  absl::Status RemoveVersionFile(absl::string_view name, int64_t version, absl::string_view file) const;

  std::string ModelDir(absl::string_view name) const;
  std::string VersionDir(absl::string_view name, int64_t version) const;

 private:
  std::string root_;
};

}  // namespace q8::server
