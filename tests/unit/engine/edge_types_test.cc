// Models whose inputs and outputs are declared in every numeric OIP type:
// metadata reports the declared types, inputs are converted once at the edge
// to what the kernels read, outputs back to what the model declares, and
// values FP32 cannot carry are refused rather than answered wrongly.
#include "engine/ops/edge_types.h"

#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/element_convert.h"
#include "engine/compiler.h"
#include "onnx/onnx_pb.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using core::DataType;
using q8::testing::OnnxBuilder;

// x (declared `in`) -> Relu -> y (declared `out`).
std::string ReluModel(DataType in, DataType out) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  auto* g = b.model().mutable_graph();
  g->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(core::OnnxCode(in));
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(core::OnnxCode(out));
  b.Node("Relu", {"x"}, {"y"});
  return b.Serialize();
}

core::Tensor Make(DataType t, const std::vector<float>& values) {
  const core::Tensor f = core::Tensor::FromFloats({1, static_cast<int64_t>(values.size())}, values);
  core::Tensor out(t, f.dims());
  EXPECT_TRUE(core::ConvertElements(f.view(), out.mutable_view()).ok());
  return out;
}

std::vector<float> Floats(const core::Tensor& t) {
  core::Tensor f(DataType::kFloat32, t.dims());
  EXPECT_TRUE(core::ConvertElements(t.view(), f.mutable_view()).ok());
  return {f.span<float>().begin(), f.span<float>().end()};
}

bool IsSigned(DataType t) {
  return t == DataType::kInt8 || t == DataType::kInt16 || t == DataType::kInt32 || t == DataType::kInt64 ||
         t == DataType::kFloat16 || t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kBFloat16;
}

TEST(EdgeTypesTest, EveryNumericTypeInAndOut) {
  for (int i = 1; i < static_cast<int>(DataType::kCount); ++i) {
    const auto t = static_cast<DataType>(i);
    SCOPED_TRACE(core::OipName(t));
    auto model = Compile(ReluModel(t, t));
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->inputs()[0].dtype, t);
    EXPECT_EQ((*model)->outputs()[0].dtype, t);
    std::vector<float> x = {0, 1, 2, 100}, want = x;
    if (t == DataType::kBool) x = want = {0, 1, 0, 1};
    if (IsSigned(t)) x[2] = -3, want[2] = 0;  // Relu really ran
    const core::Tensor in = Make(t, x);
    auto out = (*model)->Run({in.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)[0].dtype(), t);
    EXPECT_EQ(Floats((*out)[0]), want);
  }
}

TEST(EdgeTypesTest, RawBoolBytesOtherThanOneReadAsTrue) {
  auto model = Compile(ReluModel(DataType::kBool, DataType::kFloat32));
  ASSERT_TRUE(model.ok()) << model.status();
  const uint8_t bytes[4] = {0, 2, 255, 1};
  auto out = (*model)->Run({core::TensorView{DataType::kBool, {1, 4}, bytes}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Floats((*out)[0]), (std::vector<float>{0, 1, 1, 1}));
}

TEST(EdgeTypesTest, OutputDeclaredIntegerTruncatesFromFp32) {
  auto model = Compile(ReluModel(DataType::kFloat32, DataType::kInt64));
  ASSERT_TRUE(model.ok()) << model.status();
  const core::Tensor in = core::Tensor::FromFloats({1, 4}, {1.9f, -2.f, 3.5f, 1e30f});
  auto out = (*model)->Run({in.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  const auto y = (*out)[0].span<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(y.begin(), y.end()),
            (std::vector<int64_t>{1, 0, 3, std::numeric_limits<int64_t>::max()}));
}

TEST(EdgeTypesTest, RefusesValuesFp32CannotCarry) {
  auto f64 = Compile(ReluModel(DataType::kFloat64, DataType::kFloat64));
  ASSERT_TRUE(f64.ok()) << f64.status();
  core::Tensor big(DataType::kFloat64, {1, 4});
  big.span<double>()[3] = 1e200;
  auto out = (*f64)->Run({big.view()});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("input 'x': value 1e+200 at flat index 3 is not representable in FP32"),
            std::string::npos)
      << out.status();

  auto i64 = Compile(ReluModel(DataType::kInt64, DataType::kInt64));
  ASSERT_TRUE(i64.ok()) << i64.status();
  core::Tensor ids(DataType::kInt64, {1, 4});
  ids.span<int64_t>()[0] = (int64_t{1} << 24) + 1;
  out = (*i64)->Run({ids.view()});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("beyond +-2^24"), std::string::npos) << out.status();
  ids.span<int64_t>()[0] = -(int64_t{1} << 24);  // the edge itself is exact
  out = (*i64)->Run({ids.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].span<int64_t>()[0], 0);
}

