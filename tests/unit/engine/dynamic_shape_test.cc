// Any input axis may be dynamic: plans are keyed by the full set of input
// shapes (and the values of INT64 inputs that set shapes), kept in the bounded
// LRU, and shape subgraphs (Shape, Gather, Slice, Concat, Unsqueeze...) are
// folded when a plan is built (comparisons and Where included, as in
// PyTorch's attention key-padding mask). Each result is checked against a
// plain C++ reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"
#include "tests/testing/random_data.h"
#include "tests/testing/reference_conv.h"
#include "tests/unit/engine/compile_or_die.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;
using testing::CompileOrDie;

using q8::testing::Random;

// Conv 3x3, pads 1, 1 -> 2 channels, then Relu; H and W dynamic.
constexpr int64_t kOc = 2;
OnnxBuilder ConvNet(std::vector<float>* w, std::vector<float>* bias) {
  OnnxBuilder b;
  *w = Random(kOc * 9, 7);
  *bias = {0.25f, -0.5f};
  b.Input("x", {-1, 1, -1, -1}).Output("y");
  b.FloatInitializer("w", {kOc, 1, 3, 3}, *w);
  b.FloatInitializer("b", {kOc}, *bias);
  auto& conv = b.Node("Conv", {"x", "w", "b"}, {"c"});
  OnnxBuilder::AttrInts(conv, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c"}, {"y"});
  return b;
}

std::vector<float> ConvReference(const std::vector<float>& x, int64_t n, int64_t h, int64_t wd,
                                 const std::vector<float>& w, const std::vector<float>& bias) {
  return q8::testing::Conv3x3ReluReference(x, n, h, wd, w, bias);
}

void ExpectNear(absl::Span<const float> got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f) << what << " at " << i;
}

TEST(DynamicShapeTest, ConvWithDynamicHeightAndWidthRunsTwoShapes) {
  std::vector<float> w, bias;
  auto m = CompileOrDie(ConvNet(&w, &bias));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->inputs()[0].dims, (core::Dims{-1, 1, -1, -1}));
  EXPECT_EQ(m->outputs()[0].dims, (core::Dims{-1, kOc, -1, -1}));
  const int64_t builds = m->plan_builds();
  for (auto [n, h, wd] : {std::tuple<int64_t, int64_t, int64_t>{1, 5, 7}, {2, 9, 4}}) {
    const std::vector<float> x = Random(n * h * wd, static_cast<uint32_t>(h * 100 + wd));
    const core::Tensor in = core::Tensor::FromFloats({n, 1, h, wd}, x);
    auto out = m->Run({in.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].dims(), (core::Dims{n, kOc, h, wd}));
    ExpectNear((*out)[0].span<float>(), ConvReference(x, n, h, wd, w, bias), absl::StrCat(h, "x", wd));
  }
  EXPECT_EQ(m->plan_builds(), builds + 2);
}

