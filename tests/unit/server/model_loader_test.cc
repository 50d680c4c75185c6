#include "server/model_loader.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "core/npy.h"
#include "core/npz.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/server/fake_model.h"

namespace q8::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("q8loader_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    repo_ = std::make_unique<ModelRepository>(root_.string());
    ASSERT_TRUE(repo_->Init().ok());
    MakeLoader(testing::FakeCompile);
  }
  void TearDown() override { fs::remove_all(root_); }
  // Tests of the fp32 lifecycle default to quantization mode none.
  void MakeLoader(CompileFn compile, engine::QuantMode default_mode = engine::QuantMode::kNone,
                  ModelRegistry* registry = nullptr, const std::function<void(LoaderOptions&)>& tweak = nullptr) {
    LoaderOptions o;
    o.engine.compile = std::move(compile);
    o.engine.quantize = [this](absl::string_view b, const engine::CompileOptions& c,
                               const engine::QuantizationOptions& q, const engine::CalibrationData* d,
                               const engine::ProgressFn& p) { return quantizer_.Quantize(b, c, q, d, p); };
    o.engine.load_quantized = [this](absl::string_view b, absl::string_view a, absl::string_view r,
                                     const engine::CompileOptions& c) { return quantizer_.LoadQuantized(b, a, r, c); };
    o.default_config.quantization.mode = default_mode;
    o.default_config.quantization_auto = false;  // the mode given; LiveCalibrationTest covers auto
    o.on_ready_changed = [this](const std::string& name, bool ready) { notified_[name] = ready; };
    if (tweak) tweak(o);
    loader_ = std::make_unique<ModelLoader>(std::move(o), repo_.get(), registry != nullptr ? registry : &registry_);
  }
  static LoadRequest Upload(const std::string& name, int64_t version, absl::string_view bytes) {
    LoadRequest r;
    r.name = name;
    r.files[version].model = {bytes, "file:1/model.onnx"};
    return r;
  }
  // An upload with calibration data whose first value is `first` (negative:
  // the fake quantizer rejects it).
  LoadRequest QuantUpload(const std::string& name, int64_t version, absl::string_view bytes, float first = 1) {
    core::Tensor x(core::DataType::kFloat32, {10, 2});
    x.span<float>()[0] = first;
    npy_.push_back(std::make_unique<std::string>(core::SerializeNpy(x.view())));
    LoadRequest r = Upload(name, version, bytes);
    r.files[version].calibration_inputs = UploadedFile{*npy_.back(), "file:calibration/inputs.npy"};
    return r;
  }
  std::string ReadIfExists(const fs::path& p) {
    auto bytes = ReadFile(p.string());
    return bytes.ok() ? *bytes : "";
  }

  fs::path root_;
  std::unique_ptr<ModelRepository> repo_;
  ModelRegistry registry_;
  testing::FakeQuantizer quantizer_;
  std::unique_ptr<ModelLoader> loader_;
  std::map<std::string, bool> notified_;
  std::vector<std::unique_ptr<std::string>> npy_;
};

TEST_F(LoaderTest, UploadWritesPublishesAndNotifies) {
  LoadRequest r = Upload("m", 1, "good");
  r.config_json = R"({"max_batch_size":4})";
  ASSERT_TRUE(loader_->Load(r).ok());
  EXPECT_EQ(*repo_->ReadModel("m", 1), "good");
  EXPECT_TRUE(fs::exists(root_ / "m" / "config.json"));
  auto h = registry_.Get("m", "");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->model->max_batch_size(), 4);
  EXPECT_TRUE(notified_["m"]);
}

TEST_F(LoaderTest, CompileFailureWritesNothingAndOldKeepsServing) {
  ASSERT_TRUE(loader_->Load(Upload("m", 1, "good")).ok());
  auto before = registry_.Get("m", "1");
  absl::Status s = loader_->Load(Upload("m", 2, "bad"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("model 'm' version 2: unsupported op 'Erf'"));
  EXPECT_FALSE(fs::exists(root_ / "m" / "2"));
  auto after = registry_.Get("m", "");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, 1);
  EXPECT_EQ(after->model, before->model);  // not even recompiled
  // Replacing version 1 with a bad file keeps the old version 1.
  EXPECT_FALSE(loader_->Load(Upload("m", 1, "bad")).ok());
  EXPECT_EQ(*repo_->ReadModel("m", 1), "good");
  EXPECT_EQ(registry_.Get("m", "1")->model, before->model);
}

