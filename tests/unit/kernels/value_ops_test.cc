// kernels/value_ops: each op against a plain C++ loop written here, and the
// per-request checks: runtime indices out of range, fractional, NaN or huge
// give INVALID_ARGUMENT before anything is written; a Gather step in a real
// Program reports them as INVALID_ARGUMENT from Run and keeps working.
#include "kernels/value_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/data_ops.h"
#include "kernels/program.h"

namespace q8::kernels {
namespace {

using core::DataType;

core::Tensor F(core::Dims dims, std::vector<float> v) { return core::Tensor::FromFloats(std::move(dims), v); }

absl::Status RunOp(ValueOp op, std::vector<core::TensorView> in, core::Tensor& out) {
  return RunDataOp(DataOp{std::move(op)}, in, out.mutable_view());
}

std::vector<float> Vals(const core::Tensor& t) { return {t.span<float>().begin(), t.span<float>().end()}; }

TEST(ValueOpsTest, GatherMatchesALoopOnEveryAxisAndNegativeIndices) {
  core::Tensor x(DataType::kFloat32, {3, 4, 2});
  for (int i = 0; i < 24; ++i) x.span<float>()[i] = static_cast<float>(i * 7 % 11);
  for (int axis = 0; axis < 3; ++axis) {
    SCOPED_TRACE(axis);
    const int64_t n = x.dims()[axis];
    const core::Tensor idx = F({2}, {static_cast<float>(n - 1), -1.0f * static_cast<float>(n)});
    core::Dims od = x.dims();
    od.erase(od.begin() + axis);
    od.insert(od.begin() + axis, 2);
    core::Tensor y(DataType::kFloat32, od);
    ASSERT_TRUE(RunOp(GatherOp{axis}, {x.view(), idx.view()}, y).ok());
    const int64_t src[2] = {n - 1, 0};
    for (int64_t i = 0; i < y.num_elements(); ++i) {
      int64_t c[3] = {i / (od[1] * od[2]), i / od[2] % od[1], i % od[2]};
      c[axis] = src[c[axis]];
      EXPECT_EQ(y.span<float>()[i], x.span<float>()[(c[0] * 4 + c[1]) * 2 + c[2]]) << i;
    }
  }
}

TEST(ValueOpsTest, HostileGatherIndicesAreRefusedBeforeAnyWrite) {
  const core::Tensor x = F({4}, {1, 2, 3, 4});
  for (float bad : {4.0f, -5.0f, 1.5f, std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f,
                    std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(bad);
    const core::Tensor idx = F({2}, {0, bad});
    core::Tensor y = F({2}, {-7, -7});
    absl::Status s = RunOp(GatherOp{0}, {x.view(), idx.view()}, y);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("out of range [-4, 4)"), std::string::npos) << s;
    EXPECT_EQ(Vals(y), (std::vector<float>{-7, -7}));  // nothing written
  }
  // Constant INT64 indices read the same way.
  core::Tensor idx(DataType::kInt64, {1});
  idx.span<int64_t>()[0] = int64_t{1} << 62;
  core::Tensor y(DataType::kFloat32, {1});
  EXPECT_EQ(RunOp(GatherOp{0}, {x.view(), idx.view()}, y).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValueOpsTest, GatherElementsAndScatterElementsMatchLoops) {
  const core::Tensor data = F({2, 3}, {1, 2, 3, 4, 5, 6});
  const core::Tensor idx = F({2, 2}, {2, -3, 1, 0});
  core::Tensor g(DataType::kFloat32, {2, 2});
  ASSERT_TRUE(RunOp(GatherElementsOp{1}, {data.view(), idx.view()}, g).ok());
  EXPECT_EQ(Vals(g), (std::vector<float>{3, 1, 5, 4}));  // out[i][j] = data[i][idx[i][j]]
  const core::Tensor upd = F({2, 2}, {10, 20, 30, 40});
  core::Tensor s(DataType::kFloat32, {2, 3});
  ASSERT_TRUE(
      RunOp(ScatterElementsOp{1, ScatterElementsOp::Reduction::kAdd}, {data.view(), idx.view(), upd.view()}, s).ok());
  EXPECT_EQ(Vals(s), (std::vector<float>{21, 2, 13, 44, 35, 6}));
  const core::Tensor bad = F({2, 2}, {0, 3, 0, 0});
  EXPECT_EQ(RunOp(GatherElementsOp{1}, {data.view(), bad.view()}, g).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunOp(ScatterElementsOp{1}, {data.view(), bad.view(), upd.view()}, s).code(),
            absl::StatusCode::kInvalidArgument);
  // Indices larger than the data outside the axis are refused at validation.
  const core::Tensor tall = F({3, 1}, {0, 0, 0});
  core::Tensor g3(DataType::kFloat32, {3, 1});
  EXPECT_EQ(RunOp(GatherElementsOp{1}, {data.view(), tall.view()}, g3).code(), absl::StatusCode::kInvalidArgument);
}

// GatherND against a loop over every (batch, tuple, inner) position, with
// batch_dims 0 and 1, negative coordinates and a non-float element type.
TEST(ValueOpsTest, GatherNDMatchesALoop) {
  core::Tensor data(DataType::kFloat32, {2, 3, 4});
  for (int i = 0; i < 24; ++i) data.span<float>()[i] = static_cast<float>(i * 5 % 13);
  // batch_dims 0, k 2: indices [2, 2] pick rows data[i0, i1, :].
  const core::Tensor idx = F({2, 2}, {1, -1, 0, 1});
  core::Tensor y(DataType::kFloat32, {2, 4});
  ASSERT_TRUE(RunOp(GatherNDOp{0}, {data.view(), idx.view()}, y).ok());
  const int rows[2][2] = {{1, 2}, {0, 1}};
  for (int t = 0; t < 2; ++t) {
    for (int c = 0; c < 4; ++c) {
      EXPECT_EQ(y.span<float>()[t * 4 + c], data.span<float>()[(rows[t][0] * 3 + rows[t][1]) * 4 + c]) << t << c;
    }
  }
  // batch_dims 1, k 1: indices [2, 3, 1]: out[b, j, :] = data[b, idx[b, j], :].
  const core::Tensor bidx = F({2, 3, 1}, {2, 0, 0, -2, 1, 2});
  core::Tensor by(DataType::kFloat32, {2, 3, 4});
  ASSERT_TRUE(RunOp(GatherNDOp{1}, {data.view(), bidx.view()}, by).ok());
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < 3; ++j) {
      int r = static_cast<int>(bidx.span<float>()[b * 3 + j]);
      if (r < 0) r += 3;
      for (int c = 0; c < 4; ++c) {
        EXPECT_EQ(by.span<float>()[(b * 3 + j) * 4 + c], data.span<float>()[(b * 3 + r) * 4 + c]) << b << j << c;
      }
    }
  }
  // INT64 data (constant folding) with a full-rank tuple: single elements.
  core::Tensor ints(DataType::kInt64, {2, 2});
  for (int i = 0; i < 4; ++i) ints.span<int64_t>()[i] = 100 + i;
  core::Tensor one(DataType::kInt64, {1});
  ASSERT_TRUE(RunOp(GatherNDOp{0}, {ints.view(), F({1, 2}, {1, 0}).view()}, one).ok());
  EXPECT_EQ(one.span<int64_t>()[0], 102);
}

// ScatterND against a loop: slices and single elements, each reduction, and
// updates applied in order (the last duplicate wins under none).
TEST(ValueOpsTest, ScatterNDMatchesALoopForEachReduction) {
  const core::Tensor data = F({3, 2}, {1, 2, 3, 4, 5, 6});
  const core::Tensor rows = F({2, 1}, {2, -3});  // k 1: whole rows
  const core::Tensor upd = F({2, 2}, {10, 20, 30, 40});
  using R = ScatterReduction;
  const std::vector<std::pair<R, std::vector<float>>> cases = {
      {R::kNone, {30, 40, 3, 4, 10, 20}}, {R::kAdd, {31, 42, 3, 4, 15, 26}}, {R::kMul, {30, 80, 3, 4, 50, 120}},
      {R::kMax, {30, 40, 3, 4, 10, 20}},  {R::kMin, {1, 2, 3, 4, 5, 6}},
  };
  for (const auto& [r, want] : cases) {
    SCOPED_TRACE(static_cast<int>(r));
    core::Tensor y(DataType::kFloat32, {3, 2});
    ASSERT_TRUE(RunOp(ScatterNDOp{r}, {data.view(), rows.view(), upd.view()}, y).ok());
    EXPECT_EQ(Vals(y), want);
  }
  // k 2 (single elements), a duplicate index: the later update wins.
  const core::Tensor cells = F({3, 2}, {0, 1, 2, 0, 0, 1});
  core::Tensor y(DataType::kFloat32, {3, 2});
  ASSERT_TRUE(RunOp(ScatterNDOp{}, {data.view(), cells.view(), F({3}, {7, 8, 9}).view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{1, 9, 3, 4, 8, 6}));
  // INT64 data and updates copy under none (what constant folding reads).
  core::Tensor ints(DataType::kInt64, {3}), iu(DataType::kInt64, {1}), iy(DataType::kInt64, {3});
  for (int i = 0; i < 3; ++i) ints.span<int64_t>()[i] = i;
  iu.span<int64_t>()[0] = int64_t{1} << 40;
  ASSERT_TRUE(RunOp(ScatterNDOp{}, {ints.view(), F({1, 1}, {1}).view(), iu.view()}, iy).ok());
  EXPECT_EQ(iy.span<int64_t>()[1], int64_t{1} << 40);
  EXPECT_EQ(RunOp(ScatterNDOp{R::kAdd}, {ints.view(), F({1, 1}, {1}).view(), iu.view()}, iy).code(),
            absl::StatusCode::kInvalidArgument);
}

// Hostile ND indices: each coordinate is checked against its own axis before
// anything is written; wrong dims are refused at validation.
TEST(ValueOpsTest, HostileNDIndicesAreRefusedBeforeAnyWrite) {
  const core::Tensor data = F({2, 3}, {1, 2, 3, 4, 5, 6});
  for (float bad : {2.0f, -3.0f, 0.5f, std::numeric_limits<float>::quiet_NaN(), 1e30f}) {
    SCOPED_TRACE(bad);
    const core::Tensor idx = F({2, 2}, {0, 2, bad, 0});  // (0, 2) is fine; bad is checked against axis 0 (size 2)
    core::Tensor g = F({2}, {-7, -7});
    absl::Status s = RunOp(GatherNDOp{0}, {data.view(), idx.view()}, g);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("out of range [-2, 2)"), std::string::npos) << s;
    EXPECT_EQ(Vals(g), (std::vector<float>{-7, -7}));
    core::Tensor sc = F({2, 3}, {-7, -7, -7, -7, -7, -7});
    s = RunOp(ScatterNDOp{}, {data.view(), idx.view(), F({2}, {0, 0}).view()}, sc);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(Vals(sc), (std::vector<float>(6, -7)));
  }
  core::Tensor g(DataType::kFloat32, {1});
  // A tuple longer than the data's rank, batch dims that differ, updates of the wrong dims.
  EXPECT_EQ(RunOp(GatherNDOp{0}, {data.view(), F({1, 3}, {0, 0, 0}).view()}, g).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunOp(GatherNDOp{1}, {data.view(), F({3, 1}, {0, 0, 0}).view()}, g).code(),
            absl::StatusCode::kInvalidArgument);
  core::Tensor sc(DataType::kFloat32, {2, 3});
  EXPECT_EQ(RunOp(ScatterNDOp{}, {data.view(), F({1, 1}, {0}).view(), F({2}, {0, 0}).view()}, sc).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValueOpsTest, ArgMaxArgMinTiesAndSelectLast) {
  const core::Tensor x = F({2, 4}, {1, 5, 5, 0, -1, -3, -3, 2});
  core::Tensor y(DataType::kFloat32, {2, 1});
  ASSERT_TRUE(RunOp(ArgReduceOp{1, true, false, true}, {x.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{1, 3}));
  ASSERT_TRUE(RunOp(ArgReduceOp{1, true, true, true}, {x.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{2, 3}));
  core::Tensor z(DataType::kFloat32, {2});
  ASSERT_TRUE(RunOp(ArgReduceOp{1, false, true, false}, {x.view()}, z).ok());
  EXPECT_EQ(Vals(z), (std::vector<float>{3, 2}));
}

TEST(ValueOpsTest, CumSumTriluHardmaxModClip) {
  const core::Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  core::Tensor y(DataType::kFloat32, {2, 3});
  const core::Tensor axis1 = F({}, {1}), axis9 = F({}, {9});
  ASSERT_TRUE(RunOp(CumSumOp{true, true}, {x.view(), axis1.view()}, y).ok());  // exclusive, reverse
  EXPECT_EQ(Vals(y), (std::vector<float>{5, 3, 0, 11, 6, 0}));
  EXPECT_EQ(RunOp(CumSumOp{}, {x.view(), axis9.view()}, y).code(), absl::StatusCode::kInvalidArgument);

  const core::Tensor k = F({}, {-1});
  ASSERT_TRUE(RunOp(TriluOp{true}, {x.view(), k.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  ASSERT_TRUE(RunOp(TriluOp{false}, {x.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{1, 0, 0, 4, 5, 0}));

  const core::Tensor h = F({2, 3}, {1, 7, 7, 0, -1, -2});
  ASSERT_TRUE(RunOp(HardmaxOp{1}, {h.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{0, 1, 0, 1, 0, 0}));

  const core::Tensor a = F({4}, {7, -7, 7, -7}), b = F({4}, {3, 3, -3, -3});
  core::Tensor m(DataType::kFloat32, {4});
  ASSERT_TRUE(RunOp(ModOp{false}, {a.view(), b.view()}, m).ok());
  EXPECT_EQ(Vals(m), (std::vector<float>{1, 2, -2, -1}));  // sign of the divisor (Python %)
  ASSERT_TRUE(RunOp(ModOp{true}, {a.view(), b.view()}, m).ok());
  EXPECT_EQ(Vals(m), (std::vector<float>{1, -1, 1, -1}));  // sign of the dividend (C fmod)

  const core::Tensor lo = F({}, {2}), hi = F({}, {4});
  ASSERT_TRUE(RunOp(ClipOp{true, true}, {x.view(), lo.view(), hi.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{2, 2, 3, 4, 4, 4}));
}

TEST(ValueOpsTest, RoundTripCastTruncatesSaturatesAndRounds) {
  const core::Tensor x = F({5}, {-1.7f, 2.9f, 300.0f, std::numeric_limits<float>::quiet_NaN(), 0.1f});
  core::Tensor y(DataType::kFloat32, {5});
  ASSERT_TRUE(RunOp(RoundTripCastOp{DataType::kUInt8}, {x.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{0, 2, 255, 0, 0}));
  ASSERT_TRUE(RunOp(RoundTripCastOp{DataType::kInt8}, {x.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{-1, 2, 127, 0, 0}));
  ASSERT_TRUE(RunOp(RoundTripCastOp{DataType::kBool}, {x.view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{1, 1, 1, 1, 1}));  // NaN != 0
  const core::Tensor third = F({1}, {1.0f / 3.0f});
  core::Tensor h(DataType::kFloat32, {1});
  ASSERT_TRUE(RunOp(RoundTripCastOp{DataType::kFloat16}, {third.view()}, h).ok());
  EXPECT_EQ(h.span<float>()[0], 0.333251953125f);  // nearest FP16
}

// Reference NLL / softmax cross-entropy, written out.
TEST(ValueOpsTest, LossesMatchALoopWithWeightsAndIgnoreIndex) {
  const core::Tensor s = F({3, 2}, {0.5f, -1.0f, 2.0f, 0.0f, -0.3f, 0.7f});
  const core::Tensor t = F({3}, {1, 0, -1});  // -1 ignored
  const core::Tensor w = F({2}, {0.25f, 2.0f});
  core::Tensor y(DataType::kFloat32, {});
  LossOp op;
  op.softmax = true;
  op.has_weight = true;
  op.has_ignore_index = true;
  op.ignore_index = -1;
  ASSERT_TRUE(RunOp(op, {s.view(), t.view(), w.view()}, y).ok());
  auto lsm = [&](int b, int k) {
    const float* r = s.span<float>().data() + b * 2;
    const double mx = std::max(r[0], r[1]);
    return r[k] - mx - std::log(std::exp(r[0] - mx) + std::exp(r[1] - mx));
  };
  const double want = (-lsm(0, 1) * 2.0 - lsm(1, 0) * 0.25) / (2.0 + 0.25);
  EXPECT_NEAR(y.span<float>()[0], want, 1e-6);
  const core::Tensor bad = F({3}, {1, 2, 0});
  EXPECT_EQ(RunOp(op, {s.view(), bad.view(), w.view()}, y).code(), absl::StatusCode::kInvalidArgument);
  op.softmax = false;
  op.reduction = LossOp::Reduction::kNone;
  core::Tensor each(DataType::kFloat32, {3});
  ASSERT_TRUE(RunOp(op, {s.view(), t.view(), w.view()}, each).ok());
  EXPECT_EQ(Vals(each), (std::vector<float>{2.0f, -0.5f, 0.0f}));  // -x[t] * w[t]
}

TEST(ValueOpsTest, LayerNormAndStatisticsMatchALoop) {
  const core::Tensor x = F({2, 3}, {1, 2, 6, -1, 0, 1});
  const core::Tensor scale = F({3}, {1, 2, 3}), bias = F({1}, {0.5f});
  core::Tensor y(DataType::kFloat32, {2, 3}), mean(DataType::kFloat32, {2, 1}), inv(DataType::kFloat32, {2, 1});
  ASSERT_TRUE(RunOp(LayerNormOp{1, 0.0f, true}, {x.view(), scale.view(), bias.view()}, y).ok());
  ASSERT_TRUE(RunOp(LayerNormStatsOp{1, 0.0f, false}, {x.view()}, mean).ok());
  ASSERT_TRUE(RunOp(LayerNormStatsOp{1, 0.0f, true}, {x.view()}, inv).ok());
  for (int r = 0; r < 2; ++r) {
    const float* row = x.span<float>().data() + r * 3;
    const double m = (row[0] + row[1] + row[2]) / 3.0;
    double v = 0;
    for (int i = 0; i < 3; ++i) v += (row[i] - m) * (row[i] - m);
    const double is = 1.0 / std::sqrt(v / 3.0);
    EXPECT_NEAR(mean.span<float>()[r], m, 1e-6);
    EXPECT_NEAR(inv.span<float>()[r], is, 1e-5);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(y.span<float>()[r * 3 + i], (row[i] - m) * is * (i + 1) + 0.5, 1e-5);
  }
}

TEST(ValueOpsTest, ReduceLogSumExpIsStableForLargeValues) {
  const core::Tensor x = F({2, 2}, {1000, 1000, -1, 2});
  core::Tensor y(DataType::kFloat32, {2});
  ASSERT_TRUE(RunOp(ReduceLogSumExpOp{{1}, false}, {x.view()}, y).ok());
  EXPECT_NEAR(y.span<float>()[0], 1000 + std::log(2.0), 1e-3);
  EXPECT_NEAR(y.span<float>()[1], std::log(std::exp(-1.0) + std::exp(2.0)), 1e-5);
}

TEST(ValueOpsTest, GemmTransposesAndBroadcastsCLikeALoop) {
  const core::Tensor a = F({3, 2}, {1, 2, 3, 4, 5, 6});                      // transA: op(A) is [2, 3]
  const core::Tensor b = F({4, 3}, {1, 0, -1, 2, 1, 0, 0, 0, 3, -2, 1, 1});  // transB: op(B) is [3, 4]
  const core::Tensor c = F({2, 1}, {10, 20});                                // broadcast along N
  core::Tensor y(DataType::kFloat32, {2, 4});
  ASSERT_TRUE(RunOp(GemmOp{0.5f, 2.0f, true, true, true}, {a.view(), b.view(), c.view()}, y).ok());
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      float acc = 0;
      for (int t = 0; t < 3; ++t) acc += a.span<float>()[t * 2 + i] * b.span<float>()[j * 3 + t];
      EXPECT_FLOAT_EQ(y.span<float>()[i * 4 + j], 0.5f * acc + 2.0f * c.span<float>()[i]) << i << "," << j;
    }
  }
  const core::Tensor wrong = F({3}, {1, 2, 3});  // does not broadcast to [2, 4]
  EXPECT_EQ(RunOp(GemmOp{1, 1, true, true, true}, {a.view(), b.view(), wrong.view()}, y).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValueOpsTest, DropoutGateRefusesTrainingModePerRequest) {
  const core::Tensor x = F({2}, {1, 2});
  core::Tensor y(DataType::kFloat32, {2});
  ASSERT_TRUE(RunOp(DropoutGateOp{}, {x.view(), F({}, {0}).view()}, y).ok());
  EXPECT_EQ(Vals(y), (std::vector<float>{1, 2}));
  EXPECT_EQ(RunOp(DropoutGateOp{}, {x.view(), F({}, {1}).view()}, y).code(), absl::StatusCode::kInvalidArgument);
}

// A Gather step with a constant table and runtime FP32 ids inside a real
// Program: a bad id fails that Run with INVALID_ARGUMENT; the next Run works.
TEST(ValueOpsTest, RuntimeGatherStepInAProgram) {
  auto table = std::make_shared<core::Tensor>(F({3, 2}, {0, 1, 10, 11, 20, 21}));
  ProgramSpec spec;
  spec.num_inputs = 1;
  spec.num_outputs = 1;
  ValueSpec ids_spec, out_spec;
  ids_spec.dims = {2};
  ids_spec.storage = Storage::kInput;
  out_spec.dims = {2, 2};
  out_spec.storage = Storage::kOutput;
  spec.values = {ids_spec, out_spec};
  DataOpParams p;
  p.op = DataOp{ValueOp{GatherOp{0}}};
  p.operands = {table, nullptr};
  spec.steps = {StepSpec{"embed", "Gather", p, {0}, {1}}};
  WeightCache weights;
  auto program = Program::Create(spec, weights);
  ASSERT_TRUE(program.ok()) << program.status();
  auto ws = (*program)->NewWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  float ids[2] = {2, -3}, out[4] = {};
  const void* in_ptr[1] = {ids};
  void* out_ptr[1] = {out};
  ASSERT_TRUE((*program)->Run(**ws, in_ptr, out_ptr).ok());
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{20, 21, 0, 1}));
  ids[1] = 3;
  absl::Status bad = (*program)->Run(**ws, in_ptr, out_ptr);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_NE(bad.message().find("step 'embed' (Gather): Gather: index 3"), std::string::npos) << bad;
  ids[1] = 0;
  ASSERT_TRUE((*program)->Run(**ws, in_ptr, out_ptr).ok());
  EXPECT_EQ(out[2], 0.0f);
}

}  // namespace
}  // namespace q8::kernels
