// RepositoryPoller: change detection over a shared model repository
// (snapshots of file stamps), the poll loop's retry rules, and
// ModelLoader::SyncFromRepository between two loaders ("replicas") that
// share one directory, with the fake engine.
#include "server/repository_poller.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_loader.h"
#include "server/model_repository.h"
#include "tests/unit/server/fake_model.h"

namespace q8::server {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class PollerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("q8poll_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const fs::path& rel, const std::string& bytes) {
    fs::create_directories((root_ / rel).parent_path());
    ASSERT_TRUE(AtomicWriteFile((root_ / rel).string(), bytes).ok());
  }
  RepositorySnapshot Snap() {
    auto s = SnapshotRepository(root_.string());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : RepositorySnapshot{};
  }
  static std::vector<std::string> Names(const std::vector<ModelChange>& changes) {
    std::vector<std::string> out;
    for (const auto& c : changes) out.push_back(c.name);
    return out;
  }

  fs::path root_;
};

TEST_F(PollerTest, SnapshotRecordsTheFilesThatMatter) {
  Write("m/config.json", "{}");
  Write("m/1/model.onnx", "onnx");
  Write("m/1/report.json", "{}");
  Write("m/1/quantization.json", "q");
  Write("m/2/model.onnx", "onnx2");
  fs::create_directories(root_ / "m" / "notaversion");
  fs::create_directories(root_ / ".hidden" / "1");
  RepositorySnapshot s = Snap();
  ASSERT_EQ(s.size(), 1u);
  const ModelSnapshot& m = s.at("m");
  EXPECT_TRUE(m.config.has_value());
  EXPECT_FALSE(m.unloaded);
  ASSERT_EQ(m.versions.size(), 2u);
  EXPECT_EQ(m.versions.at(1).model->size, 4);
  EXPECT_TRUE(m.versions.at(1).artifact.has_value());
  EXPECT_TRUE(m.versions.at(1).report.has_value());
  EXPECT_FALSE(m.versions.at(2).artifact.has_value());
}

TEST_F(PollerTest, NothingChangedMeansNoChange) {
  Write("m/1/model.onnx", "onnx");
  RepositorySnapshot a = Snap();
  EXPECT_THAT(ChangedModels(a, Snap()), IsEmpty());
}

TEST_F(PollerTest, TempFilesAndCalibrationDataAreInvisible) {
  Write("m/1/model.onnx", "onnx");
  RepositorySnapshot a = Snap();
  // A write in progress (the loader's temp naming) and hand-placed data.
  std::ofstream(root_ / "m" / "1" / ".quantization.json.tmp-77-3") << "half";
  std::ofstream(root_ / "m" / ".config.json.tmp-77-4") << "{";
  Write("m/1/calibration/inputs.npy", "npy");
  EXPECT_THAT(ChangedModels(a, Snap()), IsEmpty());
}

TEST_F(PollerTest, ReplacingAFileWithTheSameBytesIsAChange) {
  Write("m/1/model.onnx", "onnx");
  RepositorySnapshot a = Snap();
  Write("m/1/model.onnx", "onnx");  // rename: new inode, same size
  std::vector<ModelChange> changes = ChangedModels(a, Snap());
  EXPECT_THAT(Names(changes), ElementsAre("m"));
  EXPECT_FALSE(changes[0].config_changed);
}

TEST_F(PollerTest, EachKindOfChangeIsDetected) {
  Write("a/1/model.onnx", "onnx");
  Write("b/1/model.onnx", "onnx");
  Write("c/1/model.onnx", "onnx");
  Write("d/1/model.onnx", "onnx");
  Write("e/1/model.onnx", "onnx");
  RepositorySnapshot before = Snap();
  Write("a/1/quantization.json", "q");  // artifact appeared (upload completed)
  Write("b/UNLOADED", "x");             // unloaded elsewhere
  fs::remove_all(root_ / "c");          // deleted
  Write("d/config.json", "{}");         // config changed
  Write("e/2/model.onnx", "onnx");      // new version
  Write("f/1/model.onnx", "onnx");      // new model
  std::vector<ModelChange> changes = ChangedModels(before, Snap());
  EXPECT_THAT(Names(changes), ElementsAre("a", "b", "c", "d", "e", "f"));
  for (const auto& c : changes) EXPECT_EQ(c.config_changed, c.name == "d") << c.name;
}