TEST(DynamicShapeTest, ShapeKeyedPlansRespectTheLruBound) {
  std::vector<float> w, bias;
  auto m = CompileOrDie(ConvNet(&w, &bias), /*max_cached_plans=*/2);
  ASSERT_NE(m, nullptr);
  auto run = [&](int64_t h, int64_t wd) {
    const std::vector<float> x = Random(h * wd, 3);
    const core::Tensor in = core::Tensor::FromFloats({1, 1, h, wd}, x);
    auto out = m->Run({in.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    ExpectNear((*out)[0].span<float>(), ConvReference(x, 1, h, wd, w, bias), absl::StrCat(h, "x", wd));
  };
  const int64_t base = m->plan_builds();
  run(4, 4);
  run(5, 4);
  EXPECT_EQ(m->cached_plans(), 2);
  run(4, 5);  // a third shape evicts the least recently used
  EXPECT_EQ(m->plan_builds(), base + 3);
  EXPECT_EQ(m->cached_plans(), 2);
  run(4, 5);  // cached
  EXPECT_EQ(m->plan_builds(), base + 3);
  run(4, 4);  // evicted: built again
  EXPECT_EQ(m->plan_builds(), base + 4);
}

// The server asks for a request's output dims on its gRPC thread, before the
// stream runs it: that must not build a plan (it would be keyed by the gRPC
// thread's thread count and never run). Found at merge: plan_builds rose by
// two per new shape.
TEST(DynamicShapeTest, OutputDimsForANewShapeBuildsNoPlan) {
  std::vector<float> w, bias;
  auto m = CompileOrDie(ConvNet(&w, &bias));
  ASSERT_NE(m, nullptr);
  const int64_t base = m->plan_builds();
  const core::Tensor in = core::Tensor::FromFloats({2, 1, 7, 9}, Random(2 * 7 * 9, 4));
  auto dims = m->OutputDimsFor({in.view()});
  ASSERT_TRUE(dims.ok()) << dims.status();
  EXPECT_EQ((*dims)[0], (core::Dims{2, kOc, 7, 9}));
  EXPECT_EQ(m->plan_builds(), base);
  ASSERT_TRUE(m->Run({in.view()}).ok());
  EXPECT_EQ(m->plan_builds(), base + 1);
  auto again = m->OutputDimsFor({in.view()});  // now from the cached plan
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *dims);
}

TEST(DynamicShapeTest, WrongFixedDimNamesInputAndAxis) {
  std::vector<float> w, bias;
  auto m = CompileOrDie(ConvNet(&w, &bias));
  ASSERT_NE(m, nullptr);
  const core::Tensor in(core::DataType::kFloat32, {1, 2, 5, 5});
  auto out = m->Run({in.view()});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("input 'x' axis 1 has size 2, expected 1"), std::string::npos) << out.status();
}

// x [N, L, 4] -> Reshape(x, Concat(Shape(x)[0:1], [-1])) -> Softmax(axis -1):
// the softmax runs over all L*4 values of a row only if the shape subgraph
// was evaluated for each request's L.
TEST(DynamicShapeTest, ShapeSubgraphIsFoldedPerPlan) {
  OnnxBuilder b;
  b.Input("x", {-1, -1, 4}).Output("y");
  b.Int64Initializer("zero", {1}, {0});
  b.Int64Initializer("one", {1}, {1});
  b.Int64Initializer("minus1", {1}, {-1});
  b.Node("Shape", {"x"}, {"s"});
  b.Node("Slice", {"s", "zero", "one"}, {"n"});
  auto& concat = b.Node("Concat", {"n", "minus1"}, {"target"});
  OnnxBuilder::AttrInt(concat, "axis", 0);
  b.Node("Reshape", {"x", "target"}, {"flat"});
  auto& softmax = b.Node("Softmax", {"flat"}, {"y"});
  OnnxBuilder::AttrInt(softmax, "axis", -1);
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->outputs()[0].dims, (core::Dims{-1, -1}));
  for (auto [n, l] : {std::pair<int64_t, int64_t>{2, 3}, {1, 7}}) {
    const std::vector<float> x = Random(n * l * 4, static_cast<uint32_t>(l));
    const core::Tensor in = core::Tensor::FromFloats({n, l, 4}, x);
    auto out = m->Run({in.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)[0].dims(), (core::Dims{n, l * 4}));
    std::vector<float> want(x.size());
    for (int64_t r = 0; r < n; ++r) {
      double sum = 0, mx = -1e30;
      for (int64_t k = 0; k < l * 4; ++k) mx = std::max<double>(mx, x[r * l * 4 + k]);
      for (int64_t k = 0; k < l * 4; ++k) sum += std::exp(x[r * l * 4 + k] - mx);
      for (int64_t k = 0; k < l * 4; ++k)
        want[r * l * 4 + k] = static_cast<float>(std::exp(x[r * l * 4 + k] - mx) / sum);
    }
    ExpectNear((*out)[0].span<float>(), want, absl::StrCat("L=", l));
  }
}

