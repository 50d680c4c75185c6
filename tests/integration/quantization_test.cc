// Quantize on upload, end to end against real q8serve processes: streaming
// and unary uploads with calibration data, int8 results vs the fp32 golden
// logits, metadata/report/export, dynamic mode, every bad-input path (each
// refused with the right code, nothing written, the server still serving),
// restart from the persisted quantization, and a hand-populated repository
// quantized at startup.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "core/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "onnx/onnx_pb.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/server_process.h"
#include "tests/integration/shared_server_suite.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
namespace pb = q8serve::v1;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kAnchor[] = "anchor";  // fp32 MLP that must keep serving through every error
constexpr char kStaticConfig[] = R"({"max_batch_size":64,"quantization":{"mode":"static"}})";

int StageRank(const std::string& stage) {
  static const std::vector<std::string> order = {"calibration", "quantization", "evaluation", "fallback", "benchmark"};
  auto it = std::find(order.begin(), order.end(), stage);
  return it == order.end() ? -1 : static_cast<int>(it - order.begin());
}

std::vector<UploadFile> CnnWithCalibration(bool labels = true) {
  std::vector<UploadFile> files = {{"model.onnx", ReadFileOrDie(TestDataPath("fashion_cnn.onnx"))},
                                   {"calibration/inputs.npy", CalibrationInputsNpy()}};
  if (labels) files.push_back({"calibration/labels.npy", CalibrationLabelsNpy()});
  return files;
}

std::string ReadIfExists(const fs::path& path) { return fs::exists(path) ? ReadFileOrDie(path.string()) : ""; }

// ServerProcess appends every run on a repository to one log file: the part
// written since `offset` belongs to the latest run.
std::string ServerLogFile(const std::string& repo) { return repo + ".server.log"; }
std::string LogSince(const std::string& repo, size_t offset) {
  std::string log = ReadIfExists(ServerLogFile(repo));
  return offset < log.size() ? log.substr(offset) : "";
}

int CountOps(const std::string& onnx_bytes, const std::string& op) {
  onnx::ModelProto model;
  if (!model.ParseFromString(onnx_bytes)) return -1;
  int n = 0;
  for (const auto& node : model.graph().node()) n += node.op_type() == op;
  return n;
}

class QuantizationTest : public SharedServerSuite<QuantizationTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_quant";
  static void PrepareServer(ServerProcess& server) {
    TestImages();
    TestLabels();
    GoldenLogits();
    grpc::Status s = UploadModel(*server.Stub(), kAnchor, ReadFileOrDie(TestDataPath("fashion_mlp.onnx")));
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
  }

 protected:
  void SetUp() override {
    SharedServerSuite::SetUp();
    model_stub_ = server_->ModelStub();
  }

  // The upload of `name` failed with `code` and a message containing
  // `needle`; nothing of it reached the repository; the anchor still serves.
  void ExpectRefused(const grpc::Status& s, const std::string& name, grpc::StatusCode code, const std::string& needle) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(needle));
    EXPECT_FALSE(fs::exists(fs::path(*repo_) / name)) << name << " was written";
    inference::ModelInferResponse resp;
    grpc::Status infer = Infer(*stub_, ImageRequest(kAnchor, TestImages(), 0, 4, true), &resp);
    EXPECT_TRUE(infer.ok()) << infer.error_message();
    EXPECT_EQ(Logits(resp).size(), 40u);
  }
  StreamedUpload UploadCnn(const std::string& name, const std::string& config, std::vector<UploadFile> files) {
    return StreamUpload(*model_stub_, name, 1, config, files);
  }

  std::unique_ptr<ModelStub> model_stub_;
};

