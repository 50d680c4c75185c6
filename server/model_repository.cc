#include "server/model_repository.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "server/repository_files.h"

namespace q8::server {
namespace fs = std::filesystem;
using files::CreateFile;
using files::DirEntry;
using files::ErrnoError;
using files::FsError;
using files::FsyncDir;
using files::FsyncPath;
using files::FsyncTree;
using files::LinkTree;
using files::ListDir;
using files::MakeDir;
using files::RemoveTree;
using files::StatPath;
using files::Step;
using files::WriteAll;
namespace {

constexpr absl::string_view kTempInfix = ".tmp-";
constexpr absl::string_view kOldInfix = ".old-";

std::atomic<bool> force_two_renames{false};

// Who writes: this process. The nonce tells a restarted container (same
// hostname, same pid) from its previous incarnation.
struct Owner {
  std::string host;
  int64_t pid = 0;
  std::string nonce;
};

// Recomputed in a forked child (it is another writer than its parent).
Owner Self() {
  static absl::Mutex mu(absl::kConstInit);
  static Owner* self ABSL_GUARDED_BY(mu) = nullptr;
  absl::MutexLock lock(&mu);
  if (self == nullptr || self->pid != ::getpid()) {
    auto* o = new Owner;
    char buf[256] = {};
    if (::gethostname(buf, sizeof(buf) - 1) != 0) buf[0] = '\0';
    for (const char* c = buf; *c != '\0'; ++c) {
      // No '.' in the host: the last ".tmp-" of a leftover's name is its infix.
      o->host.push_back(absl::ascii_isalnum(static_cast<unsigned char>(*c)) || *c == '-' ? *c : '_');
    }
    if (o->host.empty()) o->host = "unknown";
    o->pid = ::getpid();
    std::random_device rd;
    char nonce[16];
    std::snprintf(nonce, sizeof(nonce), "%08x", static_cast<unsigned>(rd()));
    o->nonce = nonce;
    delete self;
    self = o;
  }
  return *self;
}

// "<host>-<pid>-<nonce>-<n>", unique per write.
std::string NewOwnerTag() {
  static std::atomic<uint64_t> counter{0};
  const Owner self = Self();
  return absl::StrCat(self.host, "-", self.pid, "-", self.nonce, "-", counter.fetch_add(1));
}

// A leftover's name: ".<target>.tmp-<owner>" or ".<target>.old-<owner>".
struct Leftover {
  std::string target;
  bool old_tree = false;
  std::string owner_tag;
  std::optional<Owner> owner;  // nullopt: older "<pid>-<n>" format or unparsable
};

std::optional<Leftover> ParseLeftover(absl::string_view filename) {
  if (filename.size() < 2 || filename[0] != '.') return std::nullopt;
  const size_t tmp = filename.rfind(kTempInfix);
  const size_t old = filename.rfind(kOldInfix);
  size_t pos = tmp;
  if (tmp == absl::string_view::npos || (old != absl::string_view::npos && old > tmp)) pos = old;
  if (pos == absl::string_view::npos || pos < 2) return std::nullopt;
  Leftover l;
  l.target = std::string(filename.substr(1, pos - 1));
  l.old_tree = pos == old;
  l.owner_tag = std::string(filename.substr(pos + kTempInfix.size()));
  std::vector<absl::string_view> parts = absl::StrSplit(l.owner_tag, '-');
  if (parts.size() >= 4) {
    Owner o;
    const size_t n = parts.size();
    uint64_t counter = 0;
    if (absl::SimpleAtoi(parts[n - 3], &o.pid) && parts[n - 2].size() == 8 &&
        absl::SimpleAtoi(parts[n - 1], &counter)) {
      o.nonce = std::string(parts[n - 2]);
      const size_t suffix = parts[n - 3].size() + parts[n - 2].size() + parts[n - 1].size() + 3;
      o.host = l.owner_tag.substr(0, l.owner_tag.size() - suffix);
      l.owner = std::move(o);
    }
  }
  return l;
}

// True when the leftover at `path` may be deleted now; else `*why` says why it is kept.
bool MayRemove(const std::string& path, const Leftover& l, std::string* why) {
  if (l.owner) {
    const Owner self = Self();
    const Owner& o = *l.owner;
    if (o.host == self.host) {
      if (o.pid == self.pid) {
        if (o.nonce != self.nonce) return true;  // our pid, an earlier process
        *why = "a write in progress in this process";
        return false;
      }
      if (::kill(static_cast<pid_t>(o.pid), 0) != 0 && errno == ESRCH) return true;
    }
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    *why = absl::StrCat("cannot stat: ", std::strerror(errno));
    return false;
  }
  if (::time(nullptr) - st.st_mtim.tv_sec >= kStaleTempFileAgeSeconds) return true;
  *why = absl::StrCat("may be a write in progress by ", l.owner ? "writer " : "an older-format writer ", l.owner_tag,
                      " (another replica); deleted once untouched for ", kStaleTempFileAgeSeconds, " s");
  return false;
}

// Deletes the temp files in `dir` (not recursive) whose writer is gone.
void CleanTempFiles(const std::string& dir) {
  auto entries = ListDir(dir);
  if (!entries.ok()) return;  // the scan reports unreadable directories
  for (const DirEntry& e : *entries) {
    if (!e.is_file) continue;
    std::optional<Leftover> l = ParseLeftover(e.name);
    if (!l || l->old_tree) continue;
    const std::string path = absl::StrCat(dir, "/", e.name);
    std::string why;
    if (!MayRemove(path, *l, &why)) {
      Q8_LOG(Info, "model repository: ignoring temp file '", path, "': ", why);
      continue;
    }
    absl::Status s = RemoveTree(path);
    if (s.ok()) {
      Q8_LOG(Warning, "model repository: removed '", path, "' (temp file of an interrupted write)");
    } else {
      Q8_LOG(Warning, "model repository: cannot remove leftover: ", s.ToString());
    }
  }
}

}  // namespace

bool IsTempFileName(absl::string_view filename) { return ParseLeftover(filename).has_value(); }

std::optional<std::string> RetiredTreeModel(absl::string_view filename) {
  std::optional<Leftover> l = ParseLeftover(filename);
  if (!l || !l->old_tree || !ValidateModelName(l->target).ok()) return std::nullopt;
  return l->target;
}

void ForceTwoRenameCommitForTesting(bool force) { force_two_renames = force; }

absl::Status ValidateModelName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("model name is empty");
  if (name.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name is longer than 128 characters: '", name.substr(0, 32), "...'"));
  }
  bool ok = name[0] != '.';
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid model name '", name, "': use 1-128 characters of [A-Za-z0-9_.-], not starting with '.'"));
  }
  return absl::OkStatus();
}

