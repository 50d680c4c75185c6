// Small graph inputs of any numeric type that set plan parameters (Resize
// scales, Range bounds, Pad's constant_value) key the plan by their values
// (engine/plan/specialize.h): each value set gets a plan in which the op sees
// constants. Results are checked against plain C++ references; the plan
// cache's bound holds however many distinct values a client sends.
#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/compile_or_die.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;
using testing::CompileOrDie;

void SetElemType(OnnxBuilder& b, int input, onnx::TensorProto::DataType type) {
  b.model().mutable_graph()->mutable_input(input)->mutable_type()->mutable_tensor_type()->set_elem_type(type);
}

// Y = Resize(X [1,1,2,3], scales) in nearest mode (half_pixel,
// round_prefer_floor), scales a runtime FP32 input.
OnnxBuilder ResizeWithRuntimeScales() {
  OnnxBuilder b;
  b.Input("x", {1, 1, 2, 3}).Input("scales", {4}).Output("y");
  b.Node("Resize", {"x", "", "scales"}, {"y"});
  return b;
}

// With an integer factor s per axis, half_pixel nearest (round_prefer_floor)
// reads source index floor(o / s): o = k*s + r maps to k + (r + 0.5)/s - 0.5,
// strictly within half a pixel of k.
std::vector<float> NearestReference(const std::vector<float>& x, int64_t h, int64_t w, int64_t sh, int64_t sw) {
  std::vector<float> y;
  for (int64_t i = 0; i < h * sh; ++i) {
    for (int64_t j = 0; j < w * sw; ++j) y.push_back(x[(i / sh) * w + j / sw]);
  }
  return y;
}

void RunResize(const CompiledModel& m, int64_t sh, int64_t sw) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const core::Tensor xt = core::Tensor::FromFloats({1, 1, 2, 3}, x);
  const core::Tensor scales = core::Tensor::FromFloats({4}, {1.f, 1.f, static_cast<float>(sh), static_cast<float>(sw)});
  auto out = m.Run({xt.view(), scales.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dims(), (core::Dims{1, 1, 2 * sh, 3 * sw}));
  const auto y = (*out)[0].span<float>();
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()), NearestReference(x, 2, 3, sh, sw)) << "scales " << sh << "x" << sw;
}

TEST(PlanValuesTest, RuntimeResizeScalesKeyThePlan) {
  auto m = CompileOrDie(ResizeWithRuntimeScales());
  ASSERT_NE(m, nullptr);
  RunResize(*m, 2, 2);
  RunResize(*m, 3, 1);
  RunResize(*m, 2, 2);  // cached
  EXPECT_EQ(m->plan_builds(), 2);
}

// A client sending ever-new scales costs plan rebuilds within the bound,
// never more cached plans.
TEST(PlanValuesTest, EverNewValuesStayWithinThePlanBound) {
  auto m = CompileOrDie(ResizeWithRuntimeScales(), /*max_cached_plans=*/2);
  ASSERT_NE(m, nullptr);
  for (int64_t s = 1; s <= 8; ++s) {
    RunResize(*m, s, 1);
    EXPECT_LE(m->cached_plans(), 2);
  }
  EXPECT_EQ(m->plan_builds(), 8);
  RunResize(*m, 1, 1);  // evicted long ago: built again
  EXPECT_EQ(m->plan_builds(), 9);
  EXPECT_LE(m->cached_plans(), 2);
}