TEST_F(QuantizationTest, StreamingUploadQuantizesCnnToInt8) {
  StreamedUpload up = StreamUpload(*model_stub_, "cnn_stream", 1, kStaticConfig, CnnWithCalibration(),
                                   /*chunk=*/256 << 10);
  ASSERT_TRUE(up.status.ok()) << up.status.error_message();
  ASSERT_TRUE(up.result.has_value());

  // Events: Received (growing), then engine stages in order, then the result.
  int64_t last_bytes = 0;
  int last_rank = -1;
  bool progress_seen = false;
  std::set<std::string> stages;
  for (const auto& e : up.events) {
    if (e.has_received()) {
      EXPECT_FALSE(progress_seen) << "bytes received after quantization started";
      EXPECT_GT(e.received().bytes(), last_bytes);
      last_bytes = e.received().bytes();
    } else if (e.has_progress()) {
      progress_seen = true;
      const int rank = StageRank(e.progress().stage());
      EXPECT_GE(rank, 0) << e.progress().stage();
      EXPECT_GE(rank, last_rank) << "stage " << e.progress().stage() << " out of order";
      EXPECT_LE(e.progress().done(), e.progress().total());
      EXPECT_EQ(e.progress().version(), 1);
      last_rank = rank;
      stages.insert(e.progress().stage());
    }
  }
  EXPECT_EQ(last_bytes, up.events.front().received().total_bytes());
  EXPECT_GT(std::count_if(up.events.begin(), up.events.end(), [](auto& e) { return e.has_received(); }), 3);
  for (const char* stage : {"calibration", "quantization", "evaluation", "benchmark"}) {
    EXPECT_TRUE(stages.count(stage)) << stage;
  }
  EXPECT_TRUE(up.events.back().has_result());

  const pb::UploadResult& result = *up.result;
  EXPECT_EQ(result.platform(), "q8serve_onnx_int8");
  EXPECT_EQ(result.summary(), "int8 static, target met");
  Json report = Json::parse(result.report_json());
  EXPECT_EQ(report["mode"], "static");
  EXPECT_EQ(report["target_met"], true);
  EXPECT_EQ(report["has_labels"], true);
  int int8_layers = 0;
  for (const auto& layer : report["layers"]) int8_layers += layer["precision"] == "int8";
  EXPECT_GT(int8_layers, 0);

  // Served in int8, close to the fp32 golden.
  const double agreement = Top1Agreement(*stub_, "cnn_stream", GoldenLogits());
  std::cout << "int8 fashion_cnn top-1 agreement with fp32 golden: " << agreement * 100 << "%\n";
  EXPECT_GE(agreement, 0.99);

  // Metadata, index, report, disk.
  grpc::ClientContext ctx;
  inference::ModelMetadataRequest mreq;
  mreq.set_name("cnn_stream");
  inference::ModelMetadataResponse md;
  ASSERT_TRUE(stub_->ModelMetadata(&ctx, mreq, &md).ok());
  EXPECT_EQ(md.platform(), "q8serve_onnx_int8");
  EXPECT_EQ(md.properties().at("precision"), "int8");
  EXPECT_EQ(md.properties().at("quantization_mode"), "static");
  EXPECT_EQ(md.properties().at("target_met"), "true");
  EXPECT_FALSE(md.properties().at("isa").empty());
  EXPECT_GT(std::stod(md.properties().at("accuracy_fp32")), 0.8);
  EXPECT_GT(std::stod(md.properties().at("accuracy_int8")), 0.8);
  EXPECT_GE(std::stod(md.properties().at("agreement")), 0.95);
  EXPECT_LE(std::stod(md.properties().at("accuracy_drop")), 0.01);
  EXPECT_LT(std::stoll(md.properties().at("weight_bytes_int8")), std::stoll(md.properties().at("weight_bytes_fp32")));
  EXPECT_TRUE(md.properties().count("fallback_layers"));
  EXPECT_TRUE(md.properties().count("bf16_layers"));
  EXPECT_EQ(md.properties().at("quantization_report"), result.report_json());

  grpc::ClientContext ictx;
  inference::RepositoryIndexResponse index;
  ASSERT_TRUE(stub_->RepositoryIndex(&ictx, {}, &index).ok());
  for (const auto& m : index.models()) {
    if (m.name() == "cnn_stream") {
      EXPECT_EQ(m.reason(), "int8 static, target met");
    }
  }

  std::string fetched;
  ASSERT_TRUE(GetReport(*model_stub_, "cnn_stream", 0, &fetched).ok());
  EXPECT_EQ(fetched, result.report_json());
  const fs::path dir = fs::path(*repo_) / "cnn_stream" / "1";
  EXPECT_EQ(ReadIfExists(dir / "model.onnx"), ReadFileOrDie(TestDataPath("fashion_cnn.onnx")));
  EXPECT_EQ(ReadIfExists(dir / "report.json"), result.report_json());
  EXPECT_FALSE(ReadIfExists(dir / "quantization.json").empty());
  EXPECT_FALSE(fs::exists(dir / "calibration")) << "uploaded calibration data is not kept";

  // Export: a standard ONNX model with QDQ pairs.
  std::string exported;
  grpc::Status es = ExportModel(*model_stub_, "cnn_stream", 1, &exported);
  ASSERT_TRUE(es.ok()) << es.error_message();
  EXPECT_GT(CountOps(exported, "QuantizeLinear"), 0);
  EXPECT_GT(CountOps(exported, "DequantizeLinear"), 0);
}