TEST(EdgeTypesTest, WrongDtypeAtRunIsInvalidArgument) {
  auto model = Compile(ReluModel(DataType::kUInt8, DataType::kFloat32));
  ASSERT_TRUE(model.ok()) << model.status();
  const core::Tensor f = core::Tensor::FromFloats({1, 4}, {1, 2, 3, 4});
  auto out = (*model)->Run({f.view()});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("input 'x' has datatype FP32, expected UINT8"), std::string::npos)
      << out.status();
}

TEST(EdgeTypesTest, RuntimeTypeFollowsWhatConsumersRead) {
  const int i64 = onnx::TensorProto::INT64;
  // Relu reads FP32 only: converted at the edge.
  EXPECT_EQ(*RuntimeInputType(i64, {{"Relu", 0}}, "x"), DataType::kFloat32);
  // Reshape's shape slot reads neither at runtime: kept, so Reshape itself reports.
  EXPECT_EQ(*RuntimeInputType(i64, {{"Reshape", 1}}, "x"), DataType::kInt64);
  EXPECT_EQ(*RuntimeInputType(onnx::TensorProto::FLOAT, {{"Relu", 0}}, "x"), DataType::kFloat32);
  // Gather's indices list INT64 in runtime_types: carried as FP32, checked per request.
  EXPECT_EQ(*RuntimeInputType(i64, {{"Gather", 1}}, "x"), DataType::kFloat32);
  EXPECT_EQ(*RuntimeInputType(onnx::TensorProto::BOOL, {{"Where", 0}, {"Not", 0}}, "x"), DataType::kFloat32);
  // One reader that cannot read it at run time keeps the declared type.
  EXPECT_EQ(*RuntimeInputType(i64, {{"Gather", 1}, {"Reshape", 1}}, "x"), DataType::kInt64);
  // BOOL is not an index type: Gather's indices do not read it.
  EXPECT_EQ(*RuntimeInputType(onnx::TensorProto::BOOL, {{"Gather", 1}}, "x"), DataType::kBool);
  auto bad = RuntimeInputType(onnx::TensorProto::STRING, {{"Relu", 0}}, "graph input 'x' has element type STRING");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("graph input 'x' has element type STRING; q8serve serves numeric tensors"),
            std::string::npos);
}

// A runtime INT64 input that only sets a shape is served: its values key the plan.
TEST(EdgeTypesTest, RuntimeInt64ShapeIsServedAsAPlanKey) {
  OnnxBuilder b;
  b.Input("x", {4, 4}).Input("s", {2}).Output("y");
  b.model().mutable_graph()->mutable_input(1)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::INT64);
  b.Node("Reshape", {"x", "s"}, {"y"}, "r");
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  const core::Tensor x = core::Tensor::FromFloats({4, 4}, std::vector<float>(16, 1.f));
  core::Tensor s(core::DataType::kInt64, {2});
  s.span<int64_t>()[0] = 2;
  s.span<int64_t>()[1] = 8;
  auto out = (*model)->Run({x.view(), s.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dims(), (core::Dims{2, 8}));
}

