#include "server/repository_poller.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/logging.h"
#include "server/model_repository.h"

namespace q8::server {
namespace fs = std::filesystem;
namespace {

// nullopt when `path` is not a regular file.
std::optional<FileStamp> Stamp(const fs::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  FileStamp stamp;
  stamp.size = static_cast<int64_t>(st.st_size);
  stamp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  stamp.inode = static_cast<uint64_t>(st.st_ino);
  return stamp;
}

ModelSnapshot SnapshotModel(const fs::path& dir) {
  ModelSnapshot model;
  model.config = Stamp(dir / std::string(kConfigFileName));
  model.unloaded = Stamp(dir / std::string(kUnloadedMarker)).has_value();
  // Every call checks its own error_code, and the iterator is advanced with
  // increment(ec): range-for's operator++ throws.
  std::error_code list_ec;
  for (fs::directory_iterator it(dir, list_ec); !list_ec && it != fs::directory_iterator(); it.increment(list_ec)) {
    std::optional<int64_t> version = ParseVersion(it->path().filename().string());
    if (!version) continue;
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    VersionSnapshot& v = model.versions[*version];
    v.model = Stamp(it->path() / std::string(kModelFileName));
    v.artifact = Stamp(it->path() / std::string(kArtifactFileName));
    v.report = Stamp(it->path() / std::string(kReportFileName));
  }
  if (list_ec && list_ec != std::errc::no_such_file_or_directory) {
    // The sync of this model reports it; the other models are not affected.
    Q8_LOG(Warning, "repository poll: cannot list '", dir.string(), "': ", list_ec.message());
  }
  return model;
}

}  // namespace

absl::StatusOr<RepositorySnapshot> SnapshotRepository(const std::string& root) {
  RepositorySnapshot snapshot;
  std::map<std::string, fs::path> retired;  // model -> its tree during a two-rename commit
  std::error_code list_ec;
  fs::directory_iterator it(root, list_ec);
  for (; !list_ec && it != fs::directory_iterator(); it.increment(list_ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    if (std::optional<std::string> model = RetiredTreeModel(name)) {
      retired[*model] = it->path();
      continue;
    }
    if (!ValidateModelName(name).ok()) continue;
    snapshot[name] = SnapshotModel(it->path());
  }
  if (list_ec) {
    return absl::InternalError(absl::StrCat("cannot list model repository '", root, "': ", list_ec.message()));
  }
  // A commit without RENAME_EXCHANGE between its two renames: the model is
  // not deleted; it is what the retired tree holds until the new one lands.
  for (const auto& [model, path] : retired) {
    if (snapshot.count(model) == 0) snapshot[model] = SnapshotModel(path);
  }
  return snapshot;
}

std::vector<ModelChange> ChangedModels(const RepositorySnapshot& before, const RepositorySnapshot& after) {
  std::set<std::string> names;
  for (const auto& [name, unused] : before) names.insert(name);
  for (const auto& [name, unused] : after) names.insert(name);
  std::vector<ModelChange> changes;
  for (const std::string& name : names) {
    auto b = before.find(name);
    auto a = after.find(name);
    const bool in_before = b != before.end();
    const bool in_after = a != after.end();
    if (in_before && in_after && b->second == a->second) continue;
    ModelChange change{name};
    change.config_changed = in_before && in_after && b->second.config != a->second.config;
    changes.push_back(std::move(change));
  }
  return changes;
}

RepositoryPoller::RepositoryPoller(std::string root, absl::Duration interval, SyncFn sync)
    : root_(std::move(root)), interval_(interval), sync_(std::move(sync)) {}

RepositoryPoller::~RepositoryPoller() { Stop(); }

void RepositoryPoller::Start(RepositorySnapshot baseline) {
  {
    absl::MutexLock lock(&round_mu_);
    applied_ = std::move(baseline);
  }
  Q8_LOG(Info, "polling the model repository every ", absl::FormatDuration(interval_));
  thread_ = std::thread([this] { Run(); });
}

void RepositoryPoller::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void RepositoryPoller::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), interval_);
      if (stop_) return;
    }
    PollOnce();
  }
}

std::vector<std::string> RepositoryPoller::PollOnce() {
  absl::MutexLock round(&round_mu_);
  auto snapshot = SnapshotRepository(root_);
  if (!snapshot.ok()) {
    Q8_LOG(Warning, "repository poll: ", snapshot.status().ToString());
    return {};
  }
  std::vector<std::string> synced;
  for (const ModelChange& change : ChangedModels(applied_, *snapshot)) {
    absl::Status status = sync_(change.name, change.config_changed);
    if (absl::IsAborted(status)) continue;  // busy on this replica: next round
    if (!status.ok()) Q8_LOG(Warning, "repository poll: model '", change.name, "': ", status.ToString());
    auto now = snapshot->find(change.name);
    if (now == snapshot->end()) {
      applied_.erase(change.name);
    } else {
      applied_[change.name] = now->second;
    }
    synced.push_back(change.name);
  }
  return synced;
}

}  // namespace q8::server