TEST_F(QuantizationTest, UnaryRepositoryModelLoadQuantizesToo) {
  inference::RepositoryModelLoadRequest req;
  req.set_model_name("cnn_unary");
  auto& params = *req.mutable_parameters();
  params["config"].set_string_param(kStaticConfig);
  params["file:1/model.onnx"].set_bytes_param(ReadFileOrDie(TestDataPath("fashion_cnn.onnx")));
  params["file:calibration/inputs.npy"].set_bytes_param(CalibrationInputsNpy());
  params["file:calibration/labels.npy"].set_bytes_param(CalibrationLabelsNpy());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  inference::RepositoryModelLoadResponse resp;
  grpc::Status s = stub_->RepositoryModelLoad(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  grpc::ClientContext mctx;
  inference::ModelMetadataRequest mreq;
  mreq.set_name("cnn_unary");
  inference::ModelMetadataResponse md;
  ASSERT_TRUE(stub_->ModelMetadata(&mctx, mreq, &md).ok());
  EXPECT_EQ(md.platform(), "q8serve_onnx_int8");
  std::string report;
  ASSERT_TRUE(GetReport(*model_stub_, "cnn_unary", 1, &report).ok());
  EXPECT_EQ(Json::parse(report)["target_met"], true);
  EXPECT_GE(Top1Agreement(*stub_, "cnn_unary", GoldenLogits()), 0.99);
}

TEST_F(QuantizationTest, DynamicModeOnMlpNeedsNoData) {
  StreamedUpload up = StreamUpload(*model_stub_, "mlp_dynamic", 1, R"({"quantization":{"mode":"dynamic"}})",
                                   {{"model.onnx", ReadFileOrDie(TestDataPath("fashion_mlp.onnx"))}});
  ASSERT_TRUE(up.status.ok()) << up.status.error_message();
  ASSERT_TRUE(up.result.has_value());
  EXPECT_EQ(up.result->platform(), "q8serve_onnx_int8");
  Json report = Json::parse(up.result->report_json());
  EXPECT_EQ(report["mode"], "dynamic");
  int dynamic_layers = 0;
  for (const auto& layer : report["layers"]) dynamic_layers += layer["precision"] == "int8-dynamic";
  EXPECT_GT(dynamic_layers, 0);
  auto mlp_golden = core::ReadNpyFile(TestDataPath("fashion_mlp_golden.npy"));
  ASSERT_TRUE(mlp_golden.ok());
  const double agreement = Top1Agreement(*stub_, "mlp_dynamic", *mlp_golden);
  std::cout << "dynamic int8 fashion_mlp top-1 agreement with fp32 golden: " << agreement * 100 << "%\n";
  EXPECT_GE(agreement, 0.98);
}

TEST_F(QuantizationTest, FpModeNoneHasNoReport) {
  std::string report;
  grpc::Status s = GetReport(*model_stub_, kAnchor, 0, &report);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("mode none"));
  s = GetReport(*model_stub_, "no_such_model", 0, &report);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  std::string exported;  // fp32 models export their optimized float graph
  ASSERT_TRUE(ExportModel(*model_stub_, kAnchor, 0, &exported).ok());
  EXPECT_EQ(CountOps(exported, "QuantizeLinear"), 0);
  EXPECT_GT(CountOps(exported, "Gemm") + CountOps(exported, "MatMul"), 0);
}

