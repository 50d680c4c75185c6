// Dynamic axes beyond the batch, through the real q8serve over real gRPC: a
// conv net with dynamic H/W and a model with a dynamic sequence axis each
// answer two requests of different shapes correctly (checked against a plain
// C++ reference); metadata reports -1 for every dynamic axis; a wrong fixed
// dim is INVALID_ARGUMENT naming the input and axis; plan builds show in
// ModelStatistics; and static int8 quantization works for the dynamic-H/W
// model (calibrated on 8x8 images) and then serves other image sizes.
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/shared_server_suite.h"
#include "tests/testing/onnx_builder.h"
#include "tests/testing/random_data.h"
#include "tests/testing/reference_conv.h"

namespace q8::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using q8::testing::Random;

// conv_hw: x [N,1,H,W] -> Conv 3x3 pad 1 (2 channels) -> Relu.
constexpr int64_t kOc = 2;
const std::vector<float>& ConvWeights() {
  static const auto* w = new std::vector<float>(Random(kOc * 9, 3));
  return *w;
}
const std::vector<float> kConvBias = {0.1f, -0.2f};

std::string ConvHwModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 1, -1, -1}).Output("y");
  b.FloatInitializer("w", {kOc, 1, 3, 3}, ConvWeights());
  b.FloatInitializer("b", {kOc}, kConvBias);
  auto& conv = b.Node("Conv", {"x", "w", "b"}, {"c"});
  OnnxBuilder::AttrInts(conv, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c"}, {"y"});
  return b.Serialize();
}

std::vector<float> ConvReference(const std::vector<float>& x, int64_t n, int64_t h, int64_t wd) {
  return q8::testing::Conv3x3ReluReference(x, n, h, wd, ConvWeights(), kConvBias);
}

// cnn_hw: conv_hw's conv, then GlobalAveragePool -> Flatten -> Gemm to 3
// logits: a classifier of any image size, for static int8.
const std::vector<float>& GemmWeights() {
  static const auto* w = new std::vector<float>(Random(kOc * 3, 9));
  return *w;
}
std::string CnnHwModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 1, -1, -1}).Output("y");
  b.FloatInitializer("w", {kOc, 1, 3, 3}, ConvWeights());
  b.FloatInitializer("b", {kOc}, kConvBias);
  b.FloatInitializer("g", {kOc, 3}, GemmWeights());
  auto& conv = b.Node("Conv", {"x", "w", "b"}, {"c"});
  OnnxBuilder::AttrInts(conv, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c"}, {"r"});
  b.Node("GlobalAveragePool", {"r"}, {"p"});
  b.Node("Flatten", {"p"}, {"f"});
  b.Node("Gemm", {"f", "g"}, {"y"});
  return b.Serialize();
}
std::vector<float> CnnReference(const std::vector<float>& x, int64_t n, int64_t h, int64_t wd) {
  const std::vector<float> conv = ConvReference(x, n, h, wd);
  std::vector<float> y(n * 3, 0.f);
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t o = 0; o < kOc; ++o) {
      double mean = 0;
      for (int64_t k = 0; k < h * wd; ++k) mean += conv[(b * kOc + o) * h * wd + k];
      mean /= static_cast<double>(h * wd);
      for (int64_t c = 0; c < 3; ++c) y[b * 3 + c] += static_cast<float>(mean) * GemmWeights()[o * 3 + c];
    }
  }
  return y;
}

// seq: x [N,T,8] -> MatMul [8,4] -> Relu, T dynamic.
const std::vector<float>& SeqWeights() {
  static const auto* w = new std::vector<float>(Random(8 * 4, 5));
  return *w;
}
std::string SeqModel() {
  OnnxBuilder b;
  b.Input("tokens", {-1, -1, 8}).Output("y");
  b.FloatInitializer("w", {8, 4}, SeqWeights());
  b.Node("MatMul", {"tokens", "w"}, {"m"});
  b.Node("Relu", {"m"}, {"y"});
  return b.Serialize();
}

inference::ModelInferRequest Request(const std::string& model, const std::string& input, const core::Dims& dims,
                                     const std::vector<float>& values) {
  inference::ModelInferRequest req;
  req.set_model_name(model);
  auto* in = req.add_inputs();
  in->set_name(input);
  in->set_datatype("FP32");
  for (int64_t d : dims) in->add_shape(d);
  req.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return req;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << "at " << i;
}

// Calibration images [48,1,8,8] (one shape: calibration/inputs.npy holds one array).
std::vector<UploadFile> CalibrationFiles() {
  const core::Tensor t = core::Tensor::FromFloats({48, 1, 8, 8}, Random(48 * 64, 100));
  return {{"calibration/inputs.npy", NpyBytes(t)}};
}

