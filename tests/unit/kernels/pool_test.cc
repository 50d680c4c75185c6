// Pool kernel vs the reference: max / average (count_include_pad both ways),
// symmetric and asymmetric padding, dilation (pooling_v2), global average,
// plain and NHWC. fp32 tolerance |got - ref| <= 1e-4 * (1 + |ref|).
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {
namespace {

struct PoolCase {
  std::string name;
  core::Dims x;
  PoolParams p;
  Layout layout;
};

PoolParams Make(PoolParams::Kind kind, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> pb,
                std::vector<int64_t> pe, bool include_pad = false, std::vector<int64_t> d = {1, 1}) {
  PoolParams p;
  p.kind = kind;
  p.kernel = std::move(k);
  p.strides = std::move(s);
  p.dilations = std::move(d);
  p.pads_begin = std::move(pb);
  p.pads_end = std::move(pe);
  p.count_include_pad = include_pad;
  return p;
}

class PoolTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolTest, MatchesReference) {
  const PoolCase& c = GetParam();
  const RefTensor x = RandomTensor(c.x, 21);
  const RefTensor ref = Pool2d(x, c.p);
  SpecBuilder b;
  const int in = b.Input(c.x);
  const int out = b.Output(ref.dims);
  if (c.layout == Layout::kNhwc) {
    const int xn = b.Arena(c.x, Layout::kNhwc), yn = b.Arena(ref.dims, Layout::kNhwc);
    b.Step("Reorder", ReorderParams{}, {in}, {xn});
    b.Step("Pool", c.p, {xn}, {yn});
    b.Step("Reorder", ReorderParams{}, {yn}, {out});
  } else {
    b.Step("Pool", c.p, {in}, {out});
  }
  auto got = BuildAndRun(b.Build(), {x.data});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(AllClose(*got, ref.data));
}

using K = PoolParams::Kind;
INSTANTIATE_TEST_SUITE_P(
    Cases, PoolTest,
    ::testing::Values(
        PoolCase{"max_3x3_s2_p1_nhwc", {1, 16, 15, 15}, Make(K::kMax, {3, 3}, {2, 2}, {1, 1}, {1, 1}), Layout::kNhwc},
        PoolCase{"max_2x2_plain", {2, 3, 8, 8}, Make(K::kMax, {2, 2}, {2, 2}, {0, 0}, {0, 0}), Layout::kPlain},
        PoolCase{"avg_include_pad_plain",
                 {1, 8, 9, 9},
                 Make(K::kAverage, {3, 3}, {1, 1}, {1, 1}, {1, 1}, true),
                 Layout::kPlain},
        PoolCase{"avg_exclude_pad_plain",
                 {1, 8, 9, 9},
                 Make(K::kAverage, {3, 3}, {1, 1}, {1, 1}, {1, 1}, false),
                 Layout::kPlain},
        PoolCase{"avg_include_pad_asym_nhwc",
                 {2, 16, 10, 11},
                 Make(K::kAverage, {3, 3}, {2, 2}, {0, 1}, {1, 1}, true),
                 Layout::kNhwc},
        PoolCase{"avg_exclude_pad_asym_nhwc",
                 {2, 16, 10, 11},
                 Make(K::kAverage, {3, 3}, {2, 2}, {0, 1}, {1, 1}, false),
                 Layout::kNhwc},
        PoolCase{"global_avg_nhwc", {2, 32, 7, 7}, Make(K::kAverage, {7, 7}, {1, 1}, {0, 0}, {0, 0}), Layout::kNhwc},
        PoolCase{"max_dilated_plain",
                 {1, 4, 12, 12},
                 Make(K::kMax, {3, 3}, {1, 1}, {2, 2}, {2, 2}, false, {2, 2}),
                 Layout::kPlain}),
    [](const ::testing::TestParamInfo<PoolCase>& info) { return info.param.name; });

}  // namespace
}  // namespace q8::kernels::testing