// ---- Bad uploads: each refused, nothing written, the anchor still serves ----

TEST_F(QuantizationTest, CalibrationWrongShape) {
  core::Tensor flat(core::DataType::kFloat32, {300, 784});
  auto files = CnnWithCalibration(false);
  files[1].bytes = NpyBytes(flat);
  ExpectRefused(UploadCnn("bad_shape", kStaticConfig, files).status, "bad_shape", grpc::StatusCode::INVALID_ARGUMENT,
                "calibration inputs have shape [300,784]");
}

TEST_F(QuantizationTest, CalibrationWrongDtype) {
  core::Tensor f64(core::DataType::kFloat64, {300, 1, 28, 28});
  auto files = CnnWithCalibration(false);
  files[1].bytes = NpyBytes(f64);
  ExpectRefused(UploadCnn("bad_dtype", kStaticConfig, files).status, "bad_dtype", grpc::StatusCode::INVALID_ARGUMENT,
                "calibration inputs have dtype FP64");
}

TEST_F(QuantizationTest, LabelsCountMismatch) {
  auto files = CnnWithCalibration();
  files[2].bytes = CalibrationLabelsNpy(299);
  ExpectRefused(UploadCnn("bad_labels", kStaticConfig, files).status, "bad_labels", grpc::StatusCode::INVALID_ARGUMENT,
                "labels count 299 does not match the 300");
}

TEST_F(QuantizationTest, NanAndInfInCalibrationData) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    auto parsed = core::ParseNpy(CalibrationInputsNpy());
    ASSERT_TRUE(parsed.ok());
    parsed->span<float>()[12345] = bad;
    auto files = CnnWithCalibration();
    files[1].bytes = NpyBytes(*parsed);
    ExpectRefused(UploadCnn("bad_nan", kStaticConfig, files).status, "bad_nan", grpc::StatusCode::INVALID_ARGUMENT,
                  "NaN or Inf (first at flat index 12345)");
  }
}

TEST_F(QuantizationTest, UnknownModeMethodAndOutOfRangeMaxDrop) {
  ExpectRefused(UploadCnn("bad_mode", R"({"quantization":{"mode":"int4"}})", CnnWithCalibration()).status, "bad_mode",
                grpc::StatusCode::INVALID_ARGUMENT, "'quantization.mode' is invalid: unknown quantization mode 'int4'");
  ExpectRefused(
      UploadCnn("bad_method", R"({"quantization":{"calibration":{"method":"kl"}}})", CnnWithCalibration()).status,
      "bad_method", grpc::StatusCode::INVALID_ARGUMENT, "'quantization.calibration.method' is invalid");
  ExpectRefused(UploadCnn("bad_drop", R"({"quantization":{"accuracy":{"max_drop":1.5}}})", CnnWithCalibration()).status,
                "bad_drop", grpc::StatusCode::INVALID_ARGUMENT, "quantization.accuracy.max_drop must be in [0, 1]");
  ExpectRefused(UploadCnn("bad_type", R"({"quantization":{"per_channel":"yes"}})", CnnWithCalibration()).status,
                "bad_type", grpc::StatusCode::INVALID_ARGUMENT, "'quantization.per_channel' must be true or false");
}

