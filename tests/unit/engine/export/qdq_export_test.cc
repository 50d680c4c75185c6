// QDQ export: the file is a well-formed ONNX model with the quantization
// expressed as QuantizeLinear/DequantizeLinear and int8 initializers, and the
// float export (empty artifact) computes what the fp32 engine computes,
// checked with the independent numpy interpreter. Needs only fp32 kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "engine/compiler.h"
#include "engine/export/qdq_exporter.h"
#include "onnx/onnx_pb.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/export/export_test_util.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using testing::DataPath;
using testing::LoadNpy;
using testing::ReadFile;

onnx::ModelProto Parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

std::map<std::string, int> OpCounts(const onnx::ModelProto& m) {
  std::map<std::string, int> counts;
  for (const auto& n : m.graph().node()) ++counts[n.op_type()];
  return counts;
}

// Every node input is a graph input, an initializer or an earlier node's output.
void ExpectTopologicallySorted(const onnx::ModelProto& m) {
  std::set<std::string> defined;
  for (const auto& in : m.graph().input()) defined.insert(in.name());
  for (const auto& t : m.graph().initializer()) defined.insert(t.name());
  for (const auto& n : m.graph().node()) {
    for (const std::string& in : n.input()) {
      EXPECT_TRUE(in.empty() || defined.count(in)) << n.name() << " reads undefined '" << in << "'";
    }
    for (const std::string& out : n.output()) EXPECT_TRUE(defined.insert(out).second) << out << " defined twice";
  }
  for (const auto& out : m.graph().output()) EXPECT_TRUE(defined.count(out.name())) << out.name();
}

QuantizationOptions Static() {
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  return o;
}

TEST(QdqExportTest, QuantizedCnnIsAQdqModelWithTheSameInterface) {
  const std::string onnx = ReadFile(DataPath("fashion_cnn.onnx"));
  const core::Tensor images = LoadNpy(DataPath("fashion_test_images.npy"));
  const core::Tensor calib = testing::CopyRows(images, 0, 200);
  auto artifact = testing::CalibratedArtifact(onnx, &calib, Static());
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  auto bytes = ExportQdqOnnx(onnx, *artifact);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto m = Parse(*bytes);
  EXPECT_EQ(m.ir_version(), 8);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 17);
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "input");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(1).dim_value(), 10);
  ExpectTopologicallySorted(m);

  auto ops = OpCounts(m);
  EXPECT_EQ(ops["Conv"], 2);
  EXPECT_EQ(ops["MatMul"], 2);  // int8 Gemms: MatMul over [K, N] weights + Add(bias)
  EXPECT_EQ(ops["Gemm"], 0);
  EXPECT_EQ(ops["Relu"], 3);  // fused activations are separate ops again
  EXPECT_GE(ops["QuantizeLinear"], 5);
  EXPECT_EQ(ops["DequantizeLinear"], ops["QuantizeLinear"] + 4);  // + one per int8 weight
  // Int8 weights with per-channel INT8 zero points; every activation of
  // this CNN is non-negative (pixels, Relu outputs), so its per-tensor zero
  // points are UINT8.
  int int8_weights = 0;
  std::set<int> activation_zp_types, weight_zp_types;
  for (const auto& t : m.graph().initializer()) {
    if (t.data_type() == onnx::TensorProto::INT8 && t.dims_size() >= 2) ++int8_weights;
    if (t.name().find("zero_point") == std::string::npos) continue;
    (t.dims_size() == 0 ? activation_zp_types : weight_zp_types).insert(t.data_type());
  }
  EXPECT_EQ(int8_weights, 4);
  EXPECT_EQ(activation_zp_types, std::set<int>{onnx::TensorProto::UINT8});
  EXPECT_EQ(weight_zp_types, std::set<int>{onnx::TensorProto::INT8});
}

// max |fp32 engine - numpy reference of the exported `bytes`| on `x`.
void Fp32Diff(const std::string& onnx, const std::string& bytes, const core::Tensor& x, float* diff) {
  auto model = Compile(onnx);
  ASSERT_TRUE(model.ok()) << model.status();
  auto ours = (*model)->Run({x.view()});
  ASSERT_TRUE(ours.ok()) << ours.status();
  auto ref = testing::RunNumpyReference(bytes, x);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ(ref->dims(), (*ours)[0].dims());
  *diff = testing::MaxAbsDiff(ref->span<float>(), (*ours)[0].span<float>());
}

// The QDQ file of `onnx` quantized in dynamic mode, checked for order.
void ExportDynamic(const std::string& onnx, std::string* bytes) {
  QuantizationOptions o;
  o.mode = QuantMode::kDynamic;
  auto artifact = testing::CalibratedArtifact(onnx, nullptr, o);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  auto exported = ExportQdqOnnx(onnx, *artifact);
  ASSERT_TRUE(exported.ok()) << exported.status();
  *bytes = std::move(*exported);
  ExpectTopologicallySorted(Parse(*bytes));
}

