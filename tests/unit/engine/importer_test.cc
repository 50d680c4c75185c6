// Bad models are rejected at import with INVALID_ARGUMENT and a message that
// says what is wrong.
#include <gtest/gtest.h>

#include "engine/compiler.h"
#include "engine/import/onnx_importer.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

void ExpectInvalid(absl::string_view bytes, const std::string& fragment) {
  auto model = Compile(bytes);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  EXPECT_NE(model.status().message().find(fragment), std::string::npos) << model.status();
}

OnnxBuilder ReluModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  return b;
}

TEST(ImporterTest, AcceptsMinimalModel) {
  auto model = Compile(ReluModel().Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->inputs()[0].dims, (core::Dims{-1, 4}));
  EXPECT_EQ((*model)->outputs()[0].dims, (core::Dims{-1, 4}));
}

TEST(ImporterTest, RejectsNonOnnxBytes) {
  ExpectInvalid("", "empty");
  ExpectInvalid("this is certainly not a protobuf \xff\xff\xff", "ONNX");
  ExpectInvalid(std::string(1000, '\0'), "ONNX");
}

TEST(ImporterTest, RejectsTruncatedModel) {
  const std::string bytes = testing::ReadFile(testing::DataPath("fashion_cnn.onnx"));
  ASSERT_GT(bytes.size(), 1000u);
  auto model = Compile(absl::string_view(bytes).substr(0, bytes.size() / 2));
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
}

TEST(ImporterTest, RejectsUnsupportedOpNamingIt) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("NonMaxSuppression", {"x"}, {"y"}, "my_nms");
  ExpectInvalid(b.Serialize(), "unsupported op 'NonMaxSuppression' (node 'my_nms')");
}

// Swish exists only as what fuse_gelu_swish produces; a model cannot name it.
TEST(ImporterTest, RejectsInternalOpFromAModel) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Swish", {"x"}, {"y"}, "my_swish");
  ExpectInvalid(b.Serialize(), "node 'my_swish' (Swish): unsupported op 'Swish'");
}

TEST(ImporterTest, RejectsForeignDomain) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("FusedGemm", {"x"}, {"y"}).set_domain("com.microsoft");
  ExpectInvalid(b.Serialize(), "com.microsoft.FusedGemm");
}

TEST(ImporterTest, RejectsUndefinedInput) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Add", {"x", "ghost"}, {"y"});
  ExpectInvalid(b.Serialize(), "'ghost'");
}

TEST(ImporterTest, RejectsCycle) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Add", {"x", "z"}, {"y"});
  b.Node("Relu", {"y"}, {"z"});
  ExpectInvalid(b.Serialize(), "cycle");
}

TEST(ImporterTest, SortsNodesListedOutOfOrder) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("z");
  b.Node("Relu", {"y"}, {"z"});
  b.Node("Sigmoid", {"x"}, {"y"});
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
}

TEST(ImporterTest, RejectsInitializerWithWrongByteCount) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.FloatInitializer("w", {4, 4}, std::vector<float>(15, 1.0f));
  b.Node("MatMul", {"x", "w"}, {"y"});
  ExpectInvalid(b.Serialize(), "'w' has shape [4,4]");
}

TEST(ImporterTest, RejectsExternalData) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.RandomInitializer("w", {4, 4});
  b.model().mutable_graph()->mutable_initializer(0)->set_data_location(onnx::TensorProto::EXTERNAL);
  b.Node("MatMul", {"x", "w"}, {"y"});
  ExpectInvalid(b.Serialize(), "external");
}

TEST(ImporterTest, AcceptsDynamicNonBatchDimensions) {
  OnnxBuilder b;
  b.Input("x", {-1, -1}).Output("y");
  b.model()
      .mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_param("len");
  b.Node("Relu", {"x"}, {"y"});
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->inputs()[0].dims, (core::Dims{-1, -1}));
  EXPECT_EQ((*model)->outputs()[0].dims, (core::Dims{-1, -1}));
}

TEST(ImporterTest, RejectsNonNumericInputNamingItsType) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.model().mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::STRING);
  b.Node("Relu", {"x"}, {"y"});
  ExpectInvalid(b.Serialize(), "graph input 'x' has element type STRING; q8serve serves numeric tensors");
  b.model().mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::COMPLEX64);
  ExpectInvalid(b.Serialize(), "graph input 'x' has element type COMPLEX64");  // by name, not ONNX's number
}

TEST(ImporterTest, RejectsStringOutput) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.model().mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::STRING);
  b.Node("Relu", {"x"}, {"y"});
  ExpectInvalid(b.Serialize(), "graph output 'y' has element type STRING");
}

TEST(ImporterTest, NamesSequenceAndOptionalInputsAsSuch) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  auto* type = b.model().mutable_graph()->mutable_input(0)->mutable_type();
  const onnx::TypeProto tensor = *type;
  *type->mutable_sequence_type()->mutable_elem_type() = tensor;
  b.Node("Relu", {"x"}, {"y"});
  ExpectInvalid(b.Serialize(), "graph input 'x' is a sequence; q8serve serves tensor inputs");
  *type->mutable_optional_type()->mutable_elem_type() = tensor;
  ExpectInvalid(b.Serialize(), "graph input 'x' is an optional; q8serve serves tensor inputs");
}

TEST(ImporterTest, NamesUnsupportedTensorDataTypes) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.FloatInitializer("w", {4, 4}, std::vector<float>(16, 1.f));
  b.model().mutable_graph()->mutable_initializer(0)->set_data_type(onnx::TensorProto::STRING);
  b.Node("MatMul", {"x", "w"}, {"y"});
  ExpectInvalid(b.Serialize(), "tensor 'w' has data type STRING, which q8serve does not hold");
}

TEST(ImporterTest, RejectsShapeMismatchAtCompile) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.RandomInitializer("w", {5, 3});
  b.Node("MatMul", {"x", "w"}, {"y"}, "mm");
  ExpectInvalid(b.Serialize(), "node 'mm' (MatMul)");
}

}  // namespace
}  // namespace q8::engine
