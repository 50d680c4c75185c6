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

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
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

// Children are forked while gRPC client threads run (the poller test reads
// from the replica throughout). Debian's Abseil has mutex deadlock detection
// on, and a gRPC thread may hold its global graph lock at the fork: the
// child's first Mutex::Lock then waits forever (seen: a child stuck in
// SetRepositoryStepHookForTesting). Off before any thread starts, as in the
// server itself.
const bool kDeadlockGraphOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

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
    absl::StrAppend(
        &out, "v", m.version(), "=",
        std::hash<std::string>{}(resp.raw_output_contents_size() > 0 ? resp.raw_output_contents(0) : std::string()),
        ";");
  }
  return out.empty() ? "absent" : out;
}

// No temp file, staging directory or retired tree anywhere under `root`.
void ExpectNoLeftovers(const std::string& root) {
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    EXPECT_FALSE(server::IsTempFileName(e.path().filename().string())) << "leftover " << e.path();
  }
}

// Every model directory's complete versions are READY (none when UNLOADED),
// every version directory is complete, and nothing else is listed.
void ExpectIndexAgreesWithDisk(Stub& stub, const std::string& root) {
  grpc::ClientContext ctx;
  inference::RepositoryIndexResponse index;
  ASSERT_TRUE(stub.RepositoryIndex(&ctx, {}, &index).ok());
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

  ExpectNoLeftovers(root);
  ExpectIndexAgreesWithDisk(*stub, root);
  if (::testing::Test::HasFailure()) std::printf("%s\n", server.Log().c_str());
}

// Output of `model` version `version` on 4 fixed images ("" on error; the
// status in *status).
std::string Outputs(Stub& stub, const std::string& model, const std::string& version, grpc::Status* status) {
  inference::ModelInferRequest req = ImageRequest(model, TestImages(), 10, 4, true);
  req.set_model_version(version);
  inference::ModelInferResponse resp;
  *status = Infer(stub, req, &resp, 30);
  return status->ok() && resp.raw_output_contents_size() > 0 ? resp.raw_output_contents(0) : "";
}

