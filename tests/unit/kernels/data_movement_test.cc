// Concat, Reorder and Transpose kernels: exact copies, so the results must
// match the reference bit for bit (AllClose is used for uniform messages).
#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

TEST(ConcatTest, PlainAxes) {
  const RefTensor a = RandomTensor({2, 3, 4, 4}, 71), b = RandomTensor({2, 5, 4, 4}, 72),
                  c = RandomTensor({2, 1, 4, 4}, 73);
  SpecBuilder s;
  const int ia = s.Input(a.dims), ib = s.Input(b.dims), ic = s.Input(c.dims);
  const RefTensor ref = Concat({a, b, c}, 1);
  s.Step("Concat", ConcatParams{1}, {ia, ib, ic}, {s.Output(ref.dims)});
  auto got = BuildAndRun(s.Build(), {a.data, b.data, c.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref.data));

  const RefTensor d = RandomTensor({3, 6}, 74), e = RandomTensor({1, 6}, 75);
  SpecBuilder s0;
  const int id = s0.Input(d.dims), ie = s0.Input(e.dims);
  const RefTensor ref0 = Concat({d, e}, 0);
  s0.Step("Concat", ConcatParams{0}, {id, ie}, {s0.Output(ref0.dims)});
  got = BuildAndRun(s0.Build(), {d.data, e.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref0.data));
}

TEST(ConcatTest, NhwcChannels) {
  const RefTensor a = RandomTensor({1, 16, 5, 5}, 76), b = RandomTensor({1, 8, 5, 5}, 77);
  const RefTensor ref = Concat({a, b}, 1);
  SpecBuilder s;
  const int ia = s.Input(a.dims), ib = s.Input(b.dims), out = s.Output(ref.dims);
  const int an = s.Arena(a.dims, Layout::kNhwc), bn = s.Arena(b.dims, Layout::kNhwc);
  const int yn = s.Arena(ref.dims, Layout::kNhwc);
  s.Step("Reorder", ReorderParams{}, {ia}, {an});
  s.Step("Reorder", ReorderParams{}, {ib}, {bn});
  s.Step("Concat", ConcatParams{1}, {an, bn}, {yn});
  s.Step("Reorder", ReorderParams{}, {yn}, {out});
  auto got = BuildAndRun(s.Build(), {a.data, b.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref.data));
}

// Plain -> NHWC really stores N,H,W,C: read the NHWC bytes back through a
// plain [N,H,W,C] alias of the same arena offset.
TEST(ReorderTest, PlainToNhwcBytes) {
  const RefTensor x = RandomTensor({2, 5, 3, 4}, 81);
  SpecBuilder s;
  const int in = s.Input(x.dims);
  const int nhwc = s.Arena(x.dims, Layout::kNhwc);
  const int as_plain = s.Alias(nhwc, {2, 3, 4, 5});
  s.Step("Reorder", ReorderParams{}, {in}, {nhwc});
  s.Step("Reorder", ReorderParams{}, {as_plain}, {s.Output({2, 3, 4, 5})});
  auto got = BuildAndRun(s.Build(), {x.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, Transpose(x, {0, 2, 3, 1}).data));
}

TEST(ReorderTest, NhwcRoundTripAndCopy) {
  const RefTensor x = RandomTensor({1, 7, 6, 5}, 82);
  SpecBuilder s;
  const int in = s.Input(x.dims), nhwc = s.Arena(x.dims, Layout::kNhwc), plain = s.Arena(x.dims);
  s.Step("Reorder", ReorderParams{}, {in}, {nhwc});
  s.Step("Reorder", ReorderParams{}, {nhwc}, {plain});
  s.Step("Reorder", ReorderParams{}, {plain}, {s.Output(x.dims)});  // plain copy
  auto got = BuildAndRun(s.Build(), {x.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, x.data));
}

TEST(TransposeTest, Permutations) {
  struct Case {
    core::Dims dims;
    std::vector<int64_t> perm;
  };
  for (const Case& c : {Case{{3, 4}, {1, 0}}, Case{{2, 3, 4}, {2, 0, 1}}, Case{{2, 3, 4, 5}, {0, 2, 3, 1}},
                        Case{{2, 3, 4, 5}, {3, 1, 0, 2}}, Case{{2, 3, 4, 5, 2}, {4, 3, 2, 1, 0}}}) {
    const RefTensor x = RandomTensor(c.dims, 91);
    const RefTensor ref = Transpose(x, c.perm);
    SpecBuilder s;
    s.Step("Transpose", TransposeParams{c.perm}, {s.Input(x.dims)}, {s.Output(ref.dims)});
    auto got = BuildAndRun(s.Build(), {x.data});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(AllClose(*got, ref.data)) << core::DimsToString(c.perm);
  }
}

// Transpose of an NHWC value: the permuted view is built from its real strides.
TEST(TransposeTest, FromNhwcInput) {
  const RefTensor x = RandomTensor({2, 3, 4, 5}, 92);
  const std::vector<int64_t> perm{0, 3, 1, 2};
  const RefTensor ref = Transpose(x, perm);
  SpecBuilder s;
  const int in = s.Input(x.dims), nhwc = s.Arena(x.dims, Layout::kNhwc);
  s.Step("Reorder", ReorderParams{}, {in}, {nhwc});
  s.Step("Transpose", TransposeParams{perm}, {nhwc}, {s.Output(ref.dims)});
  auto got = BuildAndRun(s.Build(), {x.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref.data));
}

}  // namespace
}  // namespace q8::kernels::testing