TEST_F(QuantizationTest, NonNpyCalibrationFile) {
  auto files = CnnWithCalibration();
  files[1].bytes = "this is not numpy";
  ExpectRefused(UploadCnn("bad_npy", kStaticConfig, files).status, "bad_npy", grpc::StatusCode::INVALID_ARGUMENT,
                "calibration/inputs.npy is not a valid .npy file");
  // Unary: the message names the parameter.
  inference::RepositoryModelLoadRequest req;
  req.set_model_name("bad_npy_unary");
  (*req.mutable_parameters())["file:1/model.onnx"].set_bytes_param(files[0].bytes);
  (*req.mutable_parameters())["file:calibration/labels.npy"].set_bytes_param(CalibrationLabelsNpy());
  (*req.mutable_parameters())["file:calibration/inputs.npy"].set_bytes_param("junk");
  grpc::ClientContext ctx;
  inference::RepositoryModelLoadResponse resp;
  ExpectRefused(stub_->RepositoryModelLoad(&ctx, req, &resp), "bad_npy_unary", grpc::StatusCode::INVALID_ARGUMENT,
                "file:calibration/inputs.npy is not a valid .npy file");
}

TEST_F(QuantizationTest, UnknownUploadFileAndMissingModel) {
  ExpectRefused(UploadCnn("bad_file", kStaticConfig, {{"weights.bin", "x"}}).status, "bad_file",
                grpc::StatusCode::INVALID_ARGUMENT, "unsupported file 'weights.bin'");
  ExpectRefused(UploadCnn("no_model", kStaticConfig, {{"calibration/inputs.npy", CalibrationInputsNpy()}}).status,
                "no_model", grpc::StatusCode::INVALID_ARGUMENT, "has no model.onnx");
}

