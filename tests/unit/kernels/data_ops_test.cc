// kernels/data_ops: validation refuses every index or size that would read
// or write out of bounds (INVALID_ARGUMENT, nothing touched), Cast's edge
// values, and a DataOpParams step inside a real Program (constant operand +
// runtime input).
#include "kernels/data_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/program.h"

namespace q8::kernels {
namespace {

using core::DataType;

core::Tensor Floats(core::Dims dims, std::vector<float> v) { return core::Tensor::FromFloats(std::move(dims), v); }

AxisMapOp Copy1D(int64_t n) {
  AxisMapOp op;
  op.in_dims = op.out_dims = {n};
  op.src_axis = {0};
  op.index = {std::vector<int64_t>(n)};
  for (int64_t i = 0; i < n; ++i) op.index[0][i] = i;
  return op;
}

TEST(DataOpsTest, AxisMapRefusesIndicesOutsideTheInput) {
  const core::Tensor x = Floats({3}, {1, 2, 3});
  core::Tensor y(DataType::kFloat32, {3});
  AxisMapOp op = Copy1D(3);
  op.index[0][2] = 3;  // one past the end
  absl::Status s = RunDataOp(op, {x.view()}, y.mutable_view());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  op.index[0][2] = -2;  // only -1 (fill) is allowed below 0
  EXPECT_EQ(RunDataOp(op, {x.view()}, y.mutable_view()).code(), absl::StatusCode::kInvalidArgument);
  op.index[0][2] = -1;
  op.fill = 7;
  ASSERT_TRUE(RunDataOp(op, {x.view()}, y.mutable_view()).ok());
  EXPECT_EQ(y.span<float>()[2], 7.0f);
}

TEST(DataOpsTest, AxisMapRefusesViewsThatDoNotMatchTheTensors) {
  const core::Tensor x = Floats({3}, {1, 2, 3});
  core::Tensor y(DataType::kFloat32, {4});
  AxisMapOp op = Copy1D(4);  // claims a 4-element input
  EXPECT_EQ(RunDataOp(op, {x.view()}, y.mutable_view()).code(), absl::StatusCode::kInvalidArgument);
  AxisMapOp perm;
  perm.in_dims = perm.out_dims = {1, 3};
  perm.src_axis = {0, 0};  // not a permutation
  perm.index = {{0}, {0, 1, 2}};
  core::Tensor y2(DataType::kFloat32, {1, 3});
  EXPECT_EQ(RunDataOp(perm, {x.view()}, y2.mutable_view()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DataOpsTest, AxisMapTransposesAndReverses) {
  // x [2,3] -> out[j][i] = x[i][2 - j]
  const core::Tensor x = Floats({2, 3}, {0, 1, 2, 10, 11, 12});
  AxisMapOp op;
  op.in_dims = {2, 3};
  op.out_dims = {3, 2};
  op.src_axis = {1, 0};
  op.index = {{2, 1, 0}, {0, 1}};
  core::Tensor y(DataType::kFloat32, {3, 2});
  ASSERT_TRUE(RunDataOp(op, {x.view()}, y.mutable_view()).ok());
  const std::vector<float> want = {2, 12, 1, 11, 0, 10};
  EXPECT_EQ(std::vector<float>(y.span<float>().begin(), y.span<float>().end()), want);
}

TEST(DataOpsTest, ConcatAndWhereRefuseMismatchedShapes) {
  const core::Tensor a = Floats({2, 2}, {1, 2, 3, 4});
  const core::Tensor b = Floats({3, 2}, {1, 2, 3, 4, 5, 6});
  core::Tensor out(DataType::kFloat32, {4, 2});  // should be [5, 2]
  EXPECT_EQ(RunDataOp(ConcatOp{0}, {a.view(), b.view()}, out.mutable_view()).code(),
            absl::StatusCode::kInvalidArgument);
  core::Tensor cond(DataType::kBool, {3});
  core::Tensor w(DataType::kFloat32, {2, 2});
  EXPECT_EQ(RunDataOp(WhereOp{}, {cond.view(), a.view(), a.view()}, w.mutable_view()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DataOpsTest, CastSaturatesTruncatesAndMapsNanToZero) {
  const core::Tensor x = Floats({5}, {-1e10f, 1e10f, -2.7f, std::nanf(""), 300.5f});
  core::Tensor i8(DataType::kInt8, {5});
  ASSERT_TRUE(RunDataOp(CastOp{DataType::kInt8}, {x.view()}, i8.mutable_view()).ok());
  const std::vector<int8_t> want8 = {-128, 127, -2, 0, 127};
  EXPECT_EQ(std::vector<int8_t>(i8.span<int8_t>().begin(), i8.span<int8_t>().end()), want8);
  core::Tensor u8(DataType::kUInt8, {5});
  ASSERT_TRUE(RunDataOp(CastOp{DataType::kUInt8}, {x.view()}, u8.mutable_view()).ok());
  EXPECT_EQ(u8.span<uint8_t>()[0], 0);
  EXPECT_EQ(u8.span<uint8_t>()[4], 255);
  core::Tensor b(DataType::kBool, {5});
  ASSERT_TRUE(RunDataOp(CastOp{DataType::kBool}, {x.view()}, b.mutable_view()).ok());
  EXPECT_EQ(b.span<uint8_t>()[2], 1);
}

TEST(DataOpsTest, CastHalfRoundTripsAndRoundsToNearestEven) {
  const core::Tensor x = Floats({5}, {1.0f, 65504.0f, 1e6f, 5.960464477539063e-08f, 1.0009765625f + 0.00048828125f});
  core::Tensor h(DataType::kFloat16, {5});
  ASSERT_TRUE(RunDataOp(CastOp{DataType::kFloat16}, {x.view()}, h.mutable_view()).ok());
  core::Tensor back(DataType::kFloat32, {5});
  ASSERT_TRUE(RunDataOp(CastOp{DataType::kFloat32}, {h.view()}, back.mutable_view()).ok());
  EXPECT_EQ(back.span<float>()[0], 1.0f);
  EXPECT_EQ(back.span<float>()[1], 65504.0f);
  EXPECT_TRUE(std::isinf(back.span<float>()[2]));
  EXPECT_EQ(back.span<float>()[3], 5.960464477539063e-08f);  // smallest subnormal
  EXPECT_EQ(back.span<float>()[4], 1.001953125f);            // tie -> even mantissa
}

TEST(DataOpsTest, ProgramStepWithAConstantOperand) {
  // out = where(cond, x, y) with cond constant, x runtime, y constant.
  auto cond = std::make_shared<core::Tensor>(DataType::kBool, core::Dims{4});
  cond->span<uint8_t>()[0] = cond->span<uint8_t>()[2] = 1;
  auto y = std::make_shared<core::Tensor>(Floats({4}, {-1, -2, -3, -4}));
  DataOpParams p;
  p.op = WhereOp{};
  p.operands = {cond, nullptr, y};
  ProgramSpec spec;
  spec.values = {{DataType::kFloat32, 1.0f, {4}, Layout::kPlain, Storage::kInput, 0, 0},
                 {DataType::kFloat32, 1.0f, {4}, Layout::kPlain, Storage::kOutput, 0, 0}};
  spec.steps = {{"where", "Where", p, {0}, {1}}};
  spec.num_inputs = spec.num_outputs = 1;
  WeightCache cache;
  auto program = Program::Create(spec, cache);
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ((*program)->steps()[0].impl, "q8:cpp");
  auto ws = (*program)->NewWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  const std::vector<float> x = {10, 20, 30, 40};
  std::vector<float> out(4);
  const void* ins[] = {x.data()};
  void* outs[] = {out.data()};
  ASSERT_TRUE((*program)->Run(**ws, ins, outs).ok());
  EXPECT_EQ(out, (std::vector<float>{10, -2, 30, -4}));

  // A step whose constant does not broadcast is refused at creation.
  p.operands[2] = std::make_shared<core::Tensor>(Floats({3}, {1, 2, 3}));
  spec.steps = {{"where", "Where", p, {0}, {1}}};
  EXPECT_EQ(Program::Create(spec, cache).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace q8::kernels
