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
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::optional<int64_t> version = ParseVersion(entry.path().filename().string());
    if (!version || !entry.is_directory(ec)) continue;
    VersionSnapshot& v = model.versions[*version];
    v.model = Stamp(entry.path() / std::string(kModelFileName));
    v.artifact = Stamp(entry.path() / std::string(kArtifactFileName));
    v.report = Stamp(entry.path() / std::string(kReportFileName));
  }
  return model;
}

}  // namespace

absl::StatusOr<RepositorySnapshot> SnapshotRepository(const std::string& root) {
  RepositorySnapshot snapshot;
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot list model repository '", root, "': ", ec.message()));
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (!ValidateModelName(name).ok() || !entry.is_directory(ec)) continue;
    snapshot[name] = SnapshotModel(entry.path());
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