// Regression (UBSan, found while fuzzing the upload assembler): total_bytes
// near 2^63 plus the config size overflowed and passed the limit check.
TEST_F(QuantizationTest, HeaderAnnouncingHugeSizeIsResourceExhausted) {
  grpc::ClientContext context;
  auto stream = model_stub_->Upload(&context);
  q8serve::v1::UploadRequest header;
  header.mutable_header()->set_model_name("huge_total");
  header.mutable_header()->set_config_json(kStaticConfig);
  header.mutable_header()->set_total_bytes(std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(stream->Write(header));
  stream->WritesDone();
  q8serve::v1::UploadEvent event;
  while (stream->Read(&event)) {
  }
  ExpectRefused(stream->Finish(), "huge_total", grpc::StatusCode::RESOURCE_EXHAUSTED, "--max_upload_bytes");
}

TEST_F(QuantizationTest, StaticWithoutDataIsFailedPrecondition) {
  // Mode static asked for explicitly (the default, auto, calibrates on live traffic instead).
  StreamedUpload up = StreamUpload(*model_stub_, "no_data", 1, std::string(kStaticConfig),
                                   {{"model.onnx", ReadFileOrDie(TestDataPath("fashion_cnn.onnx"))}});
  ExpectRefused(up.status, "no_data", grpc::StatusCode::FAILED_PRECONDITION,
                "static quantization needs calibration data");
  EXPECT_THAT(up.status.error_message(), HasSubstr("model 'no_data' version 1"));
}

// ---- Own servers ----

TEST(QuantizationLifecycleTest, StreamingUploadOverLimitIsResourceExhausted) {
  const std::string repo = MakeTempDir("q8_quant_limit");
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo, {"--max_upload_bytes=1200000"}));
  auto model_stub = server.ModelStub();
  // model (0.8 MB) + inputs (0.94 MB): over the limit part-way through.
  std::vector<UploadFile> files = CnnWithCalibration(false);
  StreamedUpload up = StreamUpload(*model_stub, "big", 1, kStaticConfig, files, 128 << 10);
  EXPECT_EQ(up.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << up.status.error_message();
  EXPECT_THAT(up.status.error_message(), HasSubstr("upload limit of 1200000 bytes"));
  EXPECT_FALSE(fs::exists(fs::path(repo) / "big"));
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

TEST(QuantizationLifecycleTest, RestartServesFromArtifactWithoutRecalibration) {
  TestImages();
  const std::string repo = MakeTempDir("q8_quant_restart");
  const fs::path dir = fs::path(repo) / "cnn" / "1";
  std::string report_before, outputs_before, artifact_before;
  {
    ServerProcess server;
    ASSERT_TRUE(server.Start(repo));
    auto model_stub = server.ModelStub();
    StreamedUpload up = StreamUpload(*model_stub, "cnn", 1, kStaticConfig, CnnWithCalibration());
    ASSERT_TRUE(up.status.ok()) << up.status.error_message() << server.Log();
    ASSERT_TRUE(GetReport(*model_stub, "cnn", 1, &report_before).ok());
    auto stub = server.Stub();
    outputs_before = RawLogits(*stub, "cnn", 0, 64);
    artifact_before = ReadIfExists(dir / "quantization.json");
    ASSERT_FALSE(artifact_before.empty());

    // A failed re-quantization of the same version leaves every file as it was.
    auto bad = CnnWithCalibration();
    bad[2].bytes = CalibrationLabelsNpy(10);
    StreamedUpload failed = StreamUpload(*model_stub, "cnn", 1, kStaticConfig, bad);
    EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ReadIfExists(dir / "quantization.json"), artifact_before);
    EXPECT_EQ(ReadIfExists(dir / "report.json"), report_before);
    EXPECT_EQ(RawLogits(*stub, "cnn", 0, 64), outputs_before);
    EXPECT_EQ(server.Stop(), 0) << server.Log();
  }
  const size_t log_offset = ReadIfExists(ServerLogFile(repo)).size();
  for (const auto& e : fs::recursive_directory_iterator(repo)) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp-")));
  }
  {
    ServerProcess server;
    ASSERT_TRUE(server.Start(repo));
    auto model_stub = server.ModelStub();
    auto stub = server.Stub();
    std::string report_after;
    ASSERT_TRUE(GetReport(*model_stub, "cnn", 1, &report_after).ok());
    EXPECT_EQ(report_after, report_before);
    EXPECT_EQ(RawLogits(*stub, "cnn", 0, 64), outputs_before) << "outputs differ after the restart";
    EXPECT_EQ(ReadIfExists(dir / "quantization.json"), artifact_before);
    const std::string log = LogSince(repo, log_offset);
    EXPECT_THAT(log, HasSubstr("model 'cnn' version 1: loaded from quantization.json"));
    EXPECT_THAT(log, ::testing::Not(HasSubstr("model 'cnn' version 1: quantizing")));
    EXPECT_EQ(server.Stop(), 0) << server.Log();
  }
}