TEST_F(LoaderTest, BadConfigIsRejectedBeforeCompiling) {
  LoadRequest r = Upload("m", 1, "good");
  r.config_json = "{oops";
  EXPECT_EQ(loader_->Load(r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_ / "m"));
  EXPECT_FALSE(registry_.Contains("m"));
}

TEST_F(LoaderTest, ReloadWithoutFilesUsesDisk) {
  EXPECT_EQ(loader_->Load(LoadRequest{"ghost", std::nullopt, {}}).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(loader_->Load(Upload("m", 1, "good")).ok());
  ASSERT_TRUE(loader_->Unload("m").ok());
  EXPECT_FALSE(registry_.AnyReady("m"));
  EXPECT_FALSE(notified_["m"]);
  EXPECT_TRUE(repo_->ScanModel("m")->unloaded);
  ASSERT_TRUE(loader_->Load(LoadRequest{"m", std::nullopt, {}}).ok());
  EXPECT_TRUE(registry_.AnyReady("m"));
  EXPECT_FALSE(repo_->ScanModel("m")->unloaded);
}

TEST_F(LoaderTest, UnloadUnknownIsNotFound) {
  absl::Status s = loader_->Unload("ghost");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'ghost'"));
}

TEST_F(LoaderTest, ConcurrentLoadOfSameNameIsAborted) {
  absl::Notification compiling, release;
  MakeLoader([&](absl::string_view bytes, const engine::CompileOptions& o) {
    if (bytes == "slow") {
      compiling.Notify();
      release.WaitForNotification();
    }
    return testing::FakeCompile(bytes, o);
  });
  absl::Status first;
  std::thread t([&] { first = loader_->Load(Upload("m", 1, "slow")); });
  compiling.WaitForNotification();
  absl::Status second = loader_->Load(Upload("m", 2, "good"));
  EXPECT_EQ(second.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(second.message()), HasSubstr("already in progress"));
  EXPECT_EQ(loader_->Unload("m").code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(loader_->Load(Upload("other", 1, "good")).ok());  // other names proceed
  release.Notify();
  t.join();
  EXPECT_TRUE(first.ok()) << first;
  EXPECT_TRUE(loader_->Load(Upload("m", 2, "good")).ok());  // and afterwards it works
  EXPECT_EQ(registry_.Get("m", "")->version, 2);
}

TEST_F(LoaderTest, StartupLoadsRepositoryAndRecordsFailures) {
  ASSERT_TRUE(repo_->WriteModel("a", 1, "good").ok());
  ASSERT_TRUE(repo_->WriteModel("a", 2, "bad").ok());
  ASSERT_TRUE(repo_->WriteModel("b", 1, "good").ok());
  ASSERT_TRUE(repo_->SetUnloaded("b", true).ok());
  ASSERT_TRUE(repo_->WriteModel("c", 1, "good").ok());
  ASSERT_TRUE(repo_->WriteConfig("c", "not json").ok());
  ASSERT_TRUE(loader_->LoadAll().ok());
  EXPECT_EQ(registry_.Get("a", "")->version, 1);
  auto a2 = registry_.Get("a", "2");
  EXPECT_THAT(std::string(a2.status().message()), HasSubstr("UNAVAILABLE"));
  EXPECT_FALSE(registry_.AnyReady("b"));
  EXPECT_FALSE(registry_.AnyReady("c"));
  std::map<std::string, std::string> reasons;
  for (const auto& e : registry_.Index()) {
    reasons[e.name + ":" + std::to_string(e.version)] = std::string(ToString(e.state)) + " " + e.reason;
  }
  EXPECT_EQ(reasons["a:1"], "READY ");
  EXPECT_THAT(reasons["a:2"], HasSubstr("UNAVAILABLE model 'a' version 2: unsupported op"));
  EXPECT_EQ(reasons["b:0"], "UNAVAILABLE unloaded");
  EXPECT_THAT(reasons["c:0"], HasSubstr("not valid JSON"));
  EXPECT_TRUE(notified_["a"]);
}

// Issue 16: a version directory without model.onnx, a model with only
// leftovers, a model directory or model.onnx that cannot be read: each is its
// model's trouble (reported with the reason), LoadAll succeeds and the rest
// serves.
TEST_F(LoaderTest, StartupKeepsEachModelsTroubleToItself) {
  ASSERT_TRUE(repo_->WriteModel("good", 1, "good").ok());
  fs::create_directories(root_ / "good" / "2");  // newer version, still empty
  ASSERT_TRUE(repo_->WriteModel("mixed", 2, "good").ok());
  fs::create_directories(root_ / "mixed" / "1");
  fs::create_symlink(root_ / "mixed" / "1" / "model.onnx", root_ / "mixed" / "1" / "model.onnx");  // ELOOP
  fs::create_directories(root_ / "empty" / "1");
  fs::create_symlink(root_ / "nowhere", root_ / "dangling");
  ASSERT_TRUE(loader_->LoadAll().ok());
  std::map<std::string, std::string> reasons;
  for (const auto& e : registry_.Index()) {
    reasons[e.name + ":" + std::to_string(e.version)] = std::string(ToString(e.state)) + " " + e.reason;
  }
  EXPECT_EQ(reasons["good:1"], "READY ");
  EXPECT_EQ(reasons.count("good:2"), 0u);
  EXPECT_EQ(reasons["mixed:2"], "READY ");
  EXPECT_THAT(reasons["mixed:1"], HasSubstr("UNAVAILABLE model 'mixed' version 1: cannot stat"));
  EXPECT_THAT(reasons["empty:0"], HasSubstr("UNAVAILABLE no version directory with a model.onnx"));
  EXPECT_THAT(reasons["dangling:0"], HasSubstr("UNAVAILABLE cannot read the model directory"));
  EXPECT_EQ(registry_.Get("good", "")->version, 1);
}

// ---- Quantization ----

TEST_F(LoaderTest, StaticUploadPersistsArtifactAndReportAfterSuccess) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  std::vector<std::string> stages;
  std::map<int64_t, ServedModel> published;
  absl::Status s = loader_->Load(
      QuantUpload("q", 1, "good"),
      [&](int64_t v, const engine::QuantizationProgress& p) { stages.push_back(absl::StrCat(v, ":", p.stage)); },
      &published);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(stages, ::testing::ElementsAre("1:calibration", "1:quantization", "1:evaluation", "1:benchmark"));
  ASSERT_EQ(published.count(1), 1u);
  ASSERT_NE(published[1].quantization, nullptr);
  EXPECT_EQ(published[1].quantization->summary, "int8 static, target met");
  EXPECT_EQ(PlatformOf(published[1]), kPlatformInt8);
  EXPECT_NE(published[1].fp32_model, nullptr);
  EXPECT_NE(published[1].fp32_model, published[1].model);

  EXPECT_EQ(ReadIfExists(root_ / "q" / "1" / "model.onnx"), "good");
  EXPECT_EQ(ReadIfExists(root_ / "q" / "1" / "quantization.json"), "artifact:static:10");
  EXPECT_EQ(ReadIfExists(root_ / "q" / "1" / "report.json"), published[1].quantization->report_json);
  EXPECT_FALSE(fs::exists(root_ / "q" / "1" / "calibration"));  // uploaded data is not kept
  auto h = registry_.Get("q", "");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->served.quantization, published[1].quantization);
  EXPECT_EQ(registry_.Index()[0].reason, "int8 static, target met");
}