TEST(QdqExportTest, DynamicMlpHasInt8WeightsAndFloatActivations) {
  const std::string onnx = ReadFile(DataPath("fashion_mlp.onnx"));
  std::string bytes;
  ASSERT_NO_FATAL_FAILURE(ExportDynamic(onnx, &bytes));
  auto ops = OpCounts(Parse(bytes));
  EXPECT_EQ(ops["QuantizeLinear"], 0);
  EXPECT_EQ(ops["DequantizeLinear"], 3);
  EXPECT_EQ(ops["MatMul"], 3);
}

// Dynamic convs export like dynamic MatMuls: int8 weights through
// DequantizeLinear, float activations.
TEST(QdqExportTest, DynamicCnnHasInt8WeightsAndFloatActivations) {
  const std::string onnx = ReadFile(DataPath("fashion_cnn.onnx"));
  std::string bytes;
  ASSERT_NO_FATAL_FAILURE(ExportDynamic(onnx, &bytes));
  auto ops = OpCounts(Parse(bytes));
  EXPECT_EQ(ops["QuantizeLinear"], 0);
  EXPECT_EQ(ops["DequantizeLinear"], 4);
  EXPECT_EQ(ops["Conv"], 2);
  EXPECT_EQ(ops["MatMul"], 2);
}

TEST(QdqExportTest, ResidualModelRoundTripsItsFusions) {
  const std::string onnx = testing::ResidualConcatModel();
  const core::Tensor calib = testing::RandomImages(64, 1);
  auto artifact = testing::CalibratedArtifact(onnx, &calib, Static());
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  auto bytes = ExportQdqOnnx(onnx, *artifact);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto m = Parse(*bytes);
  ExpectTopologicallySorted(m);
  auto ops = OpCounts(m);
  EXPECT_EQ(ops["Conv"], 5);
  EXPECT_EQ(ops["Add"], 3);  // conv2's and conv4's residuals, the fc bias
  EXPECT_EQ(ops["Relu"], 2);
  EXPECT_EQ(ops["Clip"], 1);
  EXPECT_EQ(ops["Sigmoid"], 1);
  EXPECT_EQ(ops["Softmax"], 1);
  EXPECT_EQ(m.graph().output(0).name(), "probs");
  // The input spans [-1, 1]: read as s8, so its zero point is INT8.
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "QuantizeLinear" || n.input(0) != "x") continue;
    for (const auto& t : m.graph().initializer()) {
      if (t.name() == n.input(2)) {
        EXPECT_EQ(t.data_type(), onnx::TensorProto::INT8);
      }
    }
  }
}

TEST(QdqExportTest, BadArtifactIsDataLoss) {
  const std::string onnx = ReadFile(DataPath("fashion_cnn.onnx"));
  EXPECT_EQ(ExportQdqOnnx(onnx, "{}").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ExportQdqOnnx("not onnx", "").status().code(), absl::StatusCode::kInvalidArgument);
}

// A transformer encoder's feed-forward block, as PyTorch exports it: the
// passes fuse the written-out GELU and x*sigmoid(x), which opset 17 cannot
// state, so the export writes them back out as the ops they compute, while
// LayerNormalization and HardSwish stay single ops. Input "x" [batch, 6, 16].
std::string FeedForwardBlock() {
  q8::testing::OnnxBuilder b(17, 5);
  using B = q8::testing::OnnxBuilder;
  b.Input("x", {-1, 6, 16}).Output("y");
  b.RandomInitializer("gamma", {16}, 0.5f, 1.5f).RandomInitializer("beta", {16}, -0.2f, 0.2f);
  b.RandomInitializer("w1", {16, 32}, -0.4f, 0.4f).RandomInitializer("b1", {32}, -0.1f, 0.1f);
  b.RandomInitializer("w2", {32, 16}, -0.3f, 0.3f).RandomInitializer("b2", {16}, -0.1f, 0.1f);
  b.FloatInitializer("sqrt2", {}, {1.4142135f}).FloatInitializer("one", {}, {1.0f});
  b.FloatInitializer("half", {}, {0.5f});
  B::AttrFloat(b.Node("LayerNormalization", {"x", "gamma", "beta"}, {"ln"}), "epsilon", 1e-5f);
  b.Node("MatMul", {"ln", "w1"}, {"h0"});
  b.Node("Add", {"h0", "b1"}, {"h"});
  b.Node("Div", {"h", "sqrt2"}, {"g0"});
  b.Node("Erf", {"g0"}, {"g1"});
  b.Node("Add", {"g1", "one"}, {"g2"});
  b.Node("Mul", {"h", "g2"}, {"g3"});
  b.Node("Mul", {"g3", "half"}, {"gelu"});
  b.Node("MatMul", {"gelu", "w2"}, {"f0"});
  b.Node("Add", {"f0", "b2"}, {"f"});
  b.Node("Add", {"f", "x"}, {"res"});
  b.Node("HardSwish", {"res"}, {"hs"});
  b.Node("Sigmoid", {"hs"}, {"sg"});
  b.Node("Mul", {"hs", "sg"}, {"swish"});
  onnx::NodeProto& mean = b.Node("ReduceMean", {"swish"}, {"y"});
  B::AttrInts(mean, "axes", {1});
  B::AttrInt(mean, "keepdims", 0);
  return b.Serialize();
}