// A replica polling a repository while writers die at every step of a
// version replacement (both commit modes) never stops and never serves a
// half-written version: every response is the old version's or the new
// one's, bit for bit, and nothing fails.
TEST(CrashPointsTest, PollingReplicaNeverServesAHalfWrittenVersion) {
  TestImages();
  Data();
  const std::string root = MakeTempDir("q8_poll_crash");
  const Sequence setup{
      "setup", [](Env&, const std::string&) { return absl::OkStatus(); },
      [](Env& env, const std::string& name) { return Upload(env, name, kStatic, 1, Data().mlp, true); }};
  ASSERT_EQ(RunInChild(root, setup, "m", -1).exit_code, 0);
  const Sequence replace{
      "replace", [](Env&, const std::string&) { return absl::OkStatus(); },
      [](Env& env, const std::string& name) { return Upload(env, name, kStatic32, 1, Data().cnn, true); }};
  const size_t steps =
      RunInChild(MakeTempDir("q8_poll_crash_probe"), Sequence{"probe", setup.op, replace.op}, "m", -1).steps.size();
  ASSERT_GT(steps, 10u);

  ServerProcess replica;
  ASSERT_TRUE(replica.Start(root, {"--cpus=1", "--repository_poll_seconds=0.05"}));
  auto stub = replica.Stub();
  grpc::Status status;
  const std::string old_outputs = Outputs(*stub, "m", "1", &status);
  ASSERT_TRUE(status.ok()) << status.error_message();

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<std::string> seen;
  std::vector<std::string> errors;
  int requests = 0;
  std::thread reader([&] {
    auto reader_stub = replica.Stub();
    while (!stop) {
      grpc::Status s;
      std::string out = Outputs(*reader_stub, "m", "1", &s);
      std::lock_guard<std::mutex> lock(mu);
      ++requests;
      if (s.ok()) {
        seen.insert(out);
      } else {
        errors.push_back(s.error_message());
      }
    }
  });
  // Writers die after every step but the last; the replica polls in between.
  for (const bool two_renames : kTwoRenameModes) {
    for (size_t k = 1; k < steps; ++k) {
      ASSERT_EQ(RunInChild(root, replace, "m", static_cast<int>(k), two_renames).exit_code, 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(120));
    }
  }
  ASSERT_EQ(RunInChild(root, replace, "m", -1).exit_code, 0);
  // A fresh start on the final repository says what the new version serves.
  std::string new_outputs;
  {
    const std::string copy = MakeTempDir("q8_poll_crash_final");
    fs::copy(fs::path(root) / "m", fs::path(copy) / "m", fs::copy_options::recursive);
    ServerProcess fresh;
    ASSERT_TRUE(fresh.Start(copy, {"--cpus=1"}));
    new_outputs = Outputs(*fresh.Stub(), "m", "1", &status);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(fresh.Stop(), 0);
  }
  ASSERT_NE(new_outputs, old_outputs);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Outputs(*stub, "m", "1", &status) != new_outputs && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  reader.join();
  EXPECT_EQ(Outputs(*stub, "m", "1", &status), new_outputs) << "the replica never adopted the complete version";
  std::printf("%d requests during %zu interrupted writes; %zu distinct outputs\n", requests, 2 * (steps - 1),
              seen.size());
  EXPECT_GT(requests, 0);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  for (const std::string& out : seen) {
    EXPECT_TRUE(out == old_outputs || out == new_outputs) << "served a version that is neither old nor new";
  }
  grpc::health::v1::HealthCheckResponse::ServingStatus serving{};
  EXPECT_TRUE(replica.HealthCheck("", &serving).ok());
  EXPECT_EQ(serving, grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(replica.Stop(), 0) << replica.Log();
}

// ---- SIGKILL at random moments during uploads (issue 11 item 8, issue 16 item 4) ----

grpc::Status UploadWithCalibration(Stub& stub, const std::string& name, int64_t version, const std::string& model) {
  inference::RepositoryModelLoadRequest req;
  req.set_model_name(name);
  (*req.mutable_parameters())["config"].set_string_param(kStatic);
  (*req.mutable_parameters())[absl::StrCat("file:", version, "/model.onnx")].set_bytes_param(model);
  (*req.mutable_parameters())["file:calibration/inputs.npy"].set_bytes_param(Data().inputs);
  (*req.mutable_parameters())["file:calibration/labels.npy"].set_bytes_param(Data().labels);
  inference::RepositoryModelLoadResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  return stub.RepositoryModelLoad(&ctx, req, &resp);
}

// Q8_CRASH_KILLS kills (default 30, what CI runs): each kills q8serve with
// SIGKILL at a random moment of an upload with static quantization (new
// models, new versions, replaced versions), restarts it on the same
// repository and checks: it starts; every version READY before serves
// bit-identical outputs (the interrupted one: its old outputs or the
// upload's, and the upload's if the client saw OK); no leftovers; the index
// agrees with the disk.
TEST(CrashKillTest, SigkillDuringUploadsLosesNothingThatWasReady) {
  TestImages();
  Data();
  int kills = 30;
  if (const char* env = std::getenv("Q8_CRASH_KILLS")) kills = std::max(1, std::atoi(env));
  uint32_t seed = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  if (const char* env = std::getenv("Q8_CRASH_SEED")) seed = static_cast<uint32_t>(std::atoll(env));
  std::printf("%d kills, seed %u (Q8_CRASH_KILLS, Q8_CRASH_SEED)\n", kills, seed);
  std::mt19937 rng(seed);
  const std::string root = MakeTempDir("q8_kill");
  const std::string* variants[] = {&Data().mlp, &Data().cnn};

  ServerProcess server;
  ASSERT_TRUE(server.Start(root, {"--cpus=1"}));
  // What each variant serves once uploaded, and how long an upload takes.
  std::string variant_outputs[2];
  double upload_seconds[2];
  grpc::Status status;
  for (int v = 0; v < 2; ++v) {
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(UploadWithCalibration(*server.Stub(), absl::StrCat("ref", v), 1, *variants[v]).ok());
    upload_seconds[v] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    variant_outputs[v] = Outputs(*server.Stub(), absl::StrCat("ref", v), "1", &status);
    ASSERT_TRUE(status.ok());
  }
  ASSERT_NE(variant_outputs[0], variant_outputs[1]);
  std::printf("upload + static quantization: mlp %.3f s, cnn %.3f s\n", upload_seconds[0], upload_seconds[1]);
  // (model, version) -> the outputs it serves.
  std::map<std::pair<std::string, std::string>, std::string> ready = {{{"ref0", "1"}, variant_outputs[0]},
                                                                      {{"ref1", "1"}, variant_outputs[1]}};

  int interrupted = 0, completed = 0;
  for (int i = 0; i < kills; ++i) {
    if (i % 10 == 9) {
      // Uploads slow down as the repository grows and the machine's load
      // changes: re-measure (the same bytes again, so ref<v> keeps serving
      // the same outputs).
      for (int v = 0; v < 2; ++v) {
        const auto start = std::chrono::steady_clock::now();
        ASSERT_TRUE(UploadWithCalibration(*server.Stub(), absl::StrCat("ref", v), 1, *variants[v]).ok());
        upload_seconds[v] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    const std::string name = absl::StrCat("m", rng() % 3);
    const int64_t version = 1 + static_cast<int64_t>(rng() % 2);
    const int v = static_cast<int>(rng() % 2);
    // Half the kills anywhere in the upload, half near its end, where the
    // repository is written.
    const double span = upload_seconds[v];
    const double delay =
        (rng() % 2 == 0) ? span * 1.2 * (rng() % 1000) / 1000.0 : span * (0.7 + 0.5 * (rng() % 1000) / 1000.0);
    grpc::Status upload;
    std::thread client([&] { upload = UploadWithCalibration(*server.Stub(), name, version, *variants[v]); });
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    server.Signal(SIGKILL);
    client.join();
    ASSERT_EQ(server.WaitForExit(30), 128 + SIGKILL);
    upload.ok() ? ++completed : ++interrupted;

    ASSERT_TRUE(server.Start(root, {"--cpus=1"})) << "kill " << i << ": the server must come back";
    auto stub = server.Stub();
    const std::pair<std::string, std::string> target{name, std::to_string(version)};
    for (const auto& [key, outputs] : ready) {
      if (key == target) continue;
      EXPECT_EQ(Outputs(*stub, key.first, key.second, &status), outputs)
          << "kill " << i << ": " << key.first << ":" << key.second << " " << status.error_message();
    }
    const std::string now = Outputs(*stub, name, target.second, &status);
    if (upload.ok()) {
      EXPECT_EQ(now, variant_outputs[v]) << "kill " << i << ": an acknowledged upload was lost";
    } else if (status.ok()) {
      auto before = ready.find(target);
      EXPECT_TRUE(now == variant_outputs[v] || (before != ready.end() && now == before->second))
          << "kill " << i << ": " << name << ":" << version << " serves a half-written version";
    } else {
      EXPECT_EQ(ready.count(target), 0u) << "kill " << i << ": " << name << ":" << version
                                         << " was READY and is lost: " << status.error_message();
    }
    if (status.ok()) ready[target] = now;
    ExpectNoLeftovers(root);
    ExpectIndexAgreesWithDisk(*stub, root);
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("%d kills: %d uploads interrupted, %d completed before the kill; %zu versions READY at the end\n", kills,
              interrupted, completed, ready.size());
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace q8::testing
