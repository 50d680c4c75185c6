// RepositoryPoller: keeps one replica in step with a model repository that
// several replicas share (a Kubernetes ReadWriteMany volume). One thread
// snapshots the repository every interval and, for each model whose files
// changed since the last round, calls the sync function
// (ModelLoader::SyncFromRepository): new or changed versions are loaded from
// their persisted quantization (never recalibrated), UNLOADED markers and
// deleted directories unload.
//
// Change detection is cheap: a snapshot holds, per model, the size, mtime
// and inode of config.json, UNLOADED and each version's model.onnx,
// quantization.json and report.json (no file is read). Writers change a
// model by swapping in a staged copy of its directory whose unchanged files
// are hard links (same inode, size, mtime) and whose new files are new
// inodes, so exactly the rewritten files change. Staging directories and
// temp files (".<name>.tmp-...") and calibration data are not part of it: a
// write in progress is invisible until its commit (a half-written upload is
// never picked up). During a commit on a filesystem without RENAME_EXCHANGE
// the model's previous tree (".<name>.old-...") stands in for it, so the
// model does not look deleted for a round.
//
// A model whose sync failed with ABORTED (another load of it is running on
// this replica) is retried next round; after any other result its snapshot
// is recorded, so a broken version is not reloaded every round (its next
// change triggers the next attempt).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace q8::server {

struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};

struct VersionSnapshot {
  std::optional<FileStamp> model, artifact, report;
  bool operator==(const VersionSnapshot&) const = default;
};

struct ModelSnapshot {
  std::optional<FileStamp> config;
  bool unloaded = false;
  std::map<int64_t, VersionSnapshot> versions;  // every valid version directory
  bool operator==(const ModelSnapshot&) const = default;
};

// Model name -> snapshot, for every directory with a valid model name.
using RepositorySnapshot = std::map<std::string, ModelSnapshot>;

absl::StatusOr<RepositorySnapshot> SnapshotRepository(const std::string& root);

struct ModelChange {
  std::string name;
  bool config_changed = false;
};
// Models present in either snapshot whose snapshots differ, sorted by name.
std::vector<ModelChange> ChangedModels(const RepositorySnapshot& before, const RepositorySnapshot& after);

class RepositoryPoller {
 public:
  using SyncFn = std::function<absl::Status(const std::string& name, bool config_changed)>;

  RepositoryPoller(std::string root, absl::Duration interval, SyncFn sync);
  ~RepositoryPoller();  // Stop()
  RepositoryPoller(const RepositoryPoller&) = delete;
  RepositoryPoller& operator=(const RepositoryPoller&) = delete;

  // Starts the thread; `baseline` is what the caller already loaded.
  void Start(RepositorySnapshot baseline);
  // Stops and joins the thread (a sync in progress finishes first). Idempotent.
  void Stop();
  // One round, on the caller's thread (tests). Returns the models synced.
  std::vector<std::string> PollOnce();

 private:
  void Run();

  const std::string root_;
  const absl::Duration interval_;
  const SyncFn sync_;
  absl::Mutex round_mu_;  // one round at a time
  RepositorySnapshot applied_ ABSL_GUARDED_BY(round_mu_);
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace q8::server
