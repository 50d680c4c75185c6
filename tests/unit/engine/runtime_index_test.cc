// Integer and BOOL values at run time through whole compiled models: INT64
// token ids into an embedding Gather (hostile ids give INVALID_ARGUMENT per
// request and the model keeps serving), BOOL outputs of comparisons and
// logic, a runtime Where condition, ArgMax's INT64 output, runtime Cast.
// Expected values come from plain C++ loops over the same inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "core/element_convert.h"
#include "engine/compiler.h"
#include "onnx/onnx_pb.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using core::DataType;
using q8::testing::OnnxBuilder;

void SetType(onnx::ValueInfoProto* v, DataType t) {
  v->mutable_type()->mutable_tensor_type()->set_elem_type(core::OnnxCode(t));
}

constexpr int64_t kVocab = 10, kDim = 3;

// ids [-1, 4] INT64 -> Gather(table [10, 3]) -> emb [-1, 4, 3];
// also mask = Greater(ids, 4) as a BOOL output.
std::string EmbeddingModel() {
  OnnxBuilder b;
  b.Input("ids", {-1, 4}).Output("emb").Output("mask");
  std::vector<float> table;
  for (int64_t i = 0; i < kVocab * kDim; ++i) table.push_back(static_cast<float>(i) * 0.5f - 3.0f);
  b.FloatInitializer("table", {kVocab, kDim}, table);
  b.Int64Initializer("four", {}, {4});
  auto* g = b.model().mutable_graph();
  SetType(g->mutable_input(0), DataType::kInt64);
  SetType(g->mutable_output(1), DataType::kBool);
  b.Node("Gather", {"table", "ids"}, {"emb"}, "embed");
  b.Node("Greater", {"ids", "four"}, {"mask"}, "gt");
  return b.Serialize();
}

core::Tensor Ids(std::vector<int64_t> v) {
  core::Tensor t(DataType::kInt64, {static_cast<int64_t>(v.size()) / 4, 4});
  std::copy(v.begin(), v.end(), t.span<int64_t>().begin());
  return t;
}

TEST(RuntimeIndexTest, EmbeddingLookupWithInt64TokenIds) {
  auto model = Compile(EmbeddingModel());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->inputs()[0].dtype, DataType::kInt64);
  EXPECT_EQ((*model)->outputs()[1].dtype, DataType::kBool);
  const std::vector<int64_t> ids = {0, 9, 4, -1, 5, 5, 1, -10};  // negative ids count from the end
  auto out = (*model)->Run({Ids(ids).view()});
  ASSERT_TRUE(out.ok()) << out.status();
  const core::Tensor& emb = (*out)[0];
  ASSERT_EQ(emb.dims(), (core::Dims{2, 4, kDim}));
  for (size_t t = 0; t < ids.size(); ++t) {
    const int64_t row = ids[t] < 0 ? ids[t] + kVocab : ids[t];
    for (int64_t d = 0; d < kDim; ++d) {
      EXPECT_EQ(emb.span<float>()[t * kDim + d], static_cast<float>(row * kDim + d) * 0.5f - 3.0f) << t;
    }
    EXPECT_EQ((*out)[1].span<uint8_t>()[t], ids[t] > 4 ? 1 : 0) << t;
  }
}

TEST(RuntimeIndexTest, HostileTokenIdsAreRefusedPerRequest) {
  auto model = Compile(EmbeddingModel());
  ASSERT_TRUE(model.ok()) << model.status();
  struct Case {
    int64_t id;
    const char* says;
  };
  for (const Case& c : {Case{10, "out of range [-10, 10)"}, Case{-11, "out of range [-10, 10)"},
                        Case{int64_t{1} << 40, "not representable in FP32"},
                        Case{INT64_MIN, "not representable in FP32"}, Case{1 << 20, "out of range"}}) {
    SCOPED_TRACE(c.id);
    auto out = (*model)->Run({Ids({1, 2, c.id, 3}).view()});
    ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
    EXPECT_NE(out.status().message().find(c.says), std::string::npos) << out.status();
  }
  // The same model still answers a good request afterwards.
  auto ok = (*model)->Run({Ids({1, 2, 3, 4}).view()});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].span<float>()[0], 1.5f - 3.0f);
}