TEST(QuantizationLifecycleTest, HandPopulatedRepositoryIsQuantizedAtStartup) {
  TestImages();
  const std::string repo = MakeTempDir("q8_quant_hand");
  const fs::path v1 = fs::path(repo) / "cnn" / "1";
  fs::create_directories(v1 / "calibration");
  std::ofstream(v1 / "model.onnx", std::ios::binary) << ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
  std::ofstream(v1 / "calibration" / "inputs.npy", std::ios::binary) << CalibrationInputsNpy();
  std::ofstream(v1 / "calibration" / "labels.npy", std::ios::binary) << CalibrationLabelsNpy();
  // A second model without data whose config asks for static -> UNAVAILABLE.
  fs::create_directories(fs::path(repo) / "nodata" / "1");
  std::ofstream(fs::path(repo) / "nodata" / "config.json") << kStaticConfig;
  std::ofstream(fs::path(repo) / "nodata" / "1" / "model.onnx", std::ios::binary)
      << ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
  std::string report;
  {
    ServerProcess server;
    ASSERT_TRUE(server.Start(repo));
    auto stub = server.Stub();
    auto model_stub = server.ModelStub();
    ASSERT_TRUE(GetReport(*model_stub, "cnn", 0, &report).ok()) << server.Log();
    EXPECT_EQ(Json::parse(report)["target_met"], true);
    EXPECT_GE(Top1Agreement(*stub, "cnn", GoldenLogits()), 0.99);
    EXPECT_EQ(ReadIfExists(v1 / "report.json"), report);
    EXPECT_FALSE(ReadIfExists(v1 / "quantization.json").empty());
    EXPECT_TRUE(fs::exists(v1 / "calibration" / "inputs.npy")) << "hand-placed data is left alone";

    grpc::ClientContext ctx;
    inference::RepositoryIndexResponse index;
    ASSERT_TRUE(stub->RepositoryIndex(&ctx, {}, &index).ok());
    bool found = false;
    for (const auto& m : index.models()) {
      if (m.name() != "nodata") continue;
      found = true;
      EXPECT_EQ(m.state(), "UNAVAILABLE");
      EXPECT_THAT(m.reason(), HasSubstr("static quantization needs calibration data"));
    }
    EXPECT_TRUE(found);
    EXPECT_THAT(server.Log(), HasSubstr("calibration samples from the repository"));
    EXPECT_EQ(server.Stop(), 0) << server.Log();
  }
  const size_t log_offset = ReadIfExists(ServerLogFile(repo)).size();
  {
    ServerProcess server;
    ASSERT_TRUE(server.Start(repo));
    std::string again;
    ASSERT_TRUE(GetReport(*server.ModelStub(), "cnn", 0, &again).ok());
    EXPECT_EQ(again, report);
    const std::string log = LogSince(repo, log_offset);
    EXPECT_THAT(log, HasSubstr("model 'cnn' version 1: loaded from quantization.json"));
    EXPECT_THAT(log, ::testing::Not(HasSubstr("model 'cnn' version 1: quantizing")));
    EXPECT_EQ(server.Stop(), 0) << server.Log();
  }
}

}  // namespace
}  // namespace q8::testing

namespace q8::testing {
namespace {

// A model whose file fixes batch = 1 (as many exported models do) uploads
// with static quantization over the real server: calibration feeds it one
// sample at a time, it serves batch-1 requests, and refuses other batches
// with INVALID_ARGUMENT while staying up.
TEST_F(QuantizationTest, FixedBatchModelServesAndCalibrates) {
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(ReadFileOrDie(TestDataPath("fashion_cnn.onnx"))));
  auto* dim0 =
      proto.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0);
  dim0->Clear();
  dim0->set_dim_value(1);
  auto files = CnnWithCalibration();
  files[0].bytes = proto.SerializeAsString();
  StreamedUpload up = UploadCnn("cnn_batch1", kStaticConfig, files);
  ASSERT_TRUE(up.status.ok()) << up.status.error_message();
  ASSERT_TRUE(up.result.has_value());

  inference::ModelMetadataRequest meta_req;
  meta_req.set_name("cnn_batch1");
  inference::ModelMetadataResponse meta;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ModelMetadata(&ctx, meta_req, &meta).ok());
  EXPECT_THAT(meta.inputs(0).shape(), ::testing::ElementsAre(1, 1, 28, 28));

  int agree = 0;
  constexpr int kImages = 40;
  for (int i = 0; i < kImages; ++i) {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, ImageRequest("cnn_batch1", TestImages(), i, 1, i % 2 == 0), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const std::vector<float> logits = Logits(resp);
    ASSERT_EQ(logits.size(), 10u);
    const float* golden = GoldenLogits().span<float>().data() + i * 10;
    agree += std::max_element(logits.begin(), logits.end()) - logits.begin() ==
             std::max_element(golden, golden + 10) - golden;
  }
  EXPECT_GE(agree, kImages - 2) << "int8 top-1 vs PyTorch fp32";

  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, ImageRequest("cnn_batch1", TestImages(), 0, 2, true), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("[1,1,28,28]"));
  s = Infer(*stub_, ImageRequest("cnn_batch1", TestImages(), 3, 1, true), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace q8::testing
