// Crash points of the repository write protocol, enumerated (issue 16,
// item 3; the ALICE approach: states derived from the write order, not
// sampled by random kills).
//
// Every write sequence (upload with and without calibration files, replace a
// version, add a version, unload marker, reload of an unloaded model,
// persisting a quantization made from hand-placed calibration data) runs
// through the real ModelLoader and ModelRepository in a forked child. The
// repository's step hook reports each filesystem change; the child dies
// (_exit, no cleanup, as SIGKILL would leave it) right after step k. So the
// step list is the code's, not a copy that could drift. For every k in 0..N
// the state is kept under its own model name in one repository beside two
// good models; then one real q8serve starts on it, and the test checks:
// it starts; the good models serve their previous outputs (bit for bit, from
// a run before the states were added); each interrupted model serves exactly
// what it served before the sequence (k = 0) or after it (k = N), never a
// mix; no leftovers remain; RepositoryIndex agrees with the disk.
//
// Process crashes only: the page cache survives a SIGKILL, so fsync order
// does not create extra states here (it is what makes each rename durable
// after a power loss).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_loader.h"
#include "server/model_registry.h"
#include "server/model_repository.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/server_process.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
using server::LoadRequest;
using server::ModelLoader;
using server::ModelRegistry;
using server::ModelRepository;
using server::UploadedFile;
using server::UploadedVersion;

constexpr char kStatic[] = R"({"quantization":{"mode":"static"}})";
constexpr char kStatic32[] = R"({"max_batch_size":32,"quantization":{"mode":"static"}})";

struct Blobs {
  std::string mlp, cnn, inputs, labels;
};

const Blobs& Data() {
  static const Blobs* blobs = [] {
    auto* b = new Blobs;
    b->mlp = ReadFileOrDie(TestDataPath("fashion_mlp.onnx"));
    b->cnn = ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
    b->inputs = CalibrationInputsNpy(64);
    b->labels = CalibrationLabelsNpy(64);
    return b;
  }();
  return *blobs;
}

// The loader and repository of a child process.
struct Env {
  explicit Env(const std::string& root) : repo(root), loader(Options(), &repo, &registry) {}
  static server::LoaderOptions Options() {
    server::LoaderOptions o;
    o.engine = server::RealEngine();
    o.cpus = 1;
    return o;
  }
  ModelRepository repo;
  ModelRegistry registry;
  ModelLoader loader;
};

absl::Status Upload(Env& env, const std::string& name, std::optional<std::string> config, int64_t version,
                    const std::string& model, bool calibration) {
  LoadRequest request;
  request.name = name;
  request.config_json = std::move(config);
  UploadedVersion files;
  files.model = UploadedFile{model, "model.onnx"};
  if (calibration) {
    files.calibration_inputs = UploadedFile{Data().inputs, "calibration/inputs.npy"};
    files.calibration_labels = UploadedFile{Data().labels, "calibration/labels.npy"};
  }
  request.files[version] = files;
  return env.loader.Load(request);
}

absl::Status Reload(Env& env, const std::string& name) {
  LoadRequest request;
  request.name = name;
  return env.loader.Load(request);
}

void PlaceFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

struct Sequence {
  std::string id;
  std::function<absl::Status(Env&, const std::string& name)> setup;  // the state before; never interrupted
  std::function<absl::Status(Env&, const std::string& name)> op;     // the write sequence under test
  // false: the sequence only persists what the state before already serves
  // (a quantization made at load), so before and after serve the same.
  bool changes_outputs = true;
};

std::vector<Sequence> Sequences() {
  const Blobs& d = Data();
  auto nothing = [](Env&, const std::string&) { return absl::OkStatus(); };
  auto mlp_static = [&d](Env& env, const std::string& name) { return Upload(env, name, kStatic, 1, d.mlp, true); };
  auto mlp_fp32 = [&d](Env& env, const std::string& name) { return Upload(env, name, kFp32Config, 1, d.mlp, false); };
  return {
      {"upload_static", nothing, mlp_static},
      {"upload_fp32", nothing, mlp_fp32},
      {"replace_version", mlp_static,
       [&d](Env& env, const std::string& name) { return Upload(env, name, kStatic32, 1, d.cnn, true); }},
      {"add_version", mlp_static,
       [&d](Env& env, const std::string& name) { return Upload(env, name, std::nullopt, 2, d.cnn, true); }},
      {"unload", mlp_fp32, [](Env& env, const std::string& name) { return env.loader.Unload(name); }},
      {"reload_unloaded",
       [mlp_fp32](Env& env, const std::string& name) {
         absl::Status s = mlp_fp32(env, name);
         return s.ok() ? env.loader.Unload(name) : s;
       },
       Reload},
      {"persist_calibrated",
       [&d](Env& env, const std::string& name) {
         // A hand-populated version: quantized from its calibration files
         // on load, then the artifact is persisted.
         const fs::path dir = fs::path(env.repo.root()) / name;
         PlaceFile(dir / "config.json", kStatic);
         PlaceFile(dir / "1" / "model.onnx", d.mlp);
         PlaceFile(dir / "1" / "calibration" / "inputs.npy", d.inputs);
         PlaceFile(dir / "1" / "calibration" / "labels.npy", d.labels);
         return absl::OkStatus();
       },
       Reload, /*changes_outputs=*/false},
  };
}