// x [-1, 5] FP32, c [-1, 5] BOOL: y = Where(Not(c) Or (x > 0), x, -x) (BOOL
// runtime logic), arg = ArgMax(x, axis 1) declared INT64, i8 = Cast(x, INT8).
std::string LogicModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 5}).Input("c", {-1, 5}).Output("y").Output("arg").Output("i8").Output("both");
  b.FloatInitializer("zero", {}, {0.0f});
  auto* g = b.model().mutable_graph();
  SetType(g->mutable_input(1), DataType::kBool);
  SetType(g->mutable_output(1), DataType::kInt64);
  SetType(g->mutable_output(2), DataType::kInt8);
  SetType(g->mutable_output(3), DataType::kBool);
  b.Node("Not", {"c"}, {"nc"});
  b.Node("Greater", {"x", "zero"}, {"pos"});
  b.Node("Or", {"nc", "pos"}, {"cond"});
  b.Node("And", {"c", "pos"}, {"both"});
  b.Node("Neg", {"x"}, {"nx"});
  b.Node("Where", {"cond", "x", "nx"}, {"y"});
  OnnxBuilder::AttrInt(b.Node("ArgMax", {"x"}, {"arg"}), "axis", 1);
  OnnxBuilder::AttrInt(b.Node("Cast", {"x"}, {"i8"}), "to", onnx::TensorProto::INT8);
  return b.Serialize();
}

TEST(RuntimeIndexTest, BoolLogicWhereArgMaxAndCastAtRunTime) {
  auto model = Compile(LogicModel());
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<float> xs = {1.5f, -2.7f, 300.0f, -0.5f, 2.0f, -1.0f, -3.0f, -1.0f, 0.0f, -200.9f};
  const std::vector<uint8_t> cs = {1, 1, 0, 0, 1, 1, 0, 1, 1, 0};
  const core::Tensor x = core::Tensor::FromFloats({2, 5}, xs);
  core::Tensor c(DataType::kBool, {2, 5});
  std::copy(cs.begin(), cs.end(), c.span<uint8_t>().begin());
  auto out = (*model)->Run({x.view(), c.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  for (size_t i = 0; i < xs.size(); ++i) {
    const bool cond = !cs[i] || xs[i] > 0;
    EXPECT_EQ((*out)[0].span<float>()[i], cond ? xs[i] : -xs[i]) << i;
    const float clamped = std::clamp(std::trunc(xs[i]), -128.0f, 127.0f);  // Cast saturates, truncates
    EXPECT_EQ((*out)[2].span<int8_t>()[i], static_cast<int8_t>(clamped)) << i;
    EXPECT_EQ((*out)[3].span<uint8_t>()[i], cs[i] && xs[i] > 0 ? 1 : 0) << i;
  }
  ASSERT_EQ((*out)[1].dims(), (core::Dims{2, 1}));
  EXPECT_EQ((*out)[1].span<int64_t>()[0], 2);
  EXPECT_EQ((*out)[1].span<int64_t>()[1], 3);  // ties keep the first index
}

// A graph input declared FP32 is not an index type: refused at load, naming
// the node (fractional runtime indices are refused per request by the kernel).
TEST(RuntimeIndexTest, FloatIndicesAreRefusedAtLoad) {
  OnnxBuilder b;
  b.Input("x", {-1, 2}).Output("y");
  b.FloatInitializer("table", {4}, {10, 20, 30, 40});
  b.Node("Gather", {"table", "x"}, {"y"}, "g");
  auto model = Compile(b.Serialize());
  ASSERT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  EXPECT_NE(model.status().message().find("node 'g' (Gather): input 1 ('x') has element type FP32"), std::string::npos)
      << model.status();
}

}  // namespace
}  // namespace q8::engine
