// QDQ export: the file is a well-formed ONNX model with the quantization
// expressed as QuantizeLinear/DequantizeLinear and int8 initializers, and the
// float export (empty artifact) computes what the fp32 engine computes,
// checked with the independent numpy interpreter. Needs only fp32 kernels.
#include <algorithm>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "engine/compiler.h"
#include "engine/export/qdq_exporter.h"
#include "onnx/onnx_pb.h"
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
  EXPECT_EQ(m.ir_version(), 7);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 13);
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
  EXPECT_EQ(ops["Relu"], 3);    // fused activations are separate ops again
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

TEST(QdqExportTest, DynamicMlpHasInt8WeightsAndFloatActivations) {
  const std::string onnx = ReadFile(DataPath("fashion_mlp.onnx"));
  QuantizationOptions o;
  o.mode = QuantMode::kDynamic;
  auto artifact = testing::CalibratedArtifact(onnx, nullptr, o);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  auto bytes = ExportQdqOnnx(onnx, *artifact);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto m = Parse(*bytes);
  ExpectTopologicallySorted(m);
  auto ops = OpCounts(m);
  EXPECT_EQ(ops["QuantizeLinear"], 0);
  EXPECT_EQ(ops["DequantizeLinear"], 3);
  EXPECT_EQ(ops["MatMul"], 3);
}

// Dynamic convs export like dynamic MatMuls: int8 weights through
// DequantizeLinear, float activations.
TEST(QdqExportTest, DynamicCnnHasInt8WeightsAndFloatActivations) {
  const std::string onnx = ReadFile(DataPath("fashion_cnn.onnx"));
  QuantizationOptions o;
  o.mode = QuantMode::kDynamic;
  auto artifact = testing::CalibratedArtifact(onnx, nullptr, o);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  auto bytes = ExportQdqOnnx(onnx, *artifact);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto m = Parse(*bytes);
  ExpectTopologicallySorted(m);
  auto ops = OpCounts(m);
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
  auto model = Compile(onnx);
  ASSERT_TRUE(model.ok()) << model.status();
  auto ours = (*model)->Run({x.view()});
  ASSERT_TRUE(ours.ok()) << ours.status();
  auto ref = testing::RunNumpyReference(*bytes, x);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ(ref->dims(), (*ours)[0].dims());
  const float diff = testing::MaxAbsDiff(ref->span<float>(), (*ours)[0].span<float>());
  std::printf("fp32 export of %s vs the fp32 engine: max|diff| %.3g\n", GetParam().c_str(), diff);
  EXPECT_LE(diff, 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Models, Fp32ExportTest,
                         ::testing::Values("fashion_cnn.onnx", "fashion_mlp.onnx", "residual"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

}  // namespace
}  // namespace q8::engine