struct ChildResult {
  int exit_code = -1;
  std::vector<std::string> steps;
};

// Runs setup + op of `seq` on model `name` in a child that dies right after
// step `crash_after` of the op (0: before the op; -1: never).
ChildResult RunInChild(const std::string& root, const Sequence& seq, const std::string& name, int crash_after,
                       bool two_renames = false) {
  const std::string steps_path = absl::StrCat(root, "/../", fs::path(root).filename().string(), ".steps");
  const int fd = ::open(steps_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ChildResult result;
  if (fd < 0) return result;
  fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    Env env(root);
    if (!seq.setup(env, name).ok()) ::_exit(2);
    server::ForceTwoRenameCommitForTesting(two_renames);
    if (crash_after == 0) ::_exit(0);
    int count = 0;
    server::SetRepositoryStepHookForTesting([&](absl::string_view step) {
      const std::string line = absl::StrCat(absl::StrReplaceAll(step, {{root, "ROOT"}}), "\n");
      if (::write(fd, line.data(), line.size()) < 0) ::_exit(4);
      if (++count == crash_after) ::_exit(0);
    });
    absl::Status s = seq.op(env, name);
    if (!s.ok()) {
      std::fprintf(stderr, "%s/%s: %s\n", seq.id.c_str(), name.c_str(), s.ToString().c_str());
      ::_exit(3);
    }
    ::_exit(0);
  }
  ::close(fd);
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  std::ifstream in(steps_path);
  for (std::string line; std::getline(in, line);) result.steps.push_back(line);
  return result;
}

// What a model serves: "absent", or per READY version the raw logits of 4 images.
std::string Served(Stub& stub, const std::string& model) {
  grpc::ClientContext ctx;
  inference::RepositoryIndexResponse index;
  EXPECT_TRUE(stub.RepositoryIndex(&ctx, {}, &index).ok());
  std::string out;
  for (const auto& m : index.models()) {
    if (m.name() != model || m.state() != "READY") continue;
    inference::ModelInferRequest req = ImageRequest(model, TestImages(), 10, 4, true);
    req.set_model_version(m.version());
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(stub, req, &resp);
    EXPECT_TRUE(s.ok()) << model << ":" << m.version() << " is READY but fails: " << s.error_message();
    absl::StrAppend(&out, "v", m.version(), "=", std::hash<std::string>{}(resp.raw_output_contents_size() > 0
                                                                               ? resp.raw_output_contents(0)
                                                                               : std::string()),
                    ";");
  }
  return out.empty() ? "absent" : out;
}

// The commit modes: RENAME_EXCHANGE, and the two-rename fallback of
// filesystems without it (forced through the test seam).
constexpr bool kTwoRenameModes[] = {false, true};

std::string StateName(const std::string& id, bool two_renames, size_t k) {
  return absl::StrCat(id, two_renames ? "_2r_" : "_x_", k);
}

