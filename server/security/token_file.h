// TokenFile: the current tokens of one token file (--admin_token_file,
// --infer_token_file), re-read when the file changes so tokens can be
// rotated without a restart.
//
// Change detection is cheap on the request path: at most once per
// `check_interval` one request stat()s the file (device, inode, size, mtime,
// ctime: a Kubernetes Secret update swaps a symlink, an editor renames, an
// in-place rewrite changes mtime) and re-reads it only if that identity
// changed. Reload() re-reads at once (SIGHUP). A re-read that fails (file
// gone, unreadable, no valid token) keeps the previous tokens and logs a
// warning naming the file; tokens themselves are never logged.
//
// Thread safety: Accepts() and Reload() may run concurrently.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace q8::server::security {

class TokenFile {
 public:
  // Reads `path` now: INVALID_ARGUMENT / NOT_FOUND naming the path when it is
  // missing, unreadable, empty or holds a malformed token (a startup error).
  // `check_interval` <= 0: the file is re-read only by Reload().
  static absl::StatusOr<std::unique_ptr<TokenFile>> Open(std::string path, absl::Duration check_interval);

  // True if `token` is one of the current tokens (constant-time per token;
  // every token is compared).
  bool Accepts(absl::string_view token);
  // Re-reads the file now. On failure the old tokens stay and the error is
  // returned.
  absl::Status Reload();

  const std::string& path() const { return path_; }
  size_t token_count() const;

 private:
  struct Identity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const Identity& o) const {
      return device == o.device && inode == o.inode && size == o.size && mtime_ns == o.mtime_ns &&
             ctime_ns == o.ctime_ns;
    }
  };
  TokenFile(std::string path, absl::Duration check_interval) : path_(std::move(path)), interval_(check_interval) {}

  // Reads and parses the file; on success installs the tokens.
  absl::Status Load(bool only_if_changed);
  void MaybeReload();

  const std::string path_;
  const absl::Duration interval_;
  std::atomic<int64_t> next_check_ns_{0};
  absl::Mutex load_mu_;  // one re-read at a time
  Identity identity_ ABSL_GUARDED_BY(load_mu_);
  mutable absl::Mutex mu_;
  std::shared_ptr<const std::vector<std::string>> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace q8::server::security
