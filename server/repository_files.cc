// The filesystem steps repository writes are made of (server/model_repository.cc
// composes them into the write protocol). Every step that changes the disk
// reports itself to the test step hook, which is how the crash-point test
// enumerates the states a crash can leave.
#include "server/repository_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/logging.h"
#include "core/status_macros.h"

namespace q8::server {
namespace {
absl::Mutex hook_mu(absl::kConstInit);
RepositoryStepHook* step_hook ABSL_GUARDED_BY(hook_mu) = nullptr;
}  // namespace

void SetRepositoryStepHookForTesting(RepositoryStepHook hook) {
  absl::MutexLock lock(&hook_mu);
  delete step_hook;
  step_hook = hook ? new RepositoryStepHook(std::move(hook)) : nullptr;
}

namespace files {

void Step(absl::string_view kind, const std::string& path, const std::string& to) {
  absl::MutexLock lock(&hook_mu);
  if (step_hook == nullptr || !*step_hook) return;
  (*step_hook)(to.empty() ? absl::StrCat(kind, " ", path) : absl::StrCat(kind, " ", path, " ", to));
}

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  return absl::InternalError(absl::StrCat(what, " '", path, "': ", std::strerror(err)));
}

absl::Status FsError(absl::string_view what, const std::string& path, const std::error_code& ec) {
  return absl::InternalError(absl::StrCat(what, " '", path, "': ", ec.message()));
}

// The entries of `dir` (no "." and ".."); symlinks are followed to classify them.
// NOT_FOUND when `dir` does not exist.
absl::StatusOr<std::vector<DirEntry>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no such directory '", dir, "'"));
    return ErrnoError("cannot list directory", dir, errno);
  }
  std::vector<DirEntry> out;
  absl::Status status;
  while (true) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0) status = ErrnoError("cannot list directory", dir, errno);
      break;
    }
    absl::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    DirEntry entry{std::string(name)};
    struct stat st;
    // Follows symlinks (a volume may link model directories in).
    if (::fstatat(::dirfd(d), e->d_name, &st, 0) == 0) {
      entry.is_dir = S_ISDIR(st.st_mode);
      entry.is_file = S_ISREG(st.st_mode);
    } else {
      const int err = errno;
      if (err == ENOENT && ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // deleted
      entry.error = std::strerror(err);  // e.g. a dangling symlink
    }
    out.push_back(std::move(entry));
  }
  ::closedir(d);
  if (!status.ok()) return status;
  return out;
}

// stat (follows symlinks): nullopt when absent, an error when it cannot be told.
absl::StatusOr<std::optional<struct stat>> StatPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return std::optional<struct stat>(st);
  if (errno == ENOENT || errno == ENOTDIR) return std::optional<struct stat>();
  return ErrnoError("cannot stat", path, errno);
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open for fsync", path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync failed on", path, err);
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& path) { return FsyncPath(path, O_RDONLY | O_DIRECTORY); }

absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& path) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write failed on", path, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Creates `path` (must not exist), writes and fsyncs it.
absl::Status CreateFile(const std::string& path, absl::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", path, errno);
  Step("create", path);
  absl::Status status = WriteAll(fd, bytes, path);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("fsync failed on", path, errno);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError("close failed on", path, errno);
  if (status.ok()) Step("write", path);
  return status;
}

absl::Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0) return ErrnoError("cannot create directory", path, errno);
  Step("mkdir", path);
  return absl::OkStatus();
}

// Deletes a file or a directory tree (each unlink/rmdir a step). OK if absent.
absl::Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("cannot stat", path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    auto entries = ListDir(path);
    if (absl::IsNotFound(entries.status())) return absl::OkStatus();
    if (!entries.ok()) return entries.status();
    for (const DirEntry& e : *entries) Q8_RETURN_IF_ERROR(RemoveTree(absl::StrCat(path, "/", e.name)));
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("cannot remove directory", path, errno);
    Step("rmdir", path);
    return absl::OkStatus();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("cannot remove", path, errno);
  Step("unlink", path);
  return absl::OkStatus();
}

// Copies the tree `from` into the existing directory `to`: directories
// recreated, regular files hard-linked (copied where links are not
// supported). Temp files (other writes in progress) are not copied.
absl::Status LinkTree(const std::string& from, const std::string& to) {
  Q8_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, ListDir(from));
  for (const DirEntry& e : entries) {
    if (IsTempFileName(e.name)) continue;
    const std::string src = absl::StrCat(from, "/", e.name);
    const std::string dst = absl::StrCat(to, "/", e.name);
    if (e.is_dir) {
      Q8_RETURN_IF_ERROR(MakeDir(dst));
      Q8_RETURN_IF_ERROR(LinkTree(src, dst));
    } else if (e.is_file) {
      if (::link(src.c_str(), dst.c_str()) == 0) {
        Step("link", src, dst);
        continue;
      }
      if (errno == ENOENT) continue;  // deleted meanwhile
      if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOTSUP) {
        return ErrnoError("cannot link", dst, errno);
      }
      Q8_ASSIGN_OR_RETURN(std::string bytes, ReadFile(src));
      Q8_RETURN_IF_ERROR(CreateFile(dst, bytes));
    } else {
      Q8_LOG(Warning, "model repository: not copying '", src, "' (neither a file nor a directory)");
    }
  }
  return absl::OkStatus();
}

absl::Status FsyncTree(const std::string& dir) {
  Q8_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, ListDir(dir));
  for (const DirEntry& e : entries) {
    if (e.is_dir) Q8_RETURN_IF_ERROR(FsyncTree(absl::StrCat(dir, "/", e.name)));
  }
  return FsyncDir(dir);
}

}  // namespace files
}  // namespace q8::server