TEST(CrashPointsTest, EveryPrefixOfEveryWriteSequenceRestartsServingOldOrNew) {
  TestImages();
  Data();
  const std::string root = MakeTempDir("q8_crash_points");
  const std::string reference = MakeTempDir("q8_crash_points_ref");
  const Sequence good{"good", [](Env&, const std::string&) { return absl::OkStatus(); },
                      [](Env& env, const std::string& name) {
                        return Upload(env, name, kStatic, 1, name == "good_a" ? Data().mlp : Data().cnn, true);
                      }};
  for (const char* name : {"good_a", "good_b"}) {
    ASSERT_EQ(RunInChild(reference, good, name, -1).exit_code, 0);
  }
  fs::copy(reference, root, fs::copy_options::recursive);

  // Lay out every state.
  std::map<std::pair<std::string, bool>, size_t> step_counts;
  size_t states = 0;
  for (const bool two_renames : kTwoRenameModes) {
    for (const Sequence& seq : Sequences()) {
      ChildResult full = RunInChild(MakeTempDir("q8_crash_points_" + seq.id), seq, "probe", -1, two_renames);
      ASSERT_EQ(full.exit_code, 0) << seq.id;
      const size_t n = full.steps.size();
      ASSERT_GT(n, 0u) << seq.id;
      step_counts[{seq.id, two_renames}] = n;
      std::printf("%s (%s): %zu steps\n", seq.id.c_str(), two_renames ? "two renames" : "RENAME_EXCHANGE", n);
      for (size_t i = 0; i < n; ++i) {
        std::printf("  %2zu %s\n", i + 1, absl::StrReplaceAll(full.steps[i], {{"probe", "M"}}).c_str());
      }
      for (size_t k = 0; k <= n; ++k) {
        ChildResult r =
            RunInChild(root, seq, StateName(seq.id, two_renames, k), k == n ? -1 : static_cast<int>(k), two_renames);
        ASSERT_EQ(r.exit_code, 0) << seq.id << " k=" << k;
        // The same sequence with the same inputs takes the same steps.
        ASSERT_EQ(r.steps.size(), k) << seq.id << " k=" << k;
        ++states;
      }
    }
  }
  std::printf("%zu crash states laid out\n", states);

  std::map<std::string, std::string> good_before;
  {
    ServerProcess server;
    server.set_log_suffix(".ref.log");
    ASSERT_TRUE(server.Start(reference, {"--cpus=1"}));
    auto stub = server.Stub();
    for (const char* name : {"good_a", "good_b"}) good_before[name] = Served(*stub, name);
    EXPECT_EQ(server.Stop(), 0);
  }

  ServerProcess server;
  ASSERT_TRUE(server.Start(root, {"--cpus=1"}, 600)) << "the server must start on every crash state";
  auto stub = server.Stub();
  for (const char* name : {"good_a", "good_b"}) {
    EXPECT_NE(good_before[name], "absent");
    EXPECT_EQ(Served(*stub, name), good_before[name]) << name;
  }
  for (const bool two_renames : kTwoRenameModes) {
    for (const Sequence& seq : Sequences()) {
      const size_t n = step_counts[{seq.id, two_renames}];
      const std::string before = Served(*stub, StateName(seq.id, two_renames, 0));
      const std::string after = Served(*stub, StateName(seq.id, two_renames, n));
      if (seq.changes_outputs) {
        EXPECT_NE(before, after) << seq.id << ": the sequence must change what is served, or the test proves nothing";
      } else {
        EXPECT_NE(before, "absent") << seq.id;
        EXPECT_EQ(before, after) << seq.id;
      }
      for (size_t k = 1; k < n; ++k) {
        const std::string now = Served(*stub, StateName(seq.id, two_renames, k));
        EXPECT_TRUE(now == before || now == after)
            << StateName(seq.id, two_renames, k) << " (interrupted after step " << k << ") serves " << now
            << "; before: " << before << ", after: " << after;
      }
    }
  }

  // No leftovers; the index agrees with the disk.
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    EXPECT_FALSE(server::IsTempFileName(e.path().filename().string())) << "leftover " << e.path();
  }
  grpc::ClientContext ctx;
  inference::RepositoryIndexResponse index;
  ASSERT_TRUE(stub->RepositoryIndex(&ctx, {}, &index).ok());
  std::map<std::string, std::set<std::string>> ready;
  std::set<std::string> listed;
  for (const auto& m : index.models()) {
    listed.insert(m.name());
    if (m.state() == "READY") ready[m.name()].insert(m.version());
  }
  std::set<std::string> on_disk_models;
  for (const auto& model : fs::directory_iterator(root)) {
    const std::string name = model.path().filename().string();
    on_disk_models.insert(name);
    std::set<std::string> versions;
    for (const auto& v : fs::directory_iterator(model.path())) {
      if (v.is_directory()) {
        EXPECT_TRUE(fs::exists(v.path() / "model.onnx")) << "incomplete version directory " << v.path();
        versions.insert(v.path().filename().string());
      }
    }
    if (fs::exists(model.path() / "UNLOADED")) versions.clear();
    EXPECT_EQ(ready[name], versions) << name;
  }
  for (const std::string& name : listed) EXPECT_EQ(on_disk_models.count(name), 1u) << name << " listed, not on disk";
  if (::testing::Test::HasFailure()) std::printf("%s\n", server.Log().c_str());
}

}  // namespace
}  // namespace q8::testing