TEST_F(PollerTest, AbortedSyncIsRetriedOtherResultsAreNot) {
  Write("m/1/model.onnx", "onnx");
  Write("n/1/model.onnx", "onnx");
  std::map<std::string, int> calls;
  absl::Status m_result = absl::AbortedError("busy");
  RepositoryPoller poller(root_.string(), absl::Seconds(60), [&](const std::string& name, bool) {
    ++calls[name];
    return name == "m" ? m_result : absl::InternalError("broken");
  });
  EXPECT_THAT(poller.PollOnce(), ElementsAre("n"));  // empty baseline: both new; m was busy
  EXPECT_THAT(poller.PollOnce(), IsEmpty());         // nothing new for n; m still busy
  m_result = absl::OkStatus();
  EXPECT_THAT(poller.PollOnce(), ElementsAre("m"));
  EXPECT_THAT(poller.PollOnce(), IsEmpty());
  EXPECT_EQ(calls["m"], 3);
  EXPECT_EQ(calls["n"], 1);
}

TEST_F(PollerTest, ThreadPollsUntilStopped) {
  std::atomic<int> calls{0};
  RepositoryPoller poller(root_.string(), absl::Milliseconds(20), [&](const std::string&, bool) {
    ++calls;
    return absl::OkStatus();
  });
  poller.Start(Snap());
  Write("m/1/model.onnx", "onnx");
  for (int i = 0; i < 500 && calls == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  poller.Stop();
  EXPECT_EQ(calls, 1);
  Write("m/2/model.onnx", "onnx");
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(calls, 1);  // stopped
}

// ---- SyncFromRepository: replica A writes, replica B adopts ----

struct Replica {
  Replica(const fs::path& root, engine::QuantMode default_mode) : repo(root.string()) {
    LoaderOptions o;
    o.engine.compile = [this](absl::string_view b, const engine::CompileOptions& c) {
      ++compile_calls;
      return testing::FakeCompile(b, c);
    };
    o.engine.quantize = [this](absl::string_view b, const engine::CompileOptions& c,
                               const engine::QuantizationOptions& q, const engine::CalibrationData* d,
                               const engine::ProgressFn& p) { return quantizer.Quantize(b, c, q, d, p); };
    o.engine.load_quantized = [this](absl::string_view b, absl::string_view a, absl::string_view r,
                                     const engine::CompileOptions& c) { return quantizer.LoadQuantized(b, a, r, c); };
    o.default_config.quantization.mode = default_mode;
    o.default_config.quantization_auto = false;  // explicit modes; auto is covered by live_calibration_test
    o.on_ready_changed = [this](const std::string& name, bool ready) { health[name] = ready; };
    loader = std::make_unique<ModelLoader>(std::move(o), &repo, &registry);
  }
  ModelRepository repo;
  ModelRegistry registry;
  testing::FakeQuantizer quantizer;
  std::atomic<int> compile_calls{0};
  std::map<std::string, bool> health;
  std::unique_ptr<ModelLoader> loader;
};

class SyncTest : public PollerTest {
 protected:
  void SetUp() override {
    PollerTest::SetUp();
    a_ = std::make_unique<Replica>(root_, engine::QuantMode::kStatic);
    b_ = std::make_unique<Replica>(root_, engine::QuantMode::kStatic);
  }
  absl::Status UploadQuantized(const std::string& name, int64_t version, const std::string& bytes) {
    core::Tensor x(core::DataType::kFloat32, {10, 2});
    x.span<float>()[0] = 1;
    npy_ = core::SerializeNpy(x.view());
    LoadRequest r;
    r.name = name;
    r.files[version].model = {bytes, "file:1/model.onnx"};
    r.files[version].calibration_inputs = UploadedFile{npy_, "file:calibration/inputs.npy"};
    return a_->loader->Load(r);
  }

  std::unique_ptr<Replica> a_, b_;
  std::string npy_;
};

TEST_F(SyncTest, AdoptsThePersistedQuantizationWithoutCalibrating) {
  ASSERT_TRUE(UploadQuantized("m", 1, "good").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  auto served = b_->registry.Get("m", "");
  ASSERT_TRUE(served.ok()) << served.status();
  ASSERT_NE(served->served.quantization, nullptr);
  EXPECT_EQ(served->served.quantization->artifact, a_->registry.Get("m", "")->served.quantization->artifact);
  EXPECT_EQ(served->served.quantization->report_json, a_->registry.Get("m", "")->served.quantization->report_json);
  EXPECT_EQ(b_->quantizer.quantize_calls, 0);
  EXPECT_EQ(b_->quantizer.load_calls, 1);
  EXPECT_TRUE(b_->health["m"]);
  // Nothing changed on disk: the served model is kept, not reloaded.
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  EXPECT_EQ(b_->quantizer.load_calls, 1);
  EXPECT_EQ(b_->registry.Get("m", "")->model, served->model);
}

// Regression: adopted versions went unstamped, so replica B reported a load
// time of 0 and ignored config.json's shadow_fraction (it used the flag's).
TEST_F(SyncTest, AdoptedVersionCarriesLoadTimeAndConfiguredShadowFraction) {
  core::Tensor x(core::DataType::kFloat32, {10, 2});
  npy_ = core::SerializeNpy(x.view());
  LoadRequest r;
  r.name = "m";
  r.config_json = R"({"shadow_fraction": 0.25})";
  r.files[1].model = {"good", "file:1/model.onnx"};
  r.files[1].calibration_inputs = UploadedFile{npy_, "file:calibration/inputs.npy"};
  ASSERT_TRUE(a_->loader->Load(r).ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  for (Replica* replica : {a_.get(), b_.get()}) {
    auto served = replica->registry.Get("m", "");
    ASSERT_TRUE(served.ok()) << served.status();
    EXPECT_GT(served->served.load_seconds, 0);
    ASSERT_TRUE(served->served.shadow_fraction.has_value());
    EXPECT_DOUBLE_EQ(*served->served.shadow_fraction, 0.25);
  }
}

TEST_F(SyncTest, HalfWrittenVersionIsNeverPickedUp) {
  // The writer has renamed model.onnx into place but not yet quantization.json,
  // whose bytes are still in its temp file.
  Write("m/1/model.onnx", "good");
  std::ofstream(root_ / "m" / "1" / ".quantization.json.tmp-4242-7") << "artif";
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  EXPECT_FALSE(b_->registry.AnyReady("m"));
  EXPECT_FALSE(b_->registry.Contains("m"));
  EXPECT_EQ(b_->quantizer.quantize_calls, 0);  // never quantizes on its own
  EXPECT_EQ(b_->compile_calls, 0);
  // Read-only: nothing written, the other replica's temp file untouched.
  EXPECT_FALSE(fs::exists(root_ / "m" / "1" / "quantization.json"));
  EXPECT_TRUE(fs::exists(root_ / "m" / "1" / ".quantization.json.tmp-4242-7"));
}

TEST_F(SyncTest, ReuploadInProgressKeepsTheOldVersionServing) {
  ASSERT_TRUE(UploadQuantized("m", 1, "good").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  auto before = b_->registry.Get("m", "1");
  ASSERT_TRUE(before.ok());
  // A replaces version 1: artifact removed first, new model.onnx, artifact not yet written.
  ASSERT_TRUE(a_->repo.RemoveVersionFile("m", 1, kArtifactFileName).ok());
  ASSERT_TRUE(a_->repo.RemoveVersionFile("m", 1, kReportFileName).ok());
  ASSERT_TRUE(a_->repo.WriteModel("m", 1, "good2").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  EXPECT_EQ(b_->registry.Get("m", "1")->model, before->model);
  // A finishes: B adopts the new one.
  ASSERT_TRUE(UploadQuantized("m", 1, "good2").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  EXPECT_NE(b_->registry.Get("m", "1")->model, before->model);
  EXPECT_EQ(b_->registry.Get("m", "1")->served.onnx_fingerprint, Fingerprint("good2"));
}

TEST_F(SyncTest, ArtifactOfAnotherModelIsRefusedAndOldKeepsServing) {
  ASSERT_TRUE(UploadQuantized("m", 1, "good").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  auto before = b_->registry.Get("m", "1");
  Write("m/1/quantization.json", "garbage");  // damaged
  absl::Status s = b_->loader->SyncFromRepository("m", false);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("model 'm' version 1"));
  EXPECT_EQ(b_->registry.Get("m", "1")->model, before->model);
}

TEST_F(SyncTest, UnloadAndDeleteOnAReachB) {
  ASSERT_TRUE(UploadQuantized("m", 1, "good").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  ASSERT_TRUE(a_->loader->Unload("m").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  EXPECT_FALSE(b_->registry.AnyReady("m"));
  EXPECT_FALSE(b_->health["m"]);
  EXPECT_TRUE(fs::exists(root_ / "m" / "UNLOADED"));
  // Loaded again on A (marker removed): B serves again.
  ASSERT_TRUE(a_->loader->Load(LoadRequest{"m", std::nullopt, {}}).ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  EXPECT_TRUE(b_->registry.AnyReady("m"));
  fs::remove_all(root_ / "m");
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  EXPECT_FALSE(b_->registry.AnyReady("m"));
}

TEST_F(SyncTest, Fp32VersionsAndDroppedVersions) {
  LoadRequest r;
  r.name = "f";
  r.config_json = R"({"quantization":{"mode":"none"}})";
  r.files[1].model = {"good", "file:1/model.onnx"};
  r.files[2].model = {"good", "file:2/model.onnx"};
  ASSERT_TRUE(a_->loader->Load(r).ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("f", false).ok());
  EXPECT_THAT(b_->registry.ReadyVersions("f"), ElementsAre(1, 2));
  fs::remove_all(root_ / "f" / "2");
  ASSERT_TRUE(b_->loader->SyncFromRepository("f", false).ok());
  EXPECT_THAT(b_->registry.ReadyVersions("f"), ElementsAre(1));
}

TEST_F(SyncTest, ConfigChangeRebuilds) {
  ASSERT_TRUE(UploadQuantized("m", 1, "good").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  Write("m/config.json", R"({"max_batch_size":3})");
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", true).ok());
  EXPECT_EQ(b_->registry.Get("m", "")->model->max_batch_size(), 3);
  EXPECT_EQ(b_->quantizer.quantize_calls, 0);
}

TEST_F(SyncTest, StartupRemovesOnlyOldTempFiles) {
  Write("m/1/model.onnx", "good");
  const fs::path fresh = root_ / "m" / "1" / ".model.onnx.tmp-99-1";
  const fs::path old = root_ / "m" / "1" / ".report.json.tmp-98-1";
  std::ofstream(fresh) << "x";
  std::ofstream(old) << "x";
  fs::last_write_time(old, fs::file_time_type::clock::now() - std::chrono::hours(1));
  ASSERT_TRUE(b_->repo.ScanModel("m").ok());
  EXPECT_TRUE(fs::exists(fresh));  // maybe another replica's write in progress
  EXPECT_FALSE(fs::exists(old));
}

// Between the two renames of a commit without RENAME_EXCHANGE the model
// directory is missing; the poller must not take that for a deletion.
TEST_F(PollerTest, TwoRenameCommitDoesNotLookLikeADeletion) {
  Write("m/1/model.onnx", "good");
  Write("n/1/model.onnx", "good");
  RepositorySnapshot before = Snap();
  fs::rename(root_ / "m", root_ / ".m.old-host-123-0badcafe-0");
  EXPECT_THAT(Names(ChangedModels(before, Snap())), IsEmpty());
  fs::remove_all(root_ / "n");
  EXPECT_THAT(Names(ChangedModels(before, Snap())), ElementsAre("n"));
}

// One version that cannot be read does not stop the others from being
// adopted, and what serves keeps serving.
TEST_F(SyncTest, UnreadableVersionDoesNotBlockTheOthers) {
  ASSERT_TRUE(UploadQuantized("m", 1, "good").ok());
  ASSERT_TRUE(UploadQuantized("m", 2, "good").ok());
  ASSERT_TRUE(b_->loader->SyncFromRepository("m", false).ok());
  ASSERT_THAT(b_->registry.ReadyVersions("m"), ElementsAre(1, 2));
  ASSERT_TRUE(UploadQuantized("m", 3, "good").ok());
  const fs::path broken = root_ / "m" / "1" / "model.onnx";
  fs::remove(broken);
  fs::create_symlink(broken, broken);  // stat: ELOOP
  absl::Status s = b_->loader->SyncFromRepository("m", false);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("version 1"));
  EXPECT_THAT(b_->registry.ReadyVersions("m"), ElementsAre(1, 2, 3));
}

}  // namespace
}  // namespace q8::server