TEST_F(LoaderTest, StaticWithoutDataIsFailedPreconditionAndWritesNothing) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  absl::Status s = loader_->Load(Upload("q", 1, "good"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("model 'q' version 1: static quantization needs calibration data"));
  EXPECT_FALSE(fs::exists(root_ / "q"));
  // Dynamic and none need no data.
  LoadRequest dynamic = Upload("d", 1, "good");
  dynamic.config_json = R"({"quantization":{"mode":"dynamic"}})";
  ASSERT_TRUE(loader_->Load(dynamic).ok());
  EXPECT_EQ(ReadIfExists(root_ / "d" / "1" / "quantization.json"), "artifact:dynamic:0");
  EXPECT_EQ(registry_.Get("d", "")->served.quantization->summary, "int8 dynamic, accuracy not checked");
}

TEST_F(LoaderTest, NonNpyCalibrationIsInvalidArgumentNamingTheFile) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  LoadRequest r = Upload("q", 1, "good");
  r.files[1].calibration_inputs = UploadedFile{"not numpy", "file:calibration/inputs.npy"};
  absl::Status s = loader_->Load(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("model 'q' version 1: file:calibration/inputs.npy is not a valid .npy file"));
  EXPECT_FALSE(fs::exists(root_ / "q"));
  EXPECT_EQ(quantizer_.quantize_calls, 0);
}