class DynamicShapesTest : public SharedServerSuite<DynamicShapesTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_dynamic_shapes";
  static void PrepareServer(ServerProcess& server) {
    ASSERT_TRUE(UploadModel(*server.Stub(), "conv_hw", ConvHwModel(), R"({"quantization":{"mode":"none"},
        "max_cached_plans":2})")
                    .ok())
        << server.Log();
    ASSERT_TRUE(UploadModel(*server.Stub(), "seq", SeqModel()).ok()) << server.Log();
    std::vector<UploadFile> files = CalibrationFiles();
    files.insert(files.begin(), {"model.onnx", CnnHwModel()});
    auto model_stub = server.ModelStub();
    StreamedUpload up = StreamUpload(*model_stub, "cnn_hw", 1,
                                     R"({"quantization":{"mode":"static","accuracy":{"max_drop":1}}})", files);
    ASSERT_TRUE(up.status.ok()) << up.status.error_message() << "\n" << server.Log();
    ASSERT_TRUE(up.result.has_value());
    report_ = new std::string(up.result->report_json());
  }

 protected:
  inference::ModelStatistics Statistics(const std::string& model) {
    inference::ModelStatisticsRequest req;
    req.set_name(model);
    inference::ModelStatisticsResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->ModelStatistics(&ctx, req, &resp).ok());
    return resp.model_stats_size() > 0 ? resp.model_stats(0) : inference::ModelStatistics{};
  }
  static inline std::string* report_ = nullptr;
};

TEST_F(DynamicShapesTest, ConvWithDynamicHeightAndWidthAnswersTwoShapes) {
  const uint64_t builds_before = Statistics("conv_hw").plan_builds();
  for (auto [n, h, w] : {std::tuple<int64_t, int64_t, int64_t>{1, 6, 9}, {2, 11, 5}}) {
    const std::vector<float> x = Random(n * h * w, static_cast<uint32_t>(h * w));
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request("conv_hw", "x", {n, 1, h, w}, x), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(n, kOc, h, w));
    ExpectNear(Logits(resp), ConvReference(x, n, h, w), 1e-4f);
  }
  const inference::ModelStatistics stats = Statistics("conv_hw");
  EXPECT_EQ(stats.plan_builds(), builds_before + 2);
  EXPECT_LE(stats.cached_plans(), 2u);  // config.json max_cached_plans
}

TEST_F(DynamicShapesTest, SequenceAxisAnswersTwoLengths) {
  for (int64_t t : {3, 17}) {
    const std::vector<float> x = Random(2 * t * 8, static_cast<uint32_t>(t));
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request("seq", "tokens", {2, t, 8}, x), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(2, t, 4));
    std::vector<float> want(2 * t * 4);
    for (int64_t r = 0; r < 2 * t; ++r) {
      for (int64_t c = 0; c < 4; ++c) {
        float acc = 0;
        for (int64_t k = 0; k < 8; ++k) acc += x[r * 8 + k] * SeqWeights()[k * 4 + c];
        want[r * 4 + c] = std::max(acc, 0.f);
      }
    }
    ExpectNear(Logits(resp), want, 1e-4f);
  }
}

TEST_F(DynamicShapesTest, MetadataReportsMinusOneForEveryDynamicAxis) {
  for (const auto& [model, in_dims, out_dims] : {std::tuple<std::string, std::vector<int64_t>, std::vector<int64_t>>{
                                                     "conv_hw", {-1, 1, -1, -1}, {-1, 2, -1, -1}},
                                                 {"seq", {-1, -1, 8}, {-1, -1, 4}},
                                                 {"cnn_hw", {-1, 1, -1, -1}, {-1, 3}}}) {
    inference::ModelMetadataRequest req;
    req.set_name(model);
    inference::ModelMetadataResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->ModelMetadata(&ctx, req, &resp).ok()) << model;
    EXPECT_EQ(std::vector<int64_t>(resp.inputs(0).shape().begin(), resp.inputs(0).shape().end()), in_dims) << model;
    EXPECT_EQ(std::vector<int64_t>(resp.outputs(0).shape().begin(), resp.outputs(0).shape().end()), out_dims) << model;
  }
}

TEST_F(DynamicShapesTest, WrongFixedDimIsInvalidArgumentNamingInputAndAxis) {
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, Request("seq", "tokens", {1, 4, 7}, Random(28, 1)), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("input 'tokens'"));
  EXPECT_THAT(s.error_message(), HasSubstr("axis 2 is 7 but the model expects 8"));
  // A dynamic axis of size 0 is refused too, and the server keeps serving.
  s = Infer(*stub_, Request("conv_hw", "x", {1, 1, 0, 4}, {}), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("axis 2"));
  // Too large to be a tensor (overflow-checked against the per-tensor limit).
  s = Infer(*stub_, Request("conv_hw", "x", {1, 1, int64_t{1} << 40, int64_t{1} << 40}, {}), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Infer(*stub_, Request("conv_hw", "x", {1, 1, 4, 4}, Random(16, 2)), &resp).ok());
}

TEST_F(DynamicShapesTest, StaticInt8ServesTwoImageSizes) {
  ASSERT_NE(report_, nullptr);
  const nlohmann::json report = nlohmann::json::parse(*report_);
  EXPECT_EQ(report["mode"], "static");
  EXPECT_EQ(report["calibration_samples"].get<int64_t>() + report["eval_samples"].get<int64_t>(), 48) << *report_;
  int int8_layers = 0;
  for (const auto& layer : report["layers"]) int8_layers += layer["precision"] == "int8";
  EXPECT_GT(int8_layers, 0) << *report_;
  for (auto [h, w] : {std::pair<int64_t, int64_t>{8, 8}, {13, 7}}) {
    const std::vector<float> x = Random(2 * h * w, static_cast<uint32_t>(h + w));
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request("cnn_hw", "x", {2, 1, h, w}, x), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(2, 3));
    ExpectNear(Logits(resp), CnnReference(x, 2, h, w), 0.02f);  // int8 error on logits of magnitude ~0.3
  }
}

}  // namespace
}  // namespace q8::testing
