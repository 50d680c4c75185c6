// Quantization mode "auto" and live calibration, end to end against real
// q8serve processes over gRPC: a model uploaded without config or
// calibration serves at once and becomes static int8 on its own traffic
// (report, metadata, metrics); the trained Fashion-MNIST CNN calibrated on
// training-split traffic keeps its top-1 on the full test set; concurrent
// clients see no failure and only interim or int8 outputs through the
// switch; a restart serves int8 without recalibrating; a repository with
// only 1/model.onnx serves at startup; live calibration off says so; a
// replica adopts the other's calibration; hostile live settings are refused.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/prometheus_server.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/server_process.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
namespace pb = q8serve::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kFashionDir[] = "/usr/share/datasets/fashion-mnist";

// Reads one gzip'ed IDX file of Fashion-MNIST (package dataset-fashion-mnist).
std::string Gunzip(const std::string& path) {
  std::string out;
  FILE* pipe = ::popen(("gzip -dc '" + path + "'").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

// Images as float32 [N,1,28,28] in [0, 1] (the models' training scaling), labels.
struct FashionSplit {
  core::Tensor images;
  std::vector<int64_t> labels;
};

FashionSplit LoadFashion(const std::string& split) {
  const std::string prefix = std::string(kFashionDir) + "/" + split;
  const std::string images = Gunzip(prefix + "-images-idx3-ubyte.gz");
  const std::string labels = Gunzip(prefix + "-labels-idx1-ubyte.gz");
  FashionSplit out;
  if (images.size() < 16 || labels.size() < 8) return out;
  const int64_t n = static_cast<int64_t>(labels.size() - 8);
  if (static_cast<int64_t>(images.size()) != 16 + n * 784) return out;
  out.images = core::Tensor(core::DataType::kFloat32, {n, 1, 28, 28});
  float* dst = static_cast<float*>(out.images.data());
  for (int64_t i = 0; i < n * 784; ++i) dst[i] = static_cast<unsigned char>(images[16 + i]) / 255.0f;
  for (int64_t i = 0; i < n; ++i) out.labels.push_back(static_cast<unsigned char>(labels[8 + i]));
  return out;
}

const FashionSplit& Train() {
  static const FashionSplit* split = new FashionSplit(LoadFashion("train"));
  return *split;
}
const FashionSplit& TestSplit() {
  static const FashionSplit* split = new FashionSplit(LoadFashion("t10k"));
  return *split;
}

std::string Cnn() { return ReadFileOrDie(TestDataPath("fashion_cnn.onnx")); }

// GetReport's serving state ("calibrating (3/16 samples)"); the error text if the call fails.
std::string ServingState(pb::ModelService::Stub& stub, const std::string& name, std::string* report_json = nullptr) {
  std::string report, state;
  grpc::Status s = GetReport(stub, name, 0, &report, &state);
  if (!s.ok()) return "error: " + s.error_message();
  if (report_json != nullptr) *report_json = report;
  return state;
}

// Polls until the served state starts with `prefix`; returns the last state seen.
std::string WaitForState(pb::ModelService::Stub& stub, const std::string& name, const std::string& prefix,
                         double timeout_seconds = 180) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  std::string state;
  while (std::chrono::steady_clock::now() < deadline) {
    state = ServingState(stub, name);
    if (state.rfind(prefix, 0) == 0) return state;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return state;
}

std::map<std::string, std::string> Metadata(Stub& stub, const std::string& name, std::string* platform = nullptr) {
  grpc::ClientContext ctx;
  inference::ModelMetadataRequest request;
  request.set_name(name);
  inference::ModelMetadataResponse response;
  std::map<std::string, std::string> props;
  if (!stub.ModelMetadata(&ctx, request, &response).ok()) return props;
  if (platform != nullptr) *platform = response.platform();
  for (const auto& [k, v] : response.properties()) props[k] = v;
  return props;
}

// The value of the first scraped series whose line contains every part.
std::optional<double> Scraped(int port, const std::vector<std::string>& parts) {
  std::string body;
  if (HttpGet(port, "/metrics", &body) != 200) return std::nullopt;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    bool all = true;
    for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

// Sends `count` training images from `first`, `batch` per request; false on any failure.
bool SendTraining(Stub& stub, const std::string& name, int first, int count, int batch) {
  for (int i = first; i < first + count; i += batch) {
    inference::ModelInferResponse response;
    if (!Infer(stub, ImageRequest(name, Train().images, i, std::min(batch, first + count - i), true), &response).ok()) {
      return false;
    }
  }
  return true;
}

// Top-1 accuracy of `name` on the full Fashion-MNIST test split.
double TestTop1(Stub& stub, const std::string& name) {
  const FashionSplit& test = TestSplit();
  const int n = static_cast<int>(test.labels.size());
  int correct = 0;
  for (int first = 0; first < n; first += 50) {
    const int batch = std::min(50, n - first);
    inference::ModelInferResponse response;
    grpc::Status s = Infer(stub, ImageRequest(name, test.images, first, batch, true), &response);
    if (!s.ok()) return -1;
    const std::vector<float> logits = Logits(response);
    for (int b = 0; b < batch; ++b) {
      const float* row = logits.data() + b * 10;
      correct += std::max_element(row, row + 10) - row == test.labels[first + b];
    }
  }
  return static_cast<double>(correct) / n;
}

std::vector<float> Probe(Stub& stub, const std::string& name, int image, grpc::Status* status) {
  inference::ModelInferResponse response;
  *status = Infer(stub, ImageRequest(name, TestSplit().images, image, 1, true), &response);
  return status->ok() ? Logits(response) : std::vector<float>();
}

bool Same(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::fabs(a[i] - b[i]) > 1e-5f * std::max(1.0f, std::fabs(b[i]))) return false;
  }
  return true;
}

class LiveCalibrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Train().labels.size(), 60000u)
        << "Fashion-MNIST missing under " << kFashionDir << " (package dataset-fashion-mnist)";
    ASSERT_EQ(TestSplit().labels.size(), 10000u);
  }
};