// Neg, Abs and Sign read integers like the other numeric ops: a runtime
// INT64 input travels as exact FP32 and comes back INT64; an INT64 constant
// folds (LayerNormalization's expansion negates its axis to size a shape).
TEST(EdgeTypesTest, SignOpsReadIntegers) {
  for (const char* op : {"Neg", "Abs", "Sign"}) {
    SCOPED_TRACE(op);
    OnnxBuilder b;
    b.Input("x", {-1, 4}).Output("y");
    auto* g = b.model().mutable_graph();
    g->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
    b.Node(op, {"x"}, {"y"});
    auto model = Compile(b.Serialize());
    ASSERT_TRUE(model.ok()) << model.status();
    const std::vector<float> x = {-7, 0, 3, -1};
    std::vector<float> want;
    for (float v : x) {
      const std::string name = op;
      want.push_back(name == "Neg" ? -v : name == "Abs" ? std::abs(v) : (v > 0) - (v < 0));
    }
    auto out = (*model)->Run({Make(DataType::kInt64, x).view()});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].dtype(), DataType::kInt64);
    EXPECT_EQ(Floats((*out)[0]), want);
  }
  // y = Reshape(x [2, 6], Concat(Neg([-3]), [-1])): shape [3, 4].
  OnnxBuilder b;
  b.Input("x", {2, 6}).Output("y");
  b.Int64Initializer("minus_three", {1}, {-3}).Int64Initializer("rest", {1}, {-1});
  b.Node("Neg", {"minus_three"}, {"three"});
  OnnxBuilder::AttrInt(b.Node("Concat", {"three", "rest"}, {"shape"}), "axis", 0);
  b.Node("Reshape", {"x", "shape"}, {"y"});
  auto model = Compile(b.Serialize());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->outputs()[0].dims, (core::Dims{3, 4}));
}

}  // namespace
}  // namespace q8::engine

namespace q8::engine {
namespace {

// Dropout(x, ratio, training_mode): a constant true training_mode is refused
// at load; a runtime one is served as inference while the request sends
// false, and refused per request (INVALID_ARGUMENT) when it sends true --
// never treated as inference, which gave wrong numbers on
// node/test_training_dropout.
std::string DropoutModel(bool runtime_mode, bool constant_mode, float ratio = 0.5f) {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.FloatInitializer("ratio", {}, {ratio});
  auto* g = b.model().mutable_graph();
  if (runtime_mode) {
    b.Input("mode", {});
    g->mutable_input(1)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);
    g->mutable_input(1)->mutable_type()->mutable_tensor_type()->mutable_shape();  // a scalar
  } else {
    auto* t = g->add_initializer();
    t->set_name("mode");
    t->set_data_type(onnx::TensorProto::BOOL);
    t->add_int32_data(constant_mode ? 1 : 0);
  }
  b.Node("Dropout", {"x", "ratio", "mode"}, {"y"}, "drop");
  return b.Serialize();
}

TEST(DropoutTrainingModeTest, TrueTrainingModeIsRefused) {
  auto runtime = Compile(DropoutModel(true, false));
  ASSERT_TRUE(runtime.ok()) << runtime.status();
  const core::Tensor x4 = core::Tensor::FromFloats({1, 4}, {1, -2, 3, -4});
  core::Tensor mode(DataType::kBool, {});
  mode.span<uint8_t>()[0] = 0;
  auto off = (*runtime)->Run({x4.view(), mode.view()});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(Floats((*off)[0]), (std::vector<float>{1, -2, 3, -4}));
  mode.span<uint8_t>()[0] = 1;
  auto on = (*runtime)->Run({x4.view(), mode.view()});
  ASSERT_EQ(on.status().code(), absl::StatusCode::kInvalidArgument) << on.status();
  EXPECT_NE(on.status().message().find("training_mode is true"), std::string::npos) << on.status();
  mode.span<uint8_t>()[0] = 0;
  EXPECT_TRUE((*runtime)->Run({x4.view(), mode.view()}).ok());  // the model still serves
  auto training = Compile(DropoutModel(false, true));
  ASSERT_FALSE(training.ok());
  EXPECT_NE(training.status().message().find("training_mode other than a constant false"), std::string::npos)
      << training.status();
  auto inference = Compile(DropoutModel(false, false));
  ASSERT_TRUE(inference.ok()) << inference.status();
  const core::Tensor x = core::Tensor::FromFloats({1, 4}, {1, -2, 3, -4});
  auto out = (*inference)->Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Floats((*out)[0]), (std::vector<float>{1, -2, 3, -4}));
}