TEST_F(LoaderTest, FailedQuantizationLeavesThePreviousVersionUntouched) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  ASSERT_TRUE(loader_->Load(QuantUpload("q", 1, "good")).ok());
  const std::string report = ReadIfExists(root_ / "q" / "1" / "report.json");
  auto before = registry_.Get("q", "1");
  absl::Status s = loader_->Load(QuantUpload("q", 1, "other", /*first=*/-1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadIfExists(root_ / "q" / "1" / "model.onnx"), "good");
  EXPECT_EQ(ReadIfExists(root_ / "q" / "1" / "report.json"), report);
  EXPECT_EQ(ReadIfExists(root_ / "q" / "1" / "quantization.json"), "artifact:static:10");
  EXPECT_EQ(registry_.Get("q", "1")->model, before->model);
  s = loader_->Load(QuantUpload("q", 2, "good", -1));
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(fs::exists(root_ / "q" / "2"));
}

TEST_F(LoaderTest, ReuploadInModeNoneRemovesTheStaleArtifact) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  ASSERT_TRUE(loader_->Load(QuantUpload("q", 1, "good")).ok());
  LoadRequest fp32 = Upload("q", 1, "good2");
  fp32.config_json = R"({"quantization":{"mode":"none"}})";
  ASSERT_TRUE(loader_->Load(fp32).ok());
  EXPECT_FALSE(fs::exists(root_ / "q" / "1" / "quantization.json"));
  EXPECT_FALSE(fs::exists(root_ / "q" / "1" / "report.json"));
  auto h = registry_.Get("q", "");
  EXPECT_EQ(h->served.quantization, nullptr);
  EXPECT_EQ(PlatformOf(h->served), kPlatformFp32);
}

TEST_F(LoaderTest, RestartReloadsTheArtifactWithoutRecalibrating) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  ASSERT_TRUE(loader_->Load(QuantUpload("q", 1, "good")).ok());
  const std::string report = registry_.Get("q", "")->served.quantization->report_json;
  ModelRegistry fresh;
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic, &fresh);
  quantizer_.quantize_calls = 0;
  ASSERT_TRUE(loader_->LoadAll().ok());
  EXPECT_EQ(quantizer_.quantize_calls, 0);
  EXPECT_EQ(quantizer_.load_calls, 1);
  auto h = fresh.Get("q", "");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->served.quantization->report_json, report);
  EXPECT_EQ(h->served.quantization->artifact, "artifact:static:10");

  // A corrupt artifact makes the version UNAVAILABLE with the reason.
  ASSERT_TRUE(repo_->WriteVersionFile("q", 1, kArtifactFileName, "garbage").ok());
  ModelRegistry third;
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic, &third);
  ASSERT_TRUE(loader_->LoadAll().ok());
  EXPECT_FALSE(third.AnyReady("q"));
  EXPECT_THAT(third.Index()[0].reason, HasSubstr("cannot reload quantization.json: not a q8serve quantization file"));
}

TEST_F(LoaderTest, StartupQuantizesWithRepositoryCalibrationDataAndPersists) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  ASSERT_TRUE(repo_->WriteModel("h", 1, "good").ok());
  fs::create_directories(root_ / "h" / "1" / "calibration");
  core::Tensor x(core::DataType::kFloat32, {5, 2});
  ASSERT_TRUE(repo_->WriteVersionFile("h", 1, kCalibrationInputsFile, core::SerializeNpy(x.view())).ok());
  ASSERT_TRUE(repo_->WriteModel("nodata", 1, "good").ok());
  ASSERT_TRUE(loader_->LoadAll().ok());
  EXPECT_EQ(quantizer_.quantize_calls, 2);
  EXPECT_TRUE(registry_.AnyReady("h"));
  EXPECT_EQ(ReadIfExists(root_ / "h" / "1" / "quantization.json"), "artifact:static:5");
  EXPECT_FALSE(ReadIfExists(root_ / "h" / "1" / "report.json").empty());
  EXPECT_FALSE(registry_.AnyReady("nodata"));
  std::map<std::string, std::string> reasons;
  for (const auto& e : registry_.Index()) reasons[e.name] = e.reason;
  EXPECT_THAT(reasons["nodata"], HasSubstr("model 'nodata' version 1: static quantization needs calibration data"));
  EXPECT_FALSE(fs::exists(root_ / "nodata" / "1" / "quantization.json"));

  ModelRegistry fresh;
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic, &fresh);
  quantizer_.quantize_calls = 0;
  ASSERT_TRUE(loader_->LoadAll().ok());
  EXPECT_EQ(quantizer_.quantize_calls, 1);  // only 'nodata' tries again; 'h' reloads its artifact
  EXPECT_TRUE(fresh.AnyReady("h"));
}