TEST_F(LiveCalibrationTest, NoConfigNoCalibrationServesAtOnceThenInt8OnItsTrafficAndAfterRestart) {
  const std::string repo = MakeTempDir("q8_live");
  std::string calibrated_state;
  double top1_live = 0, top1_fp32 = 0;
  {
    ServerProcess server;
    ASSERT_TRUE(server.Start(repo));
    auto stub = server.Stub();
    auto model_stub = server.ModelStub();
    // No config, no calibration data: READY at once.
    StreamedUpload up = StreamUpload(*model_stub, "cnn", 1, std::nullopt, {{"model.onnx", Cnn()}});
    ASSERT_TRUE(up.status.ok()) << up.status.error_message() << server.Log();
    ASSERT_TRUE(up.result.has_value());
    EXPECT_THAT(up.result->summary(), HasSubstr("now, calibrating (0/512 samples)"));
    EXPECT_EQ(ServingState(*model_stub, "cnn"), "calibrating (0/512 samples)");
    const int metrics = server.MetricsPort();
    EXPECT_EQ(Scraped(metrics, {"q8serve_model_serving_state{", "model=\"cnn\"", "state=\"calibrating\""}), 1.0);
    // The fp32 reference, for the accuracy comparison.
    ASSERT_TRUE(UploadModel(*stub, "fp32", Cnn(), kFp32Config).ok());

    // 100 samples in: still calibrating, and the state says how far.
    ASSERT_TRUE(SendTraining(*stub, "cnn", 0, 100, 20));
    EXPECT_EQ(ServingState(*model_stub, "cnn"), "calibrating (100/512 samples)");
    EXPECT_EQ(Scraped(metrics, {"q8serve_model_live_calibration_samples{", "model=\"cnn\"", "kind=\"collected\""}),
              100.0);
    EXPECT_EQ(Metadata(*stub, "cnn")["serving_state"], "calibrating (100/512 samples)");
    // The rest of the 512, then the switch.
    ASSERT_TRUE(SendTraining(*stub, "cnn", 100, 412, 20));
    calibrated_state = WaitForState(*model_stub, "cnn", "int8 (calibrated on 512 live samples at ");
    ASSERT_THAT(calibrated_state, StartsWith("int8 (calibrated on 512 live samples at ")) << server.Log();
    std::string platform;
    auto props = Metadata(*stub, "cnn", &platform);
    EXPECT_EQ(platform, "q8serve_onnx_int8");
    EXPECT_EQ(props["precision"], "int8");
    EXPECT_EQ(props["quantization_mode"], "auto");
    EXPECT_EQ(props["serving_state"], calibrated_state);
    EXPECT_EQ(Scraped(metrics, {"q8serve_model_serving_state{", "model=\"cnn\"", "state=\"int8_live\""}), 1.0);
    EXPECT_EQ(Scraped(metrics, {"q8serve_model_live_calibration_samples{", "model=\"cnn\"", "kind=\"collected\""}),
              512.0);
    std::string report;
    ServingState(*model_stub, "cnn", &report);
    EXPECT_THAT(report, HasSubstr("\"mode\": \"static\""));
    EXPECT_THAT(report, HasSubstr("\"live_calibration\""));
    EXPECT_TRUE(fs::exists(fs::path(repo) / "cnn" / "1" / "quantization.json"));
    EXPECT_FALSE(fs::exists(fs::path(repo) / "cnn" / "1" / "calibration")) << "samples never touch the disk";

    // Calibrated on training traffic, within 0.3 points of fp32 on the full test set.
    top1_live = TestTop1(*stub, "cnn");
    top1_fp32 = TestTop1(*stub, "fp32");
    std::printf("Fashion CNN top-1 on 10000 test images: fp32 %.4f, live-calibrated int8 %.4f\n", top1_fp32, top1_live);
    EXPECT_GT(top1_fp32, 0.85);
    EXPECT_LE(std::fabs(top1_live - top1_fp32), 0.003);
    EXPECT_EQ(server.Stop(), 0) << server.Log();
  }
  // Restart: int8 at once, from the artifact, without recalibrating.
  ServerProcess again;
  ASSERT_TRUE(again.Start(repo));
  auto model_stub = again.ModelStub();
  EXPECT_EQ(ServingState(*model_stub, "cnn"), calibrated_state);
  EXPECT_THAT(again.Log(), HasSubstr("model 'cnn' version 1: loaded from quantization.json"));
  auto stub = again.Stub();
  EXPECT_EQ(TestTop1(*stub, "cnn"), top1_live);
  EXPECT_EQ(again.Stop(), 0) << again.Log();
}

