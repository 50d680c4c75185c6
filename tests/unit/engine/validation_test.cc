// Hostile models are refused at import/compile with INVALID_ARGUMENT naming
// node, op and what was wrong -- before any op code reads node.inputs[i],
// before any declared size is allocated (issue 11, items 1 and 3).
#include <gtest/gtest.h>

#include <stdexcept>

#include "engine/compiler.h"
#include "engine/exception_guard.h"
#include "engine/ops/op_table.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

void ExpectInvalid(const std::string& bytes, const std::string& fragment) {
  auto model = Compile(bytes);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  EXPECT_NE(model.status().message().find(fragment), std::string::npos) << model.status();
}

// Adds an initializer with explicit type, dims and raw bytes (which may disagree).
onnx::TensorProto& RawInitializer(OnnxBuilder& b, const std::string& name, int onnx_type,
                                  const std::vector<int64_t>& dims, const std::string& raw) {
  onnx::TensorProto* t = b.model().mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx_type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(raw);
  return *t;
}

std::string OneNode(const std::string& op, const std::vector<std::string>& inputs, const std::string& name = "n") {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node(op, inputs, {"y"}, name);
  return b.Serialize();
}

TEST(OpSignatureTest, EveryTableOpHasASaneSignature) {
  for (const std::string& op : SupportedOps()) {
    const OpSignature* sig = FindSignature(op);
    ASSERT_NE(sig, nullptr) << op;
    EXPECT_GE(sig->min_inputs, 1) << op;
    EXPECT_TRUE(sig->max_inputs < 0 || sig->max_inputs >= sig->min_inputs) << op;
    EXPECT_GE(sig->min_outputs, 1) << op;
    EXPECT_GE(sig->max_outputs, sig->min_outputs) << op;
  }
}

TEST(OpSignatureTest, EveryTableOpWithTooFewInputsIsRefusedNamingNodeAndOp) {
  // Issue 11: Relu, Softmax, Gemm, MatMul, Add with too few inputs crashed the server.
  for (const std::string& op : SupportedOps()) {
    const OpSignature* sig = FindSignature(op);
    std::vector<std::string> inputs(sig->min_inputs - 1, "x");
    ExpectInvalid(OneNode(op, inputs, "bad_" + op),
                  "node 'bad_" + op + "' (" + op + "): has " + std::to_string(inputs.size()) + " input(s)");
  }
}

TEST(OpSignatureTest, EveryBoundedTableOpWithTooManyInputsIsRefused) {
  for (const std::string& op : SupportedOps()) {
    const OpSignature* sig = FindSignature(op);
    if (sig->max_inputs < 0) continue;
    std::vector<std::string> inputs(sig->max_inputs + 1, "x");
    ExpectInvalid(OneNode(op, inputs), "input(s); " + op + " takes");
  }
}

TEST(OpSignatureTest, OmittedRequiredInputIsRefused) {
  ExpectInvalid(OneNode("Gemm", {"x", ""}), "input 1 is required but was omitted");
  ExpectInvalid(OneNode("Add", {"", "x"}), "input 0 is required");
  ExpectInvalid(OneNode("Concat", {"x", ""}), "input 1 is required");
}

TEST(OpSignatureTest, ConstantOnlyOpsHaveTheirArityCheckedToo) {
  ExpectInvalid(OneNode("Sub", {"x"}), "(Sub): has 1 input(s)");
  ExpectInvalid(OneNode("Shape", {}), "(Shape): has 0 input(s)");
}

TEST(OpSignatureTest, NodeWithTooManyOutputsIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Relu", {"x"}, {"y", "z"}, "r");
  ExpectInvalid(b.Serialize(), "node 'r' (Relu): has 2 output(s)");
}

TEST(InitializerTypeTest, GemmBiasStoredAsUint8IsRefusedNotReadAsFloat) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.RandomInitializer("w", {4, 3});
  RawInitializer(b, "c", onnx::TensorProto::UINT8, {3}, std::string(3, '\x7f'));
  b.Node("Gemm", {"x", "w", "c"}, {"y"}, "fc");
  ExpectInvalid(b.Serialize(), "node 'fc' (Gemm): input 2 ('c') has element type UINT8; Gemm reads FP32");
}