// y = Range(start, limit, delta), all three FP32 scalar inputs (ONNX's
// test_range_float_type_positive_delta shape).
TEST(PlanValuesTest, RangeOfFloatInputs) {
  OnnxBuilder b(11);
  b.Input("start", {}).Input("limit", {}).Input("delta", {}).Output("y");
  b.Node("Range", {"start", "limit", "delta"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  for (auto [start, limit, delta] : {std::tuple<float, float, float>{1, 5, 2}, {0.5f, 3.f, 0.5f}, {4, -2, -1.5f}}) {
    const core::Tensor s = core::Tensor::FromFloats({}, {start}), l = core::Tensor::FromFloats({}, {limit}),
                       d = core::Tensor::FromFloats({}, {delta});
    auto out = m->Run({s.view(), l.view(), d.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    std::vector<float> want;
    const int64_t n = static_cast<int64_t>(std::ceil((limit - start) / delta));
    for (int64_t i = 0; i < n; ++i) want.push_back(start + static_cast<float>(i) * delta);
    const auto y = (*out)[0].span<float>();
    EXPECT_EQ(std::vector<float>(y.begin(), y.end()), want) << start << ".." << limit << " by " << delta;
  }
}

// y = Cos(Range(0, float(n), 1) * 0.5), n an INT32 scalar input (how ONNX
// expands HannWindow): the Range folds when the plan is built, and Cos then
// reads a plan constant.
TEST(PlanValuesTest, FoldedRangeFeedsAKernel) {
  OnnxBuilder b(17);
  b.Input("n", {}).Output("y");
  SetElemType(b, 0, onnx::TensorProto::INT32);
  b.FloatInitializer("zero", {}, {0.f}).FloatInitializer("one", {}, {1.f}).FloatInitializer("half", {}, {0.5f});
  OnnxBuilder::AttrInt(b.Node("Cast", {"n"}, {"nf"}), "to", onnx::TensorProto::FLOAT);
  b.Node("Range", {"zero", "nf", "one"}, {"r"});
  b.Node("Mul", {"r", "half"}, {"angle"});
  b.Node("Cos", {"angle"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  for (int32_t n : {5, 9}) {
    core::Tensor nt(core::DataType::kInt32, {});
    nt.span<int32_t>()[0] = n;
    auto out = m->Run({nt.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)[0].dims(), (core::Dims{n}));
    for (int32_t i = 0; i < n; ++i) EXPECT_NEAR((*out)[0].span<float>()[i], std::cos(0.5 * i), 1e-6) << i;
  }
}

// Range bounds computed from data (not constants, not graph inputs): the
// output length would follow the data, so the model is refused, naming the node.
TEST(PlanValuesTest, RangeOfRuntimeDataIsRefused) {
  OnnxBuilder b(13);
  b.Input("x", {4}).Output("y");
  b.FloatInitializer("zero", {}, {0.f}).FloatInitializer("one", {}, {1.f});
  OnnxBuilder::AttrInt(b.Node("ReduceMax", {"x"}, {"m"}), "keepdims", 0);
  b.Node("Range", {"zero", "m", "one"}, {"y"}, "range_node");
  CompileOptions o;
  o.warmup_batch_sizes = {};
  auto m = Compile(b.Serialize(), o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("node 'range_node' (Range)"), std::string::npos) << m.status();
  EXPECT_NE(m.status().message().find("runtime data"), std::string::npos) << m.status();
}

// Pad's constant_value from a graph input keys the plan as well.
TEST(PlanValuesTest, RuntimePadValue) {
  OnnxBuilder b(13);
  b.Input("x", {2}).Input("value", {}).Output("y");
  b.Int64Initializer("pads", {2}, {1, 2});
  b.Node("Pad", {"x", "pads", "value"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  const core::Tensor xt = core::Tensor::FromFloats({2}, {3.f, 4.f});
  for (float v : {-1.f, 7.5f}) {
    const core::Tensor vt = core::Tensor::FromFloats({}, {v});
    auto out = m->Run({xt.view(), vt.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    const auto y = (*out)[0].span<float>();
    EXPECT_EQ(std::vector<float>(y.begin(), y.end()), (std::vector<float>{v, 3.f, 4.f, v, v})) << v;
  }
}

// An empty INT64 input that sets Reduce axes (the model states its size as
// 0): ReduceSum over all axes by default. Other inputs stated empty carry no
// data and are refused at load.
TEST(PlanValuesTest, EmptyAxesInputReducesEverything) {
  OnnxBuilder b(13);
  b.Input("x", {2, 3}).Input("axes", {0}).Output("y");
  SetElemType(b, 1, onnx::TensorProto::INT64);
  b.Node("ReduceSum", {"x", "axes"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  const core::Tensor xt = core::Tensor::FromFloats({2, 3}, {1, 2, 3, 4, 5, -6});
  const core::Tensor axes(core::DataType::kInt64, {0});
  auto out = m->Run({xt.view(), axes.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dims(), (core::Dims{1, 1}));
  EXPECT_EQ((*out)[0].span<float>()[0], 9.f);

  OnnxBuilder empty(13);
  empty.Input("x", {2, 0}).Output("y");
  empty.Node("Relu", {"x"}, {"y"});
  auto refused = Compile(empty.Serialize());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
}

// A Slice whose runtime bounds leave nothing: an empty output, no step.
TEST(PlanValuesTest, SlicePastTheEndIsEmpty) {
  OnnxBuilder b(13);
  b.Input("x", {4, 3}).Input("starts", {1}).Input("ends", {1}).Output("y");
  SetElemType(b, 1, onnx::TensorProto::INT64);
  SetElemType(b, 2, onnx::TensorProto::INT64);
  b.Int64Initializer("axes", {1}, {0});
  b.Node("Slice", {"x", "starts", "ends", "axes"}, {"y"});
  auto m = CompileOrDie(b);
  ASSERT_NE(m, nullptr);
  const core::Tensor xt = core::Tensor::FromFloats({4, 3}, std::vector<float>(12, 1.f));
  for (auto [start, end, rows] : {std::tuple<int64_t, int64_t, int64_t>{10, 20, 0}, {1, 3, 2}}) {
    core::Tensor st(core::DataType::kInt64, {1}), en(core::DataType::kInt64, {1});
    st.span<int64_t>()[0] = start;
    en.span<int64_t>()[0] = end;
    auto out = m->Run({xt.view(), st.view(), en.view()});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].dims(), (core::Dims{rows, 3}));
    EXPECT_EQ((*out)[0].num_elements(), rows * 3);
  }
}

}  // namespace
}  // namespace q8::engine
