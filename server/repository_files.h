// The filesystem steps repository writes are made of: listing, stat, fsync,
// file creation, hard-link copies and removal, each checking its own result
// (no std::error_code shared between calls; "absent" is an answer, not an
// error). Every step that changes the disk reports itself to the step hook of
// SetRepositoryStepHookForTesting (model_repository.h). Internal to server/:
// ModelRepository is the interface.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model_repository.h"

namespace q8::server::files {

struct DirEntry {
  std::string name;
  bool is_dir = false;
  bool is_file = false;
  std::string error;  // why it could not be stat'ed
};

void Step(absl::string_view kind, const std::string& path, const std::string& to = "");
absl::Status ErrnoError(absl::string_view what, const std::string& path, int err);
absl::Status FsError(absl::string_view what, const std::string& path, const std::error_code& ec);
absl::StatusOr<std::vector<DirEntry>> ListDir(const std::string& dir);
absl::StatusOr<std::optional<struct stat>> StatPath(const std::string& path);
absl::Status FsyncPath(const std::string& path, int flags);
absl::Status FsyncDir(const std::string& path);
absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& path);
absl::Status CreateFile(const std::string& path, absl::string_view bytes);
absl::Status MakeDir(const std::string& path);
absl::Status RemoveTree(const std::string& path);
absl::Status LinkTree(const std::string& from, const std::string& to);
absl::Status FsyncTree(const std::string& dir);

}  // namespace q8::server::files
