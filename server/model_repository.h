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
//   ROOT/<model>/<version>/calibration/inputs.npz
//                                       instead of inputs.npy, for models with
//                                       several inputs or several shapes
//                                       (numpy.savez[_compressed]). Keys: the
//                                       graph input names (one sample group), or
//                                       "<group>/<input>" for several groups
//                                       (e.g. "len16/ids", "len48/ids"; split at
//                                       the first '/'); labels per group under
//                                       "__labels__" / "<group>/__labels__", or
//                                       labels.npy when there is one group.
//                                       engine/quant/calibration_data.h checks it.
//   ROOT/<model>/UNLOADED               marker: the model was unloaded; a
//                                       restart lists it but does not load it
//
// Write protocol (crash safety; see server/README.md "Crash safety" for the
// ordered steps of every write sequence):
//   - a change of a model (upload, reload that persists a quantization) is
//     one ModelWrite: the model directory is copied into a staging directory
//     ROOT/.<model>.tmp-<owner> (files hard-linked, not copied), the changes
//     are written there, everything is fsync'ed, and the staging directory is
//     swapped with ROOT/<model> in one rename (renameat2 RENAME_EXCHANGE; a
//     new model: a plain rename). The old tree, now under the staging name, is
//     then deleted. A crash leaves the old model or the new one, never a mix.
//     Filesystems without RENAME_EXCHANGE: ROOT/<model> is renamed to
//     ROOT/.<model>.old-<owner> first, then the staging directory into place.
//   - single files (the UNLOADED marker) are written atomically in place:
//     temp file ".<name>.tmp-<owner>" in the destination directory, fsync,
//     rename over the final name, fsync of the directory.
// <owner> is "<host>-<pid>-<nonce>-<n>": the writing process (hostname,
// pid, a per-process random nonce) and a counter.
//
// Leftovers of an interrupted write, at startup (Scan) and before a load
// (CleanUpModel):
//   - ROOT/.<model>.old-<owner> whose writer is gone: if ROOT/<model> is
//     missing, the commit is finished (its staging directory renamed into
//     place); then it is deleted;
//   - staging directories and temp files whose writer is gone are deleted.
// "Gone" = same host and (pid not running, or our pid with another nonce: a
// restarted container reuses its pid). Leftovers of another host, of a live
// process, or in the older "<pid>-<n>" format may be a write in progress on
// a replica sharing the repository: they are ignored (and logged) until
// untouched for kStaleTempFileAgeSeconds, then deleted. A version directory
// without model.onnx (created by hand, or by an older q8serve) is ignored,
// never deleted: an operator may be copying into it. Directories whose name
// is not a valid model name/version, and files other than the ones above,
// are ignored.
//
// Thread safety: methods may be called concurrently for different models;
// callers serialize operations on one model (ModelRegistry's per-name guard).
// Replicas writing the same model at the same moment: the last commit wins.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
inline constexpr absl::string_view kCalibrationInputsNpzFile = "calibration/inputs.npz";
// A leftover of another writer untouched for this long is left over from a crash.
inline constexpr int64_t kStaleTempFileAgeSeconds = 600;

// ".model.onnx.tmp-<owner>", ".m.old-<owner>": a write in progress (or a
// crash's leftover).
bool IsTempFileName(absl::string_view filename);
// ".<model>.old-<owner>" -> <model>: the previous tree of a model during a
// commit on a filesystem without RENAME_EXCHANGE. nullopt otherwise.
std::optional<std::string> RetiredTreeModel(absl::string_view filename);

// Test seam for the crash-point tests: called after every step that changes
// the repository's files ("create <path>", "write <path>", "rename <a> <b>",
// "link ...", "unlink ...", "mkdir ...", "rmdir ...", "exchange <a> <b>"),
// in order. nullptr (the default) disables it. Not for production use.
using RepositoryStepHook = std::function<void(absl::string_view step)>;
void SetRepositoryStepHookForTesting(RepositoryStepHook hook);
// Test seam: commit with the two-rename fallback even where RENAME_EXCHANGE works.
void ForceTwoRenameCommitForTesting(bool force);

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
  // Non-empty: the model directory could not be read (the model is
  // UNAVAILABLE with this reason; the rest of the repository is not affected).
  std::string error;
  // Version directories that could not be read, with the reason.
  std::map<int64_t, std::string> version_errors;
};

// One staged change of a model directory (see the write protocol above).
// Paths are relative to the model directory ("config.json",
// "3/model.onnx"). Nothing is visible until Commit(); destroying an
// uncommitted write deletes its staging directory.
class ModelWrite {
 public:
  ModelWrite(const ModelWrite&) = delete;
  ModelWrite& operator=(const ModelWrite&) = delete;
  ~ModelWrite();

  // Creates missing directories of `path`; replaces a file of that name.
  absl::Status WriteFile(absl::string_view path, absl::string_view bytes);
  // OK if absent.
  absl::Status RemoveFile(absl::string_view path);
  // Swaps the staged directory into place, then deletes the old tree.
  absl::Status Commit();

 private:
  friend class ModelRepository;
  ModelWrite(std::string root, std::string name, std::string owner);
  std::string root_, name_, owner_, staging_;
  bool committed_ = false;
};

class ModelRepository {
 public:
  explicit ModelRepository(std::string root) : root_(std::move(root)) {}

  // Creates the root directory if it does not exist.
  absl::Status Init() const;
  const std::string& root() const { return root_; }

  // Every model directory, sorted by name, after cleaning up the leftovers
  // of interrupted writes (see above). Fails only when the root cannot be
  // listed; a model directory that cannot be read is a ScannedModel with
  // `error` set.
  absl::StatusOr<std::vector<ScannedModel>> Scan() const;
  // One model; NOT_FOUND if its directory does not exist. Cleans up its
  // leftovers first (CleanUpModel) unless `clean_up` is false (the replica
  // poller never deletes anything).
  absl::StatusOr<ScannedModel> ScanModel(absl::string_view name, bool clean_up = true) const;
  // Leftovers of interrupted writes of one model (its staging/old
  // directories in the root, temp files in its directories).
  void CleanUpModel(absl::string_view name) const;

  // Starts a staged change of `name` (its directory need not exist yet).
  absl::StatusOr<std::unique_ptr<ModelWrite>> BeginWrite(absl::string_view name) const;

  // nullopt when the model has no config.json.
  absl::StatusOr<std::optional<std::string>> ReadConfig(absl::string_view name) const;
  absl::StatusOr<std::string> ReadModel(absl::string_view name, int64_t version) const;

  // Single-file writes in place (atomic per file; tools and tests). The
  // loader changes models through BeginWrite().
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
  // Leftovers in the root whose name is ".<model>.tmp-..." / ".<model>.old-..."
  // (all models when `only_model` is empty).
  void CleanUpRoot(absl::string_view only_model) const;

  std::string root_;
};

}  // namespace q8::server