// A hand-placed calibration/inputs.npz (numpy.savez keys, two groups) is
// read like inputs.npy; a broken one is INVALID_ARGUMENT naming the file.
TEST_F(LoaderTest, StartupQuantizesWithRepositoryNpz) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  core::Tensor a(core::DataType::kInt64, {3, 4}), b(core::DataType::kInt64, {4, 9});
  ASSERT_TRUE(repo_->WriteModel("z", 1, "good").ok());
  fs::create_directories(root_ / "z" / "1" / "calibration");
  ASSERT_TRUE(repo_
                  ->WriteVersionFile("z", 1, kCalibrationInputsNpzFile,
                                     core::SerializeNpz({{"short/ids", a.view()}, {"long/ids", b.view()}}))
                  .ok());
  ASSERT_TRUE(repo_->WriteModel("broken", 1, "good").ok());
  fs::create_directories(root_ / "broken" / "1" / "calibration");
  ASSERT_TRUE(repo_->WriteVersionFile("broken", 1, kCalibrationInputsNpzFile, "PK not a zip").ok());
  ASSERT_TRUE(loader_->LoadAll().ok());
  EXPECT_TRUE(registry_.AnyReady("z"));
  EXPECT_EQ(ReadIfExists(root_ / "z" / "1" / "quantization.json"), "artifact:static:7");  // 3 + 4 samples
  EXPECT_FALSE(registry_.AnyReady("broken"));
  std::map<std::string, std::string> reasons;
  for (const auto& e : registry_.Index()) reasons[e.name] = e.reason;
  EXPECT_THAT(reasons["broken"], HasSubstr("1/calibration/inputs.npz is not a valid .npz file"));
}

// The archive may not unpack to more than the loader's calibration limit
// (the server's --max_upload_bytes).
TEST_F(LoaderTest, UploadedNpzOverTheLimitIsRefused) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic);
  core::Tensor big(core::DataType::kFloat32, {64, 64});
  const std::string npz = core::SerializeNpz({{"x", big.view()}});
  LoadRequest r;
  r.name = "big";
  r.files[1].model = UploadedFile{"good", "file:1/model.onnx"};
  r.files[1].calibration_inputs = UploadedFile{npz, "file:calibration/inputs.npz"};
  ASSERT_TRUE(loader_->Load(r).ok());  // default limit: 1 GiB
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic, nullptr,
             [](LoaderOptions& o) { o.max_calibration_bytes = 1000; });
  r.name = "big2";
  absl::Status s = loader_->Load(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("limit of 1000 bytes"));
}

// --max_model_memory_bytes: each FakeModel measures 100 bytes. A load that
// would exceed the budget is RESOURCE_EXHAUSTED with both numbers, writes
// nothing and leaves the rest serving; replacing a version counts what it
// frees; unloading makes room.
TEST_F(LoaderTest, MemoryBudgetRefusesLoadsThatWouldExceedIt) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kNone, nullptr, [](LoaderOptions& o) { o.memory_budget = 250; });
  ASSERT_TRUE(loader_->Load(Upload("a", 1, "good")).ok());
  ASSERT_TRUE(loader_->Load(Upload("b", 1, "good")).ok());
  EXPECT_EQ(registry_.LoadedMemoryBytes(), 200);
  absl::Status s = loader_->Load(Upload("c", 1, "good"));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("model 'c' needs 100 bytes (measured after warm-up) but loaded models already hold 200 of "
                        "--max_model_memory_bytes=250"));
  EXPECT_FALSE(fs::exists(root_ / "c"));
  EXPECT_FALSE(registry_.Get("c", "").ok());
  EXPECT_TRUE(registry_.Get("a", "").ok());
  // Replacing a's version 1 frees its 100 bytes: 100 + 100 fits.
  auto before = registry_.Get("a", "1");
  ASSERT_TRUE(loader_->Load(Upload("a", 1, "good again")).ok());
  EXPECT_NE(registry_.Get("a", "1")->model, before->model);
  // A second version of a does not fit (200 + 100 > 250); version 1 keeps serving.
  EXPECT_EQ(loader_->Load(Upload("a", 2, "good")).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(fs::exists(root_ / "a" / "2"));
  EXPECT_EQ(registry_.Get("a", "")->version, 1);
  ASSERT_TRUE(loader_->Unload("b").ok());
  EXPECT_TRUE(loader_->Load(Upload("c", 1, "good")).ok());
  EXPECT_EQ(registry_.LoadedMemoryBytes(), 200);
}