TEST(InitializerTypeTest, FoldedConstantOfTheWrongTypeIsRefusedToo) {
  // The Constant node's output type is only known after fold_constants.
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.RandomInitializer("w", {4, 3});
  onnx::AttributeProto* a = b.Node("Constant", {}, {"c"}, "k").add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::UINT8);
  a->mutable_t()->add_dims(3);
  a->mutable_t()->set_raw_data(std::string(3, '\x7f'));
  b.Node("Gemm", {"x", "w", "c"}, {"y"}, "fc");
  ExpectInvalid(b.Serialize(), "node 'fc' (Gemm): input 2 ('c') has element type UINT8");
}

TEST(InitializerTypeTest, ReshapeTargetStoredAsFloatIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.FloatInitializer("s", {2}, {-1, 4});
  b.Node("Reshape", {"x", "s"}, {"y"}, "r");
  ExpectInvalid(b.Serialize(), "input 1 ('s') has element type FP32; Reshape reads INT64");
}

TEST(DeclaredSizeTest, TwoToThe40ElementInitializerIsRefusedWithoutAllocating) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  RawInitializer(b, "huge", onnx::TensorProto::FLOAT, {int64_t{1} << 20, int64_t{1} << 20}, "");
  b.Node("Add", {"x", "huge"}, {"y"});
  ExpectInvalid(b.Serialize(), "per-tensor limit");
}

TEST(DeclaredSizeTest, TwoToThe28ElementInitializerInATinyFileIsRefusedBeforeAllocating) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  RawInitializer(b, "big", onnx::TensorProto::FLOAT, {int64_t{1} << 28}, std::string(16, '\0'));
  b.Node("Add", {"x", "big"}, {"y"});
  ExpectInvalid(b.Serialize(), "(1073741824 bytes) but 16 bytes of data");
}

TEST(DeclaredSizeTest, TypedFieldCountIsCheckedBeforeAllocating) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  onnx::TensorProto& t = RawInitializer(b, "big", onnx::TensorProto::FLOAT, {int64_t{1} << 27}, "");
  t.clear_raw_data();
  t.add_float_data(1.0f);
  b.Node("Add", {"x", "big"}, {"y"});
  ExpectInvalid(b.Serialize(), "134217728 elements) but 1 values");
}

TEST(DeclaredSizeTest, OverflowingAndNegativeInitializerDimsAreRefused) {
  for (const std::vector<int64_t>& dims :
       {std::vector<int64_t>{int64_t{1} << 62, 4}, std::vector<int64_t>{int64_t{1} << 60, 1, 28, 28}}) {
    OnnxBuilder b;
    b.Input("x", {-1, 4}).Output("y");
    RawInitializer(b, "w", onnx::TensorProto::FLOAT, dims, "");
    b.Node("Add", {"x", "w"}, {"y"});
    ExpectInvalid(b.Serialize(), "overflows");
  }
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  RawInitializer(b, "w", onnx::TensorProto::FLOAT, {-3, 4}, "");
  b.Node("Add", {"x", "w"}, {"y"});
  ExpectInvalid(b.Serialize(), "negative");
}