std::optional<int64_t> ParseVersion(absl::string_view text) {
  if (text.empty() || text.size() > 15) return std::nullopt;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  if (text[0] == '0') return std::nullopt;  // one spelling per version
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < 1) return std::nullopt;
  return v;
}

absl::Status AtomicWriteFile(const std::string& path, absl::string_view bytes) {
  fs::path target(path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  const std::string temp = (dir / absl::StrCat(".", target.filename().string(), kTempInfix, NewOwnerTag())).string();
  absl::Status status = CreateFile(temp, bytes);
  if (status.ok()) {
    if (::rename(temp.c_str(), path.c_str()) == 0) {
      Step("rename", temp, path);
    } else {
      status = ErrnoError("cannot rename temp file to", path, errno);
    }
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return FsyncDir(dir.string());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no such file '", path, "'"));
    return ErrnoError("cannot open", path, errno);
  }
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoError("read failed on", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::Status ModelRepository::Init() const {
  if (root_.empty()) return absl::InvalidArgumentError("model repository path is empty");
  std::error_code create_ec;
  fs::create_directories(root_, create_ec);
  if (create_ec) return FsError("cannot create model repository", root_, create_ec);
  std::error_code dir_ec;
  if (!fs::is_directory(root_, dir_ec)) {
    return absl::InvalidArgumentError(absl::StrCat("model repository '", root_, "' is not a directory",
                                                   dir_ec ? absl::StrCat(": ", dir_ec.message()) : ""));
  }
  // Unreadable root: stop here with a clear message, not at the first scan.
  auto listed = ListDir(root_);
  if (!listed.ok()) return listed.status();
  return absl::OkStatus();
}

std::string ModelRepository::ModelDir(absl::string_view name) const {
  return (fs::path(root_) / std::string(name)).string();
}

std::string ModelRepository::VersionDir(absl::string_view name, int64_t version) const {
  return (fs::path(root_) / std::string(name) / std::to_string(version)).string();
}

void ModelRepository::CleanUpRoot(absl::string_view only_model) const {
  auto entries = ListDir(root_);
  if (!entries.ok()) return;  // Scan reports it
  // Unfinished commits first: they may move a staging directory into place.
  for (bool old_pass : {true, false}) {
    for (const DirEntry& e : *entries) {
      std::optional<Leftover> l = ParseLeftover(e.name);
      if (!l || l->old_tree != old_pass || (!only_model.empty() && l->target != only_model)) continue;
      if (!ValidateModelName(l->target).ok()) continue;
      const std::string path = absl::StrCat(root_, "/", e.name);
      std::string why;
      if (!MayRemove(path, *l, &why)) {
        Q8_LOG(Info, "model repository: ignoring '", path, "': ", why);
        continue;
      }
      const std::string live = ModelDir(l->target);
      if (l->old_tree) {
        // Commit without RENAME_EXCHANGE interrupted between its two renames:
        // the staging directory is complete (it is renamed only after), so
        // finish the commit.
        const std::string staging = absl::StrCat(root_, "/.", l->target, kTempInfix, l->owner_tag);
        auto live_stat = StatPath(live);
        auto staging_stat = StatPath(staging);
        if (live_stat.ok() && !live_stat->has_value() && staging_stat.ok() && staging_stat->has_value()) {
          if (::rename(staging.c_str(), live.c_str()) == 0) {
            Step("rename", staging, live);
            Q8_LOG(Warning, "model repository: model '", l->target, "': finished an interrupted commit (", staging,
                   " moved into place)");
          } else {
            Q8_LOG(Warning, "model repository: cannot finish the interrupted commit of '", l->target,
                   "': ", ErrnoError("rename", staging, errno).ToString());
            continue;
          }
        }
      }
      absl::Status s = RemoveTree(path);
      if (s.ok()) {
        Q8_LOG(Warning, "model repository: removed '", path, "' (",
               l->old_tree ? "previous tree of" : "staging directory of", " an interrupted write of model '", l->target,
               "')");
      } else {
        Q8_LOG(Warning, "model repository: cannot remove leftover: ", s.ToString());
      }
    }
    auto again = ListDir(root_);
    if (!again.ok()) return;
    entries = std::move(again);
  }
}

void ModelRepository::CleanUpModel(absl::string_view name) const {
  if (!ValidateModelName(name).ok()) return;
  CleanUpRoot(name);
  const std::string dir = ModelDir(name);
  CleanTempFiles(dir);
  auto entries = ListDir(dir);
  if (!entries.ok()) return;
  for (const DirEntry& e : *entries) {
    if (e.is_dir && ParseVersion(e.name)) CleanTempFiles(absl::StrCat(dir, "/", e.name));
  }
}

absl::StatusOr<std::vector<ScannedModel>> ModelRepository::Scan() const {
  CleanUpRoot("");
  auto entries = ListDir(root_);
  if (!entries.ok()) {
    return absl::Status(entries.status().code(),
                        absl::StrCat("model repository unreadable: ", entries.status().message()));
  }
  std::vector<ScannedModel> models;
  for (const DirEntry& e : *entries) {
    if (!e.error.empty() && ValidateModelName(e.name).ok()) {
      ScannedModel broken;
      broken.name = e.name;
      broken.error = absl::StrCat("cannot read the model directory: ", e.error);
      Q8_LOG(Error, "model repository: model '", e.name, "': ", broken.error);
      models.push_back(std::move(broken));
      continue;
    }
    if (!e.is_dir || IsTempFileName(e.name)) continue;
    if (!ValidateModelName(e.name).ok()) {
      Q8_LOG(Warning, "model repository: ignoring directory '", e.name, "' (not a valid model name)");
      continue;
    }
    auto model = ScanModel(e.name);
    if (absl::IsNotFound(model.status())) continue;  // deleted meanwhile
    if (!model.ok()) {
      ScannedModel broken;
      broken.name = e.name;
      broken.error = std::string(model.status().message());
      models.push_back(std::move(broken));
      continue;
    }
    models.push_back(*std::move(model));
  }
  std::sort(models.begin(), models.end(), [](const ScannedModel& a, const ScannedModel& b) { return a.name < b.name; });
  return models;
}

absl::StatusOr<ScannedModel> ModelRepository::ScanModel(absl::string_view name, bool clean_up) const {
  Q8_RETURN_IF_ERROR(ValidateModelName(name));
  const std::string dir = ModelDir(name);
  if (clean_up) CleanUpModel(name);
  Q8_ASSIGN_OR_RETURN(std::optional<struct stat> dir_stat, StatPath(dir));
  if (!dir_stat || !S_ISDIR(dir_stat->st_mode)) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository"));
  }
  ScannedModel model;
  model.name = std::string(name);
  // Each check has its own result: "absent" is an answer, not an error.
  auto entries = ListDir(dir);
  if (!entries.ok()) {
    model.error = absl::StrCat("cannot read the model directory: ", entries.status().message());
    Q8_LOG(Error, "model repository: model '", name, "': ", model.error);
    return model;
  }
  for (const DirEntry& e : *entries) {
    if (e.name == kUnloadedMarker) model.unloaded = true;
    if (e.name == kConfigFileName) model.has_config = e.is_file;
    if (!e.is_dir) continue;
    std::optional<int64_t> version = ParseVersion(e.name);
    if (!version) continue;
    const std::string file = absl::StrCat(dir, "/", e.name, "/", kModelFileName);
    auto model_file = StatPath(file);
    if (!model_file.ok()) {
      model.version_errors[*version] = std::string(model_file.status().message());
      Q8_LOG(Error, "model repository: model '", name, "' version ", *version, ": ", model_file.status().message());
    } else if (model_file->has_value() && S_ISREG((*model_file)->st_mode)) {
      model.versions.push_back(*version);
    } else if (clean_up) {
      // Not ours to delete: an operator may be copying the file in right now.
      Q8_LOG(Warning, "model repository: model '", name, "': ignoring version directory ", e.name, " (no ",
             kModelFileName, ")");
    }
  }
  std::sort(model.versions.begin(), model.versions.end());
  return model;
}

absl::StatusOr<std::optional<std::string>> ModelRepository::ReadConfig(absl::string_view name) const {
  auto bytes = ReadFile((fs::path(ModelDir(name)) / std::string(kConfigFileName)).string());
  if (absl::IsNotFound(bytes.status())) return std::optional<std::string>();
  if (!bytes.ok()) return bytes.status();
  return std::optional<std::string>(*std::move(bytes));
}

absl::StatusOr<std::string> ModelRepository::ReadModel(absl::string_view name, int64_t version) const {
  return ReadFile((fs::path(VersionDir(name, version)) / std::string(kModelFileName)).string());
}

absl::Status ModelRepository::WriteConfig(absl::string_view name, absl::string_view json) const {
  std::error_code ec;
  fs::create_directories(ModelDir(name), ec);
  if (ec) return FsError("cannot create", ModelDir(name), ec);
  return AtomicWriteFile((fs::path(ModelDir(name)) / std::string(kConfigFileName)).string(), json);
}

absl::Status ModelRepository::WriteModel(absl::string_view name, int64_t version, absl::string_view bytes) const {
  std::string dir = VersionDir(name, version);
  std::error_code ec;
  bool created = fs::create_directories(dir, ec);
  if (ec) return FsError("cannot create", dir, ec);
  if (created) {
    // Make the new directory entries durable before the file inside them.
    absl::Status s = FsyncDir(ModelDir(name));
    if (s.ok()) s = FsyncDir(root_);
    if (!s.ok()) return s;
  }
  return AtomicWriteFile((fs::path(dir) / std::string(kModelFileName)).string(), bytes);
}

absl::StatusOr<std::optional<std::string>> ModelRepository::ReadVersionFile(absl::string_view name, int64_t version,
                                                                            absl::string_view file) const {
  auto bytes = ReadFile((fs::path(VersionDir(name, version)) / std::string(file)).string());
  if (absl::IsNotFound(bytes.status())) return std::optional<std::string>();
  if (!bytes.ok()) return bytes.status();
  return std::optional<std::string>(*std::move(bytes));
}

absl::Status ModelRepository::WriteVersionFile(absl::string_view name, int64_t version, absl::string_view file,
                                               absl::string_view bytes) const {
  return AtomicWriteFile((fs::path(VersionDir(name, version)) / std::string(file)).string(), bytes);
}

absl::Status ModelRepository::RemoveVersionFile(absl::string_view name, int64_t version, absl::string_view file) const {
  const std::string dir = VersionDir(name, version);
  const std::string path = (fs::path(dir) / std::string(file)).string();
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("cannot remove", path, errno);
  }
  Step("unlink", path);
  return FsyncDir(dir);
}

absl::Status ModelRepository::SetUnloaded(absl::string_view name, bool unloaded) const {
  std::string marker = (fs::path(ModelDir(name)) / std::string(kUnloadedMarker)).string();
  if (unloaded) {
    return AtomicWriteFile(marker, "unloaded through RepositoryModelUnload; load again to serve\n");
  }
  if (::unlink(marker.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("cannot remove", marker, errno);
  }
  Step("unlink", marker);
  return FsyncDir(ModelDir(name));
}

// ---- ModelWrite ----

absl::StatusOr<std::unique_ptr<ModelWrite>> ModelRepository::BeginWrite(absl::string_view name) const {
  Q8_RETURN_IF_ERROR(ValidateModelName(name));
  std::unique_ptr<ModelWrite> write(new ModelWrite(root_, std::string(name), NewOwnerTag()));
  Q8_RETURN_IF_ERROR(MakeDir(write->staging_));
  auto linked = LinkTree(ModelDir(name), write->staging_);
  if (!linked.ok() && !absl::IsNotFound(linked)) return linked;  // NOT_FOUND: a new model
  return write;
}

ModelWrite::ModelWrite(std::string root, std::string name, std::string owner)
    : root_(std::move(root)), name_(std::move(name)), owner_(std::move(owner)) {
  staging_ = absl::StrCat(root_, "/.", name_, kTempInfix, owner_);
}

ModelWrite::~ModelWrite() {
  if (committed_) return;
  absl::Status s = RemoveTree(staging_);
  if (!s.ok()) Q8_LOG(Warning, "model repository: cannot remove staging directory: ", s.ToString());
}

namespace {
// `path` relative to a model directory, without "." / ".." / empty parts.
absl::Status CheckRelative(absl::string_view path) {
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat("invalid path in a model directory: '", path, "'"));
    }
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status ModelWrite::WriteFile(absl::string_view path, absl::string_view bytes) {
  Q8_RETURN_IF_ERROR(CheckRelative(path));
  std::string dir = staging_;
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    absl::StrAppend(&dir, "/", parts[i]);
    Q8_ASSIGN_OR_RETURN(std::optional<struct stat> st, StatPath(dir));
    if (!st) Q8_RETURN_IF_ERROR(MakeDir(dir));
  }
  // A hard link to the live file: replace the link, never write through it.
  Q8_RETURN_IF_ERROR(RemoveFile(path));
  return CreateFile(absl::StrCat(staging_, "/", path), bytes);
}

absl::Status ModelWrite::RemoveFile(absl::string_view path) {
  Q8_RETURN_IF_ERROR(CheckRelative(path));
  const std::string full = absl::StrCat(staging_, "/", path);
  if (::unlink(full.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return absl::OkStatus();
    return ErrnoError("cannot remove", full, errno);
  }
  Step("unlink", full);
  return absl::OkStatus();
}

absl::Status ModelWrite::Commit() {
  Q8_RETURN_IF_ERROR(FsyncTree(staging_));
  const std::string live = absl::StrCat(root_, "/", name_);
  std::string retired;  // the old tree after the swap
  if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, live.c_str(), RENAME_NOREPLACE) == 0) {
    Step("rename", staging_, live);
  } else if (errno == EEXIST || errno == ENOTEMPTY) {
    if (!force_two_renames && ::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, live.c_str(), RENAME_EXCHANGE) == 0) {
      Step("exchange", staging_, live);
      retired = staging_;
    } else if (force_two_renames || errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
      // No atomic swap here (e.g. some network filesystems): two renames; a
      // crash between them is finished by the next CleanUpRoot.
      retired = absl::StrCat(root_, "/.", name_, kOldInfix, owner_);
      if (::rename(live.c_str(), retired.c_str()) != 0) return ErrnoError("cannot rename", live, errno);
      Step("rename", live, retired);
      if (::rename(staging_.c_str(), live.c_str()) != 0) return ErrnoError("cannot rename", staging_, errno);
      Step("rename", staging_, live);
    } else {
      return ErrnoError("cannot swap in", live, errno);
    }
  } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
    if (::rename(staging_.c_str(), live.c_str()) != 0) return ErrnoError("cannot rename", staging_, errno);
    Step("rename", staging_, live);
  } else {
    return ErrnoError("cannot rename staging directory to", live, errno);
  }
  committed_ = true;
  Q8_RETURN_IF_ERROR(FsyncDir(root_));
  if (!retired.empty()) {
    // Committed already: failing to delete the old tree only leaves a
    // leftover for the next cleanup.
    absl::Status s = RemoveTree(retired);
    if (!s.ok()) Q8_LOG(Warning, "model repository: cannot remove the previous tree of '", name_, "': ", s.ToString());
  }
  return absl::OkStatus();
}

}  // namespace q8::server