TEST(QdqExportTest, OpsWithoutAnOpset17FormAreWrittenAsTheOpsTheyCompute) {
  const std::string onnx = FeedForwardBlock();
  auto bytes = ExportQdqOnnx(onnx, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto m = Parse(*bytes);
  ExpectTopologicallySorted(m);
  auto ops = OpCounts(m);
  EXPECT_EQ(ops["Gelu"] + ops["Swish"], 0);
  EXPECT_EQ(ops["Erf"], 1);
  EXPECT_EQ(ops["Sigmoid"], 1);
  EXPECT_EQ(ops["LayerNormalization"], 1);
  EXPECT_EQ(ops["HardSwish"], 1);
  EXPECT_EQ(ops["ReduceMean"], 1);

  // The fusions fired: the engine ran Gelu and Swish, the file has neither.
  auto model = Compile(onnx);
  ASSERT_TRUE(model.ok()) << model.status();
  const auto& passes = (*model)->report().passes_applied;
  EXPECT_TRUE(std::any_of(passes.begin(), passes.end(), [](const std::string& p) {
    return p.rfind("fuse_gelu_swish", 0) == 0;
  })) << ::testing::PrintToString(passes);
  float diff = 0;
  ASSERT_NO_FATAL_FAILURE(Fp32Diff(onnx, *bytes, testing::RandomInput({5, 6, 16}, 3, 2.0f), &diff));
  EXPECT_LE(diff, 1e-4f);
}

// Gelu(tanh) and Mish as single nodes (opset 20 / 18 ops the engine takes
// from any opset) come out as the opset-17 ops they compute.
TEST(QdqExportTest, TanhGeluAndMishAreWrittenAsTheOpsTheyCompute) {
  q8::testing::OnnxBuilder b(17);
  b.Input("x", {-1, 24}).Output("y");
  q8::testing::OnnxBuilder::AttrString(b.Node("Gelu", {"x"}, {"g"}), "approximate", "tanh");
  b.Node("Mish", {"g"}, {"y"});
  const std::string onnx = b.Serialize();
  auto bytes = ExportQdqOnnx(onnx, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto ops = OpCounts(Parse(*bytes));
  EXPECT_EQ(ops["Gelu"] + ops["Mish"], 0);
  EXPECT_EQ(ops["Tanh"], 2);
  EXPECT_EQ(ops["Softplus"], 1);
  float diff = 0;
  ASSERT_NO_FATAL_FAILURE(Fp32Diff(onnx, *bytes, testing::RandomInput({8, 24}, 9, 3.0f), &diff));
  EXPECT_LE(diff, 1e-4f);
}

// Dynamic int8 over the batched (3-D) MatMuls exports their int8 weights.
TEST(QdqExportTest, DynamicFeedForwardBlockHasInt8Weights) {
  const std::string onnx = FeedForwardBlock();
  std::string bytes;
  ASSERT_NO_FATAL_FAILURE(ExportDynamic(onnx, &bytes));
  auto ops = OpCounts(Parse(bytes));
  EXPECT_EQ(ops["Gelu"] + ops["Swish"], 0);
  EXPECT_EQ(ops["MatMul"], 2);
  EXPECT_EQ(ops["DequantizeLinear"], 2);
  auto ref = testing::RunNumpyReference(bytes, testing::RandomInput({2, 6, 16}, 4, 2.0f));
  EXPECT_TRUE(ref.ok()) << ref.status();
}

// (c) Empty artifact: the optimized float graph. The numpy interpreter runs
// in float64, the engine in f32, so they agree to f32 accumulation error.
class Fp32ExportTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Fp32ExportTest, NumpyReferenceMatchesTheFp32Engine) {
  const bool synthetic = GetParam() == "residual";
  const std::string onnx = synthetic ? testing::ResidualConcatModel() : ReadFile(DataPath(GetParam()));
  const core::Tensor x = synthetic ? testing::RandomImages(64, 2)
                                   : testing::CopyRows(LoadNpy(DataPath("fashion_test_images.npy")), 200, 64);
  auto bytes = ExportQdqOnnx(onnx, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto ops = OpCounts(Parse(*bytes));
  EXPECT_EQ(ops["QuantizeLinear"] + ops["DequantizeLinear"], 0);
  float diff = 0;
  ASSERT_NO_FATAL_FAILURE(Fp32Diff(onnx, *bytes, x, &diff));
  std::printf("fp32 export of %s vs the fp32 engine: max|diff| %.3g\n", GetParam().c_str(), diff);
  EXPECT_LE(diff, 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Models, Fp32ExportTest, ::testing::Values("fashion_cnn.onnx", "fashion_mlp.onnx", "residual"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

}  // namespace
}  // namespace q8::engine