TEST(DeclaredSizeTest, GraphInputAboveThePerTensorLimitIsRefused) {
  OnnxBuilder b;
  b.Input("x", {-1, int64_t{1} << 20, int64_t{1} << 20}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  ExpectInvalid(b.Serialize(), "per-tensor limit");
}

// Conv over [N,1,8,8] with a 3x3 kernel and the given window attributes.
std::string ConvModel(const std::vector<int64_t>& pads, const std::vector<int64_t>& strides,
                      const std::vector<int64_t>& dilations) {
  OnnxBuilder b;
  b.Input("x", {-1, 1, 8, 8}).Output("y");
  b.RandomInitializer("w", {2, 1, 3, 3});
  onnx::NodeProto& n = b.Node("Conv", {"x", "w"}, {"y"}, "conv");
  OnnxBuilder::AttrInts(n, "pads", pads);
  OnnxBuilder::AttrInts(n, "strides", strides);
  OnnxBuilder::AttrInts(n, "dilations", dilations);
  return b.Serialize();
}

TEST(EmptyTensorTest, ZeroSizedWeightsThatWouldDivideByZeroAreRefused) {
  OnnxBuilder conv;
  conv.Input("x", {-1, 1, 8, 8}).Output("y");
  conv.FloatInitializer("w", {0, 1, 3, 3}, {});
  conv.Node("Conv", {"x", "w"}, {"y"}, "conv");
  ExpectInvalid(conv.Serialize(), "has no elements");
  OnnxBuilder gemm;
  gemm.Input("x", {-1, 4}).Output("y");
  gemm.FloatInitializer("w", {4, 0}, {});
  gemm.Node("Gemm", {"x", "w"}, {"y"}, "fc");
  ExpectInvalid(gemm.Serialize(), "node 'fc' (Gemm): not supported: output 0 of shape [1,0] has no elements");
}

TEST(WindowTest, ValidConvStillCompiles) { ASSERT_TRUE(Compile(ConvModel({1, 1, 1, 1}, {1, 1}, {1, 1})).ok()); }

TEST(WindowTest, OverflowingPadsAreRefused) {
  const int64_t big = int64_t{1} << 62;
  ExpectInvalid(ConvModel({big, big, big, big}, {1, 1}, {1, 1}), "node 'conv' (Conv)");
  ExpectInvalid(ConvModel({1, 1, big, 1}, {1, 1}, {1, 1}), "exceed the window");
}

TEST(WindowTest, AbsurdPadsThatWouldServeAHugeOutputAreRefused) {
  ExpectInvalid(ConvModel({100000, 100000, 100000, 100000}, {1, 1}, {1, 1}), "exceed the window");
}

TEST(WindowTest, OverflowingDilationsAndNegativeStridesAreRefused) {
  ExpectInvalid(ConvModel({0, 0, 0, 0}, {1, 1}, {int64_t{1} << 62, 1}), "overflows");
  ExpectInvalid(ConvModel({0, 0, 0, 0}, {-1, 1}, {1, 1}), "strides");
}

std::string ReshapeModel(const std::vector<int64_t>& target) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Int64Initializer("s", {static_cast<int64_t>(target.size())}, target);
  b.Node("Reshape", {"x", "s"}, {"y"}, "rs");
  return b.Serialize();
}

TEST(ReshapeTargetTest, OverflowingAndNegativeTargetsAreRefused) {
  ASSERT_TRUE(Compile(ReshapeModel({-1, 2, 2})).ok());
  ExpectInvalid(ReshapeModel({int64_t{1} << 62, 4, -1}), "overflows");
  ExpectInvalid(ReshapeModel({int64_t{1} << 32, int64_t{1} << 32}), "node 'rs' (Reshape)");
  ExpectInvalid(ReshapeModel({-5, 4}), "negative");
  ExpectInvalid(ReshapeModel({-1, -1}), "more than one -1");
}

TEST(QuotingTest, OneMebibyteNodeNameIsTruncatedInMessages) {
  const std::string name(1 << 20, 'n');
  auto model = Compile(OneNode("Relu", {}, name));
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(model.status().message().size(), 1000u) << model.status().message().substr(0, 300);
  EXPECT_NE(model.status().message().find("more bytes]"), std::string::npos);
}

TEST(ExceptionGuardTest, ExceptionsBecomePreciseStatuses) {
  auto oom = GuardExceptions("doing X", []() -> absl::StatusOr<int> { throw std::bad_alloc(); });
  EXPECT_EQ(oom.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(oom.status().message(), "out of memory while doing X");
  auto other = GuardExceptions("doing Y", []() -> absl::Status { throw std::runtime_error("boom"); });
  EXPECT_EQ(other.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(other.message(), "unexpected error while doing Y: boom");
  EXPECT_EQ(*GuardExceptions("z", []() -> absl::StatusOr<int> { return 7; }), 7);
}

}  // namespace
}  // namespace q8::engine