// Dropout's mask output: all true whenever the gate serves a request (at
// inference nothing is dropped), for every batch size; training_mode true
// with ratio 0 drops nothing either and is served, any other ratio refused.
TEST(DropoutMaskTest, MaskIsAllTrueAndZeroRatioTrainingIsServed) {
  struct Case {
    bool runtime_mode;
    float ratio;
  };
  for (const Case c : {Case{false, 0.5f}, Case{true, 0.f}, Case{true, 0.5f}}) {
    SCOPED_TRACE(absl::StrCat(c.runtime_mode ? "runtime training_mode" : "inference", ", ratio ", c.ratio));
    OnnxBuilder b;
    b.Input("x", {-1, 3}).Output("y").Output("mask");
    b.FloatInitializer("ratio", {}, {c.ratio});
    auto* g = b.model().mutable_graph();
    g->mutable_output(1)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);
    std::vector<std::string> inputs = {"x", "ratio"};
    if (c.runtime_mode) {
      b.Input("mode", {});  // a scalar input: the model then has a fixed batch of 1
      g->mutable_input(1)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);
      inputs.push_back("mode");
    }
    b.Node("Dropout", inputs, {"y", "mask"}, "drop");
    auto model = Compile(b.Serialize());
    ASSERT_TRUE(model.ok()) << model.status();
    for (int64_t batch : {1, 3}) {
      if (c.runtime_mode && batch != 1) continue;
      std::vector<float> xs;
      for (int64_t i = 0; i < batch * 3; ++i) xs.push_back(static_cast<float>(i) - 2.5f);
      const core::Tensor x = core::Tensor::FromFloats({batch, 3}, xs);
      for (bool mode : {false, true}) {
        if (mode && !c.runtime_mode) continue;
        core::Tensor m(DataType::kBool, {});
        m.span<uint8_t>()[0] = mode;
        std::vector<core::TensorView> in = {x.view()};
        if (c.runtime_mode) in.push_back(m.view());
        auto out = (*model)->Run(in);
        if (mode && c.ratio != 0) {
          EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
          continue;
        }
        ASSERT_TRUE(out.ok()) << out.status();
        EXPECT_EQ(Floats((*out)[0]), xs);
        EXPECT_EQ((*out)[1].dtype(), DataType::kBool);
        EXPECT_EQ((*out)[1].dims(), (core::Dims{batch, 3}));
        EXPECT_EQ(Floats((*out)[1]), std::vector<float>(batch * 3, 1.f));
      }
    }
  }
}

// A constant ratio 0 drops nothing even in training (torchvision 0.14's Swin
// exports its attention dropout as training_mode true, ratio 0): served as
// the identity.
TEST(DropoutTrainingModeTest, TrainingWithRatioZeroIsTheIdentity) {
  auto model = Compile(DropoutModel(false, true, 0.0f));
  ASSERT_TRUE(model.ok()) << model.status();
  const core::Tensor x = core::Tensor::FromFloats({2, 4}, {1, -2, 3, -4, 5, 6, -7, 8});
  auto out = (*model)->Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Floats((*out)[0]), (std::vector<float>{1, -2, 3, -4, 5, 6, -7, 8}));
}

}  // namespace
}  // namespace q8::engine