// At startup the budget applies in repository order: models past it are
// UNAVAILABLE with the budget message; the others serve.
TEST_F(LoaderTest, MemoryBudgetAtStartupMarksTheRestUnavailable) {
  ASSERT_TRUE(loader_->Load(Upload("a", 1, "good")).ok());
  ASSERT_TRUE(loader_->Load(Upload("b", 1, "good")).ok());
  ModelRegistry fresh;
  MakeLoader(testing::FakeCompile, engine::QuantMode::kNone, &fresh, [](LoaderOptions& o) { o.memory_budget = 150; });
  ASSERT_TRUE(loader_->LoadAll().ok());
  EXPECT_TRUE(fresh.Get("a", "").ok());
  EXPECT_FALSE(fresh.Get("b", "").ok());
  bool found = false;
  for (const IndexEntry& e : fresh.Index()) {
    if (e.name != "b") continue;
    found = true;
    EXPECT_EQ(e.state, ModelState::kUnavailable);
    EXPECT_THAT(e.reason, HasSubstr("--max_model_memory_bytes=150"));
  }
  EXPECT_TRUE(found);
}

// --max_concurrent_loads: slots are counted, refused with RESOURCE_EXHAUSTED
// naming the flag, and freed when the holder goes away. The name is taken
// first: a second load of a held name is ABORTED without touching a slot, and
// a load refused for want of a slot leaves its name free.
TEST_F(LoaderTest, LoadTicketsTakeTheNameThenABoundedSlot) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kNone, nullptr,
             [](LoaderOptions& o) { o.limits.max_concurrent_loads = 2; });
  auto first = loader_->BeginLoad("a");
  ASSERT_TRUE(first.ok()) << first.status();
  auto duplicate = loader_->BeginLoad("a");
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(duplicate.status().message()),
              HasSubstr("model 'a': a load of this model is already in progress"));
  auto second = loader_->BeginLoad("b");  // the duplicate took no slot
  ASSERT_TRUE(second.ok()) << second.status();
  auto third = loader_->BeginLoad("c");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(third.status().message()),
              HasSubstr("2 uploads/quantizations are already in progress (--max_concurrent_loads=2); retry"));
  EXPECT_EQ(loader_->BeginLoad("bad/name").status().code(), absl::StatusCode::kInvalidArgument);
  { ModelLoader::LoadTicket released = *std::move(first); }
  auto again = loader_->BeginLoad("c");  // "c" was not left held by its refusal
  ASSERT_TRUE(again.ok()) << again.status();
  // A ticket serves only its own name.
  absl::Status wrong = loader_->Load(*again, Upload("b", 1, "good"));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(loader_->Load(*again, Upload("c", 1, "good")).ok());
}

// A layout beyond --max_threads_per_cpu x CPUs is clamped (32 x 32 on 2 CPUs
// would start 1024 threads), and the executor really starts that many.
TEST_F(LoaderTest, ExecutionLayoutIsClampedToTheThreadBudget) {
  MakeLoader(testing::FakeCompile, engine::QuantMode::kNone, nullptr, [](LoaderOptions& o) {
    o.cpus = 2;
    o.limits.max_threads_per_cpu = 4;
  });
  ModelConfig config;
  config.execution.streams = 32;
  config.execution.threads_per_stream = 32;
  StreamLayout l = loader_->Layout(config);
  EXPECT_EQ(l.streams, 8);
  EXPECT_EQ(l.threads_per_stream, 1);
  config.execution.streams = 2;
  config.execution.threads_per_stream = 32;
  l = loader_->Layout(config);
  EXPECT_EQ(l.streams, 2);
  EXPECT_EQ(l.threads_per_stream, 4);
  LoadRequest r = Upload("m", 1, "good");
  r.config_json = R"({"execution":{"streams":32,"threads_per_stream":32}})";
  ASSERT_TRUE(loader_->Load(r).ok());
  EXPECT_EQ(registry_.Get("m", "")->served.executor->layout().streams, 8);
  EXPECT_EQ(registry_.Get("m", "")->served.executor->layout().threads_per_stream, 1);
}

}  // namespace
}  // namespace q8::server