TEST_F(LiveCalibrationTest, ConcurrentClientsThroughCalibrationAndPublicationSeeOnlyInterimOrInt8Outputs) {
  const std::string repo = MakeTempDir("q8_live_conc");
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo));
  auto stub = server.Stub();
  auto model_stub = server.ModelStub();
  constexpr char kConfig[] = R"({"quantization":{"mode":"auto","live":{"samples":48}}})";
  StreamedUpload up = StreamUpload(*model_stub, "cnn", 1, kConfig, {{"model.onnx", Cnn()}});
  ASSERT_TRUE(up.status.ok()) << up.status.error_message();
  // The interim outputs of the probe images (these requests are sampled too).
  constexpr int kProbes = 8;
  std::vector<std::vector<float>> interim(kProbes);
  for (int p = 0; p < kProbes; ++p) {
    grpc::Status s;
    interim[p] = Probe(*stub, "cnn", p, &s);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // Clients keep probing while training traffic fills the samples, the job
  // quantizes and the int8 version is published, and a while after.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::mutex mu;
  std::vector<std::pair<int, std::vector<float>>> seen;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto own = server.Stub();
      for (int i = 0; !stop.load(); ++i) {
        const int p = (c + i) % kProbes;
        grpc::Status s;
        std::vector<float> out = Probe(*own, "cnn", p, &s);
        if (!s.ok()) {
          failures.fetch_add(1);
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        seen.emplace_back(p, std::move(out));
      }
    });
  }
  EXPECT_TRUE(SendTraining(*stub, "cnn", 0, 48, 4));
  const std::string state = WaitForState(*model_stub, "cnn", "int8 (calibrated on 48 live samples");
  EXPECT_THAT(state, StartsWith("int8 (calibrated on 48 live samples")) << server.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop.store(true);
  for (auto& t : clients) t.join();

  std::vector<std::vector<float>> int8(kProbes);
  for (int p = 0; p < kProbes; ++p) {
    grpc::Status s;
    int8[p] = Probe(*stub, "cnn", p, &s);
    ASSERT_TRUE(s.ok());
  }
  int differ = 0;
  for (int p = 0; p < kProbes; ++p) differ += !Same(interim[p], int8[p]);
  EXPECT_GT(differ, 0) << "the int8 plan should not reproduce the interim outputs exactly";
  EXPECT_EQ(failures.load(), 0);
  int as_interim = 0, as_int8 = 0, neither = 0;
  for (const auto& [p, out] : seen) {
    const bool i = Same(out, interim[p]), q = Same(out, int8[p]);
    as_interim += i && !q;
    as_int8 += q;
    neither += !i && !q;
  }
  std::printf("%zu concurrent responses: %d interim, %d int8, %d neither\n", seen.size(), as_interim, as_int8, neither);
  EXPECT_EQ(neither, 0);
  EXPECT_GT(as_interim, 0);
  EXPECT_GT(as_int8, 0);
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

