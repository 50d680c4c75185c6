// Bad specs and bad Run arguments come back as precise absl::Status codes
// naming the step, never as a crash or an escaping dnnl::error.
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

ConvParams Conv(int64_t ic, int64_t oc) {
  ConvParams p;
  p.weights = Constant(RandomTensor({oc, ic, 3, 3}, 1));
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  return p;
}

absl::Status CreateStatus(const ProgramSpec& spec) {
  WeightCache cache;
  return Program::Create(spec, cache).status();
}

TEST(ErrorsTest, ConvOutputShapeMismatch) {
  SpecBuilder s;
  s.Step("Conv", Conv(3, 8), {s.Input({1, 3, 8, 8})}, {s.Output({1, 8, 7, 7})});
  const absl::Status status = CreateStatus(s.Build());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "Conv_0")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "[1,8,8,8]")) << status;
}

TEST(ErrorsTest, ConvWeightsChannelMismatch) {
  SpecBuilder s;
  s.Step("Conv", Conv(4, 8), {s.Input({1, 3, 8, 8})}, {s.Output({1, 8, 8, 8})});
  EXPECT_EQ(CreateStatus(s.Build()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ErrorsTest, MatMulInnerDimMismatch) {
  SpecBuilder s;
  MatMulParams p;
  p.weights = Constant(RandomTensor({5, 4}, 2));
  s.Step("MatMul", p, {s.Input({2, 6})}, {s.Output({2, 4})});
  EXPECT_EQ(CreateStatus(s.Build()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ErrorsTest, BinaryNotBroadcastable) {
  SpecBuilder s;
  const int a = s.Input({2, 3}), b = s.Input({2, 2});
  s.Step("Add", BinaryParams{}, {a, b}, {s.Output({2, 3})});
  EXPECT_EQ(CreateStatus(s.Build()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ErrorsTest, OneDnnRejectionBecomesInvalidArgument) {
  // The softmax axis is deliberately left for oneDNN to reject.
  SpecBuilder s;
  s.Step("Softmax", SoftmaxParams{5}, {s.Input({2, 3})}, {s.Output({2, 3})});
  const absl::Status status = CreateStatus(s.Build());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "Softmax_0")) << status;
}

TEST(ErrorsTest, ArityAndValueIds) {
  SpecBuilder s;
  const int in = s.Input({2, 3});
  s.Step("Relu", EltwiseParams{}, {in, in}, {s.Output({2, 3})});
  EXPECT_EQ(CreateStatus(s.Build()).code(), absl::StatusCode::kInvalidArgument);

  SpecBuilder t;
  t.Step("Relu", EltwiseParams{}, {t.Input({2, 3})}, {42});
  EXPECT_EQ(CreateStatus(t.Build()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ErrorsTest, BadStorage) {
  SpecBuilder s;
  const int in = s.Input({2, 3});
  s.Step("Relu", EltwiseParams{}, {in}, {in});  // writes a graph input
  EXPECT_EQ(CreateStatus(s.Build()).code(), absl::StatusCode::kInvalidArgument);

  SpecBuilder t;
  const int a = t.Arena({16, 16});
  t.spec().arena_bytes = 512;  // value needs 1024
  t.Step("Relu", EltwiseParams{}, {t.Input({16, 16})}, {a});
  EXPECT_EQ(CreateStatus(t.Build()).code(), absl::StatusCode::kInvalidArgument);

  SpecBuilder u;
  const int b = u.Arena({4, 4});
  u.spec().values[b].offset = 8;  // misaligned
  u.spec().arena_bytes = 128;
  u.Step("Relu", EltwiseParams{}, {u.Input({4, 4})}, {b});
  EXPECT_EQ(CreateStatus(u.Build()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ErrorsTest, UnsupportedDtypeIsUnimplemented) {
  SpecBuilder s;
  const int in = s.Input({2, 3});
  s.spec().values[in].dtype = core::DataType::kFloat64;
  s.Step("Relu", EltwiseParams{}, {in}, {s.Output({2, 3})});
  EXPECT_EQ(CreateStatus(s.Build()).code(), absl::StatusCode::kUnimplemented);
}

TEST(ErrorsTest, BadRunArguments) {
  SpecBuilder s;
  s.Step("Relu", EltwiseParams{}, {s.Input({2, 3})}, {s.Output({2, 3})});
  WeightCache cache;
  auto program = Program::Create(s.Build(), cache);
  auto other = Program::Create(s.Build(), cache);
  ASSERT_TRUE(program.ok() && other.ok());
  auto ws = (*program)->NewWorkspace();
  auto other_ws = (*other)->NewWorkspace();
  ASSERT_TRUE(ws.ok() && other_ws.ok());
  std::vector<float> in(6), out(6);
  const void* ins[] = {in.data()};
  void* outs[] = {out.data()};
  EXPECT_EQ((*program)->Run(**ws, {}, outs).code(), absl::StatusCode::kInvalidArgument);
  const void* null_in[] = {nullptr};
  EXPECT_EQ((*program)->Run(**ws, null_in, outs).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*program)->Run(**other_ws, ins, outs).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*program)->Run(**ws, ins, outs).ok());
}

}  // namespace
}  // namespace q8::kernels::testing