namespace q8::server {
namespace {

// Mode auto with the fake engine: interim version, samples, background job,
// publication through Reconcile and persistence; a replaced interim version's
// calibration is dropped.
class LiveLoaderTest : public LoaderTest {
 protected:
  void MakeAutoLoader(int64_t samples, bool enabled = true) {
    MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic, nullptr, [=](LoaderOptions& o) {
      o.default_config.quantization_auto = true;
      o.default_config.live.samples = samples;
      o.default_config.live.enabled = enabled;
    });
  }
  std::shared_ptr<LiveSampler> Sampler(const std::string& name) {
    auto h = registry_.Get(name, "1");
    return h.ok() ? h->served.live : nullptr;
  }
  // Waits (bounded) until `name` version 1 serves without a sampler.
  bool WaitCalibrated(const std::string& name) {
    for (int i = 0; i < 1000 && Sampler(name) != nullptr; ++i) absl::SleepFor(absl::Milliseconds(10));
    return Sampler(name) == nullptr;
  }
};

TEST_F(LiveLoaderTest, AutoWithoutDataServesInterimThenPublishesAndPersistsTheCalibration) {
  MakeAutoLoader(4);
  ASSERT_TRUE(loader_->Load(Upload("q", 1, "good")).ok());
  std::shared_ptr<LiveSampler> live = Sampler("q");
  ASSERT_NE(live, nullptr);
  EXPECT_EQ(live->Describe(), "calibrating (0/4 samples)");
  EXPECT_EQ(registry_.Index()[0].reason, "calibrating (0/4 samples)");
  EXPECT_TRUE(fs::exists(root_ / "q" / "1" / "model.onnx"));
  EXPECT_FALSE(fs::exists(root_ / "q" / "1" / "quantization.json")) << "the interim version is not persisted";

  const std::vector<float> rows = {1, 2, 3, 4, 5, 6, 7, 8};
  live->MaybeSample({core::DataType::kFloat32, {4, 2}, rows.data()}, 4);
  ASSERT_TRUE(WaitCalibrated("q"));
  auto h = registry_.Get("q", "1");
  ASSERT_TRUE(h.ok());
  ASSERT_NE(h->served.quantization, nullptr);
  EXPECT_EQ(h->served.quantization->artifact, "artifact:static:4");
  EXPECT_EQ(h->served.quantization->live_samples, 4);
  EXPECT_THAT(ServingStatus(h->served), ::testing::StartsWith("int8 (calibrated on 4 live samples at "));
  EXPECT_EQ(ReadIfExists(root_ / "q" / "1" / "quantization.json"), "artifact:static:4");
  EXPECT_EQ(ReadIfExists(root_ / "q" / "1" / "report.json"), h->served.quantization->report_json);
  EXPECT_THAT(h->served.quantization->report_json, HasSubstr("\"live_calibration\""));

  // A restart loads the artifact: no sampler, no calibration.
  ModelRegistry fresh;
  const int calls = quantizer_.quantize_calls;
  MakeLoader(testing::FakeCompile, engine::QuantMode::kStatic, &fresh,
             [](LoaderOptions& o) { o.default_config.quantization_auto = true; });
  ASSERT_TRUE(loader_->LoadAll().ok());
  auto again = fresh.Get("q", "1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->served.live, nullptr);
  EXPECT_EQ(ServingStatus(again->served), ServingStatus(h->served));
  EXPECT_EQ(quantizer_.quantize_calls, calls);
}

TEST_F(LiveLoaderTest, CalibrationOfAReplacedInterimVersionIsDropped) {
  MakeAutoLoader(2);
  ASSERT_TRUE(loader_->Load(Upload("q", 1, "good")).ok());
  std::shared_ptr<LiveSampler> old = Sampler("q");
  ASSERT_NE(old, nullptr);
  // Replaced before its samples are in (a new upload of the version).
  LoadRequest replace = Upload("q", 1, "good");
  replace.config_json = R"({"quantization":{"live":{"samples":3}}})";
  ASSERT_TRUE(loader_->Load(replace).ok());
  ASSERT_NE(Sampler("q"), old);
  const std::vector<float> rows = {1, 2, 3, 4};
  old->MaybeSample({core::DataType::kFloat32, {2, 2}, rows.data()}, 2);
  ASSERT_TRUE(loader_->WaitLiveCalibrationIdle(absl::Seconds(30)));  // the job ran and found its version gone
  std::shared_ptr<LiveSampler> now = Sampler("q");
  ASSERT_NE(now, nullptr) << "the stale calibration was published";
  EXPECT_EQ(now->Describe(), "calibrating (0/3 samples)");
  EXPECT_FALSE(fs::exists(root_ / "q" / "1" / "quantization.json"));
}

// A publication that finds its model busy (an upload or sync holds the
// operation guard) goes back to the queue instead of blocking the calibrator:
// another model's calibration completes meanwhile, and the busy one publishes
// once the guard is released.
TEST_F(LiveLoaderTest, PublicationOfABusyModelWaitsInTheQueueNotOnTheThread) {
  MakeAutoLoader(2);
  ASSERT_TRUE(loader_->Load(Upload("busy", 1, "good")).ok());
  ASSERT_TRUE(loader_->Load(Upload("free", 1, "good")).ok());
  std::optional<ModelRegistry::OperationGuard> guard;
  {
    auto held = registry_.BeginOperation("busy", "test");
    ASSERT_TRUE(held.ok()) << held.status();
    guard.emplace(*std::move(held));
  }
  const std::vector<float> rows = {1, 2, 3, 4};
  Sampler("busy")->MaybeSample({core::DataType::kFloat32, {2, 2}, rows.data()}, 2);
  Sampler("free")->MaybeSample({core::DataType::kFloat32, {2, 2}, rows.data()}, 2);
  ASSERT_TRUE(WaitCalibrated("free")) << "a busy model's publication held up the calibrator thread";
  ASSERT_NE(Sampler("busy"), nullptr) << "published while another operation held the model";
  EXPECT_FALSE(fs::exists(root_ / "busy" / "1" / "quantization.json"));
  guard.reset();
  ASSERT_TRUE(WaitCalibrated("busy"));
  EXPECT_EQ(ReadIfExists(root_ / "busy" / "1" / "quantization.json"), "artifact:static:2");
}

// The live publication takes its version list from the repository scan, as a
// sync does: a version that failed to load stays listed as UNAVAILABLE in the
// index instead of dropping out when the calibrated version is published.
TEST_F(LiveLoaderTest, PublicationKeepsUnavailableVersionsListed) {
  // At startup version 1 builds (interim, calibrating) and version 2, a
  // model the fake engine cannot compile, is listed UNAVAILABLE.
  fs::create_directories(root_ / "q" / "1");
  fs::create_directories(root_ / "q" / "2");
  std::ofstream(root_ / "q" / "1" / "model.onnx") << "good";
  std::ofstream(root_ / "q" / "2" / "model.onnx") << "bad";
  MakeAutoLoader(2);
  ASSERT_TRUE(loader_->LoadAll().ok());
  auto unavailable = [&] {
    for (const auto& e : registry_.Index()) {
      if (e.name == "q" && e.version == 2) return e.state == ModelState::kUnavailable;
    }
    return false;
  };
  ASSERT_TRUE(unavailable()) << "precondition: version 2 listed UNAVAILABLE";
  const std::vector<float> rows = {1, 2, 3, 4};
  Sampler("q")->MaybeSample({core::DataType::kFloat32, {2, 2}, rows.data()}, 2);
  ASSERT_TRUE(WaitCalibrated("q"));
  EXPECT_TRUE(unavailable()) << "version 2 dropped out of the index when the calibration was published";
}

TEST_F(LiveLoaderTest, LiveOffKeepsTheInterimPrecisionAndSaysWhy) {
  MakeAutoLoader(2, /*enabled=*/false);
  ASSERT_TRUE(loader_->Load(Upload("q", 1, "good")).ok());
  auto h = registry_.Get("q", "1");
  ASSERT_TRUE(h.ok());
  ASSERT_NE(h->served.live, nullptr);
  EXPECT_THAT(ServingStatus(h->served), HasSubstr("(live calibration off)"));
  const std::vector<float> rows = {1, 2, 3, 4};
  h->served.live->MaybeSample({core::DataType::kFloat32, {2, 2}, rows.data()}, 2);
  EXPECT_EQ(h->served.live->collected(), 0);
}

}  // namespace
}  // namespace q8::server