TEST_F(LiveCalibrationTest, DirectoryWithOnlyModelOnnxServesAtStartupAndLiveOffSaysWhy) {
  const std::string repo = MakeTempDir("q8_live_dir");
  fs::create_directories(fs::path(repo) / "dropped" / "1");
  std::ofstream(fs::path(repo) / "dropped" / "1" / "model.onnx", std::ios::binary) << Cnn();
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo));
  auto stub = server.Stub();
  auto model_stub = server.ModelStub();
  grpc::Status s;
  EXPECT_EQ(Probe(*stub, "dropped", 0, &s).size(), 10u);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ServingState(*model_stub, "dropped"), "calibrating (1/512 samples)");
  EXPECT_FALSE(fs::exists(fs::path(repo) / "dropped" / "1" / "quantization.json"));

  // Live calibration off: the interim precision stays, and the report says why.
  constexpr char kOff[] = R"({"quantization":{"live":{"enabled":false,"samples":4}}})";
  StreamedUpload up = StreamUpload(*model_stub, "off", 1, kOff, {{"model.onnx", Cnn()}});
  ASSERT_TRUE(up.status.ok()) << up.status.error_message();
  ASSERT_TRUE(SendTraining(*stub, "off", 0, 16, 4));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const std::string state = ServingState(*model_stub, "off");
  EXPECT_THAT(state, HasSubstr("(live calibration off)"));
  EXPECT_TRUE(state == "fp32 (live calibration off)" || state == "int8 dynamic (live calibration off)") << state;
  EXPECT_EQ(Scraped(server.MetricsPort(), {"q8serve_model_serving_state{", "model=\"off\"", "state=\"live_off\""}),
            1.0);
  EXPECT_FALSE(fs::exists(fs::path(repo) / "off" / "1" / "quantization.json"));
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

TEST_F(LiveCalibrationTest, HostileLiveSettingsAreInvalidArgumentAndChangeNothing) {
  const std::string repo = MakeTempDir("q8_live_bad");
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo));
  auto stub = server.Stub();
  auto model_stub = server.ModelStub();
  for (const std::string samples : {"0", "-1", "1", "65537", "99999999999999999999", "1e9", "0.5", "\"64\""}) {
    const std::string config = R"({"quantization":{"live":{"samples":)" + samples + "}}}";
    StreamedUpload up = StreamUpload(*model_stub, "bad", 1, config, {{"model.onnx", Cnn()}});
    EXPECT_EQ(up.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << samples;
    EXPECT_THAT(up.status.error_message(), HasSubstr("quantization.live.samples")) << samples;
    grpc::Status unary = UploadModel(*stub, "bad", Cnn(), config);
    EXPECT_EQ(unary.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << samples;
  }
  StreamedUpload up =
      StreamUpload(*model_stub, "bad", 1, R"({"quantization":{"live":{"enabled":1}}})", {{"model.onnx", Cnn()}});
  EXPECT_EQ(up.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(fs::exists(fs::path(repo) / "bad"));
  // The server still serves.
  ASSERT_TRUE(UploadModel(*stub, "good", Cnn()).ok());
  grpc::Status s;
  Probe(*stub, "good", 0, &s);
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

TEST_F(LiveCalibrationTest, ReplicaAdoptsTheCalibrationCommittedByAnother) {
  const std::string repo = MakeTempDir("q8_live_rep");
  ServerProcess a, b;
  b.set_log_suffix(".b.server.log");
  ASSERT_TRUE(a.Start(repo, {"--repository_poll_seconds=1"}));
  ASSERT_TRUE(b.Start(repo, {"--repository_poll_seconds=1"}));
  auto a_stub = a.Stub();
  auto a_model = a.ModelStub();
  auto b_model = b.ModelStub();
  constexpr char kConfig[] = R"({"quantization":{"live":{"samples":32}}})";
  ASSERT_TRUE(StreamUpload(*a_model, "cnn", 1, kConfig, {{"model.onnx", Cnn()}}).status.ok());
  // B serves the interim version too (adopted model.onnx + config), calibrating on its own traffic.
  EXPECT_EQ(WaitForState(*b_model, "cnn", "calibrating (0/32", 30), "calibrating (0/32 samples)") << b.Log();
  // Only A sees traffic: A commits, B adopts A's calibration, byte for byte.
  ASSERT_TRUE(SendTraining(*a_stub, "cnn", 0, 32, 8));
  const std::string on_a = WaitForState(*a_model, "cnn", "int8 (calibrated on 32 live samples");
  ASSERT_THAT(on_a, StartsWith("int8 (calibrated on 32 live samples")) << a.Log();
  EXPECT_EQ(WaitForState(*b_model, "cnn", "int8 (", 60), on_a) << b.Log();
  std::string report_a, report_b;
  ServingState(*a_model, "cnn", &report_a);
  ServingState(*b_model, "cnn", &report_b);
  EXPECT_EQ(report_a, report_b);
  EXPECT_EQ(a.Stop(), 0) << a.Log();
  EXPECT_EQ(b.Stop(), 0) << b.Log();
}

}  // namespace
}  // namespace q8::testing
