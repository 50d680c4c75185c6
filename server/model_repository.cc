#include "server/model_repository.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/logging.h"

namespace q8::server {
namespace fs = std::filesystem;
namespace {

constexpr absl::string_view kTempInfix = ".tmp-";

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  return absl::InternalError(absl::StrCat(what, " '", path, "': ", std::strerror(err)));
}

absl::Status FsError(absl::string_view what, const std::string& path, const std::error_code& ec) {
  return absl::InternalError(absl::StrCat(what, " '", path, "': ", ec.message()));
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

// Deletes temp files a crash may have left in `dir` (not recursive). Young
// ones are kept: on a shared repository they are another replica's writes.
void RemoveStaleTempFiles(const fs::path& dir) {
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - std::chrono::seconds(kStaleTempFileAgeSeconds);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && IsTempFileName(entry.path().filename().string()) &&
        entry.last_write_time(ec) < cutoff && !ec) {
      Q8_LOG(Warning, "removing stale temp file ", entry.path().string());
      fs::remove(entry.path(), ec);
    }
  }
}

}  // namespace

bool IsTempFileName(absl::string_view filename) {
  return !filename.empty() && filename[0] == '.' && absl::StrContains(filename, kTempInfix);
}

absl::Status ValidateModelName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("model name is empty");
  if (name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat("model name is longer than 128 characters: '",
                                                   name.substr(0, 32), "...'"));
  }
  bool ok = name[0] != '.';
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid model name '", name, "': use 1-128 characters of [A-Za-z0-9_.-], not starting with '.'"));
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
  static std::atomic<uint64_t> counter{0};
  fs::path target(path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::string temp = (dir / absl::StrCat(".", target.filename().string(), kTempInfix, ::getpid(), "-",
                                         counter.fetch_add(1)))
                         .string();
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp, errno);
  absl::Status status = WriteAll(fd, bytes, temp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("fsync failed on", temp, errno);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError("close failed on", temp, errno);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError("cannot rename temp file to", path, errno);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return FsyncPath(dir.string(), O_RDONLY | O_DIRECTORY);
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
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return FsError("cannot create model repository", root_, ec);
  if (!fs::is_directory(root_, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("model repository '", root_, "' is not a directory"));
  }
  return absl::OkStatus();
}

std::string ModelRepository::ModelDir(absl::string_view name) const {
  return (fs::path(root_) / std::string(name)).string();
}

std::string ModelRepository::VersionDir(absl::string_view name, int64_t version) const {
  return (fs::path(root_) / std::string(name) / std::to_string(version)).string();
}

absl::StatusOr<std::vector<ScannedModel>> ModelRepository::Scan() const {
  std::vector<ScannedModel> models;
  std::error_code ec;
  fs::directory_iterator it(root_, ec);
  if (ec) return FsError("cannot list model repository", root_, ec);
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (!entry.is_directory(ec)) continue;
    if (!ValidateModelName(name).ok()) {
      Q8_LOG(Warning, "model repository: ignoring directory '", name, "' (not a valid model name)");
      continue;
    }
    auto model = ScanModel(name);
    if (!model.ok()) return model.status();
    models.push_back(*std::move(model));
  }
  std::sort(models.begin(), models.end(),
            [](const ScannedModel& a, const ScannedModel& b) { return a.name < b.name; });
  return models;
}

absl::StatusOr<ScannedModel> ModelRepository::ScanModel(absl::string_view name,
                                                        bool remove_stale_temp_files) const {
  absl::Status valid = ValidateModelName(name);
  if (!valid.ok()) return valid;
  fs::path dir = ModelDir(name);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository"));
  }
  if (remove_stale_temp_files) RemoveStaleTempFiles(dir);
  ScannedModel model;
  model.name = std::string(name);
  model.unloaded = fs::exists(dir / std::string(kUnloadedMarker), ec);
  model.has_config = fs::is_regular_file(dir / std::string(kConfigFileName), ec);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    std::optional<int64_t> version = ParseVersion(entry.path().filename().string());
    if (!version) continue;
    if (remove_stale_temp_files) RemoveStaleTempFiles(entry.path());
    if (fs::is_regular_file(entry.path() / std::string(kModelFileName), ec)) {
      model.versions.push_back(*version);
    }
  }
  if (ec) return FsError("cannot list model directory", dir.string(), ec);
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

absl::Status ModelRepository::WriteModel(absl::string_view name, int64_t version,
                                         absl::string_view bytes) const {
  std::string dir = VersionDir(name, version);
  std::error_code ec;
  bool created = fs::create_directories(dir, ec);
  if (ec) return FsError("cannot create", dir, ec);
  if (created) {
    // Make the new directory entries durable before the file inside them.
    absl::Status s = FsyncPath(ModelDir(name), O_RDONLY | O_DIRECTORY);
    if (s.ok()) s = FsyncPath(root_, O_RDONLY | O_DIRECTORY);
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

absl::Status ModelRepository::RemoveVersionFile(absl::string_view name, int64_t version,
                                                absl::string_view file) const {
  const std::string dir = VersionDir(name, version);
  const std::string path = (fs::path(dir) / std::string(file)).string();
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("cannot remove", path, errno);
  }
  return FsyncPath(dir, O_RDONLY | O_DIRECTORY);
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
  return FsyncPath(ModelDir(name), O_RDONLY | O_DIRECTORY);
}

}  // namespace q8::server