// x.view(x.shape[0], -1) on a conv net with dynamic H/W (what torch exports:
// Shape -> Gather(0) -> Unsqueeze -> Concat with -1 -> Reshape).
TEST(DynamicShapeTest, ViewBatchMinusOneAfterDynamicConv) {
  std::vector<float> w, bias;
  OnnxBuilder b = ConvNet(&w, &bias);
  b.model().mutable_graph()->mutable_output()->Clear();
  b.model().mutable_graph()->mutable_node(1)->set_output(0, "r");
  b.Output("y");
  b.Int64Initializer("i0", {}, {0});
  b.Int64Initializer("axes0", {1}, {0});
  b.Int64Initializer("minus1", {1}, {-1});
  b.Node("Shape", {"r"}, {"s"});
  b.Node("Gather", {"s", "i0"}, {"n"});
  b.Node("Unsqueeze", {"n", "axes0"}, {"n1"});
  auto& concat = b.Node("Concat", {"n1", "minus1"}, {"target"});
  OnnxBuilder::AttrInt(concat, "axis", 0);
  b.Node("Reshape", {"r", "target"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  for (auto [n, h, wd] : {std::tuple<int64_t, int64_t, int64_t>{2, 3, 5}, {1, 6, 6}}) {
    const std::vector<float> x = Random(n * h * wd, 11);
    const core::Tensor in = core::Tensor::FromFloats({n, 1, h, wd}, x);
    auto out = m->Run({in.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].dims(), (core::Dims{n, kOc * h * wd}));
    ExpectNear((*out)[0].span<float>(), ConvReference(x, n, h, wd, w, bias), absl::StrCat(h, "x", wd));
  }
}

// Swin's shifted-window mask: a tensor shaped from the input's H and W
// (Shape -> Slice -> ConstantOfShape) written by ScatterND, then added to the
// activations. Every ScatterND input is a constant once a plan fixes H and W,
// so plan specialization folds it (a ScatterND step whose inputs are all
// constants would be refused); each shape gets its own mask.
TEST(DynamicShapeTest, ScatterNDOverAShapedMaskIsFoldedPerPlan) {
  OnnxBuilder b;
  b.Input("x", {-1, -1, -1}).Output("y");
  b.Int64Initializer("from", {1}, {1});
  b.Int64Initializer("to", {1}, {3});
  b.Int64Initializer("cells", {2, 2}, {0, 0, 1, -1});  // (0, 0) and (1, W - 1)
  b.FloatInitializer("values", {2}, {5, -7});
  b.Node("Shape", {"x"}, {"s"});
  b.Node("Slice", {"s", "from", "to"}, {"hw"});
  b.Node("ConstantOfShape", {"hw"}, {"zeros"});
  b.Node("ScatterND", {"zeros", "cells", "values"}, {"mask"});
  b.Node("Add", {"x", "mask"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  for (auto [n, h, w] : {std::tuple<int64_t, int64_t, int64_t>{2, 3, 4}, {1, 2, 5}}) {
    const std::vector<float> x = Random(n * h * w, static_cast<uint32_t>(w));
    const core::Tensor in = core::Tensor::FromFloats({n, h, w}, x);
    auto out = m->Run({in.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    std::vector<float> want = x;
    for (int64_t i = 0; i < n; ++i) {
      want[i * h * w] += 5;
      want[i * h * w + w + w - 1] -= 7;
    }
    ExpectNear((*out)[0].span<float>(), want, absl::StrCat(h, "x", w));
  }
}

// Swin's window padding, (k - W % k) % k from the input's shape (Mod), and
// torch's expand(n, -1) shape, Where(Equal(shape, -1), 1, shape): shape
// arithmetic that plan specialization evaluates (Mod, Equal) for each shape.
TEST(DynamicShapeTest, ModPaddingAndEqualWhereShapesFoldPerPlan) {
  OnnxBuilder b;
  b.Input("x", {-1, -1}).Output("y");
  b.Int64Initializer("one", {}, {1});
  b.Int64Initializer("k", {}, {4});
  b.Int64Initializer("axes0", {1}, {0});
  b.Int64Initializer("zeros3", {3}, {0, 0, 0});
  b.Int64Initializer("minus1", {2}, {-1, -1});
  b.Int64Initializer("ones", {2}, {1, 1});
  b.Node("Shape", {"x"}, {"s"});
  b.Node("Gather", {"s", "one"}, {"w"});
  b.Node("Mod", {"w", "k"}, {"r"});
  b.Node("Sub", {"k", "r"}, {"kr"});
  b.Node("Mod", {"kr", "k"}, {"pad"});
  b.Node("Unsqueeze", {"pad", "axes0"}, {"pad1"});
  OnnxBuilder::AttrInt(b.Node("Concat", {"zeros3", "pad1"}, {"pads"}), "axis", 0);
  b.Node("Pad", {"x", "pads"}, {"padded"});
  b.Node("Equal", {"minus1", "minus1"}, {"keep"});  // all true: the shape stays [1, 1]
  b.Node("Where", {"keep", "ones", "minus1"}, {"bshape"});
  b.Node("Expand", {"padded", "bshape"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  for (auto [n, w] : {std::pair<int64_t, int64_t>{2, 5}, {1, 8}, {3, 3}}) {
    const std::vector<float> x = Random(n * w, static_cast<uint32_t>(w));
    const core::Tensor in = core::Tensor::FromFloats({n, w}, x);
    auto out = m->Run({in.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    const int64_t wp = (w + 3) / 4 * 4;
    ASSERT_EQ((*out)[0].dims(), (core::Dims{n, wp}));
    std::vector<float> want(n * wp, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < w; ++j) want[i * wp + j] = x[i * w + j];
    }
    ExpectNear((*out)[0].span<float>(), want, absl::StrCat("W=", w));
  }
}

// An INT64 graph input that only sets a Reshape's shape: its values are part
// of the plan key; each value set gets its plan.
TEST(DynamicShapeTest, Int64ShapeInputKeysThePlan) {
  OnnxBuilder b;
  b.Input("x", {12}).Input("shape", {2}).Output("y");
  b.model().mutable_graph()->mutable_input(1)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::INT64);
  b.Node("Reshape", {"x", "shape"}, {"r"});
  b.Node("Relu", {"r"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  std::vector<float> x = Random(12, 5);
  const core::Tensor xt = core::Tensor::FromFloats({12}, x);
  std::vector<float> want;
  for (float v : x) want.push_back(std::max(v, 0.f));
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{3, 4}, {2, 6}, {3, 4}}) {
    core::Tensor shape(core::DataType::kInt64, {2});
    shape.span<int64_t>()[0] = rows;
    shape.span<int64_t>()[1] = cols;
    auto out = m->Run({xt.view(), shape.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].dims(), (core::Dims{rows, cols}));
    ExpectNear((*out)[0].span<float>(), want, absl::StrCat(rows, "x", cols));
  }
  EXPECT_EQ(m->plan_builds(), 2);  // [3,4] was cached
  core::Tensor bad(core::DataType::kInt64, {2});
  bad.span<int64_t>()[0] = 5;
  bad.span<int64_t>()[1] = 5;
  auto out = m->Run({xt.view(), bad.view()});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
}

// torch.nn.MultiheadAttention's key padding mask, as exported: the BOOL mask
// [N, L] is reshaped to [N, 1, 1, L] with a shape read from itself, then
// expanded to the heads with expand(-1, heads, -1, -1), which the exporter
// writes as Where(Equal(shape, -1 * ConstantOfShape), ConstantOfShape, shape):
// a shape subgraph with comparisons, folded at load; the mask itself is a
// runtime value.
TEST(DynamicShapeTest, KeyPaddingMaskExpandedToHeads) {
  constexpr int64_t kHeads = 2;
  OnnxBuilder b;
  b.Input("x", {-1, kHeads, -1, -1}).Input("mask", {-1, -1}).Output("y");
  b.model().mutable_graph()->mutable_input(1)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::BOOL);
  b.Int64Initializer("i0", {}, {0}).Int64Initializer("i1", {}, {1});
  b.Int64Initializer("axes0", {1}, {0}).Int64Initializer("one", {1}, {1});
  b.Int64Initializer("four", {1}, {4}).Int64Initializer("minus1", {}, {-1});
  b.Int64Initializer("target", {4}, {-1, kHeads, -1, -1});
  b.FloatInitializer("fill", {1}, {-100.0f});
  b.Node("Shape", {"mask"}, {"s"});
  b.Node("Gather", {"s", "i0"}, {"n"});
  b.Node("Gather", {"s", "i1"}, {"l"});
  b.Node("Unsqueeze", {"n", "axes0"}, {"n1"});
  b.Node("Unsqueeze", {"l", "axes0"}, {"l1"});
  OnnxBuilder::AttrInt(b.Node("Concat", {"n1", "one", "one", "l1"}, {"shape4"}), "axis", 0);
  b.Node("Reshape", {"mask", "shape4"}, {"m4"});
  onnx::AttributeProto* value = b.Node("ConstantOfShape", {"four"}, {"ones"}).add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  value->mutable_t()->add_dims(1);
  value->mutable_t()->add_int64_data(1);
  b.Node("Mul", {"ones", "minus1"}, {"neg"});
  b.Node("Equal", {"target", "neg"}, {"keep"});
  b.Node("Where", {"keep", "ones", "target"}, {"expand_shape"});
  b.Node("Expand", {"m4", "expand_shape"}, {"m_heads"});
  b.Node("Where", {"m_heads", "fill", "x"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  for (auto [n, l] : {std::pair<int64_t, int64_t>{2, 3}, {1, 5}}) {
    const std::vector<float> x = Random(n * kHeads * l * l, static_cast<uint32_t>(l));
    const core::Tensor xt = core::Tensor::FromFloats({n, kHeads, l, l}, x);
    core::Tensor mask(core::DataType::kBool, {n, l});
    for (int64_t k = 0; k < n * l; ++k) mask.span<uint8_t>()[k] = (k % l) >= l - 1 - k / l;  // pads at the end
    auto out = m->Run({xt.view(), mask.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)[0].dims(), (core::Dims{n, kHeads, l, l}));
    std::vector<float> want(x.size());
    for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
      const int64_t j = i % l, sample = i / (kHeads * l * l);
      want[i] = mask.span<uint8_t>()[sample * l + j] != 0 ? -100.0f : x[i];
    }
    ExpectNear((*out)[0].span<float>(), want, absl::StrCat("N=", n, " L=", l));
  }
}

// A learned position table of `cap` rows, sliced to the sequence length and
// added to the tokens: the shape check at load must not require more
// positions than the table has (regression: a 20-row table was refused at
// the representative size 32, a 40-row one at 48).
OnnxBuilder PositionTableModel(int64_t cap, std::vector<float>* table) {
  OnnxBuilder b;
  constexpr int64_t kDim = 8;
  *table = Random(cap * kDim, 11);
  b.Input("x", {-1, -1, kDim}).Output("y");
  b.FloatInitializer("pos", {cap, kDim}, *table);
  b.Int64Initializer("one", {}, {1});
  b.Int64Initializer("zero", {1}, {0});
  b.Node("Shape", {"x"}, {"shape"});
  auto& gather = b.Node("Gather", {"shape", "one"}, {"len"});
  OnnxBuilder::AttrInt(gather, "axis", 0);
  b.Node("Unsqueeze", {"len", "zero"}, {"end"});
  b.Node("Slice", {"pos", "zero", "end", "zero"}, {"rows"});
  b.Node("Add", {"x", "rows"}, {"y"});
  return b;
}

TEST(DynamicShapeTest, PositionTableShorterThanTheRepresentativeSizesLoadsAndServesUpToItsLength) {
  for (int64_t cap : {20, 40}) {
    std::vector<float> table;
    auto m = CompileOrDie(PositionTableModel(cap, &table));
    ASSERT_NE(m, nullptr) << "cap " << cap;
    EXPECT_EQ(m->outputs()[0].dims, (core::Dims{-1, -1, 8})) << "cap " << cap;
    for (int64_t len : {int64_t{3}, cap}) {
      const std::vector<float> x = Random(2 * len * 8, static_cast<uint32_t>(len));
      const core::Tensor in = core::Tensor::FromFloats({2, len, 8}, x);
      auto out = m->Run({in.view()});
      ASSERT_TRUE(out.ok()) << out.status();
      std::vector<float> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] + table[i % static_cast<size_t>(len * 8)];
      ExpectNear((*out)[0].span<float>(), want, absl::StrCat("cap ", cap, " length ", len));
    }
    const core::Tensor too_long = core::Tensor::FromFloats({1, cap + 1, 8}, Random((cap + 1) * 8, 5));
    auto out = m->Run({too_long.view()});
    ASSERT_FALSE(out.ok()) << "cap " << cap;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
  }
}

}  // namespace
}  // namespace q8::engine
