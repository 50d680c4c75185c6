// Unit tests of the conformance harness: the case loader on real
// libonnx-testdata cases, the output comparison, and the expected-failures
// list's rules (an unlisted failure and a listed pass are both errors).
#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"
#include "tests/conformance/conformance_runner.h"
#include "tests/conformance/expected_failures.h"
#include "tests/testing/conformance_case.h"

namespace q8::testing {
namespace {

constexpr char kRoot[] = "/usr/share/libonnx-testdata/data";

core::Tensor Floats(std::vector<float> v) { return core::Tensor::FromFloats({static_cast<int64_t>(v.size())}, v); }

TEST(ConformanceCaseTest, LoadsInputsAndOutputsInGraphOrder) {
  // test_gemm_default_single_elem_vector_bias: A, B, C all graph inputs.
  auto c = LoadConformanceCase(kRoot, "node/test_gemm_default_single_elem_vector_bias");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->input_names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(c->output_names, (std::vector<std::string>{"y"}));
  ASSERT_EQ(c->data_sets.size(), 1u);
  ASSERT_EQ(c->data_sets[0].inputs.size(), 3u);
  EXPECT_EQ(c->data_sets[0].inputs[0]->dims(), (core::Dims{3, 7}));
  EXPECT_EQ(c->data_sets[0].inputs[2]->dims(), (core::Dims{1}));
  EXPECT_EQ(c->data_sets[0].outputs[0]->dims(), (core::Dims{3, 3}));
}

TEST(ConformanceCaseTest, SkipsInitializersWhenBinding) {
  // The pytorch-converted cases hold their weights as initializers that are also listed as graph inputs.
  auto c = LoadConformanceCase(kRoot, "pytorch-converted/test_Linear_no_bias");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->input_names.size(), 1u);
  EXPECT_EQ(c->data_sets[0].inputs.size(), 1u);
}

// The BF16 cases store bfloat16 bits as UINT16 tensors; the loader hands
// them over as BF16. Checked bit by bit: widening each bfloat16 (bits << 16)
// must give the case's expected FP32 output.
TEST(ConformanceCaseTest, Bfloat16StoredAsUint16IsReadAsBfloat16) {
  auto c = LoadConformanceCase(kRoot, "node/test_cast_BFLOAT16_to_FLOAT");
  ASSERT_TRUE(c.ok()) << c.status();
  const core::Tensor& in = *c->data_sets[0].inputs[0];
  const core::Tensor& want = *c->data_sets[0].outputs[0];
  ASSERT_EQ(in.dtype(), core::DataType::kBFloat16);
  ASSERT_EQ(in.num_elements(), want.num_elements());
  const auto* bits = static_cast<const uint16_t*>(in.data());
  for (int64_t i = 0; i < in.num_elements(); ++i) {
    const uint32_t wide = static_cast<uint32_t>(bits[i]) << 16;
    float f;
    std::memcpy(&f, &wide, sizeof(f));
    const float w = want.span<float>()[i];
    if (std::isnan(w)) {
      EXPECT_TRUE(std::isnan(f)) << i;
    } else {
      EXPECT_EQ(f, w) << i;
    }
  }
  auto out = LoadConformanceCase(kRoot, "node/test_cast_FLOAT_to_BFLOAT16");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->data_sets[0].outputs[0]->dtype(), core::DataType::kBFloat16);
  // A UINT16 tensor where the graph declares UINT16 stays UINT16.
  auto u16 = LoadConformanceCase(kRoot, "node/test_max_uint16");
  ASSERT_TRUE(u16.ok()) << u16.status();
  EXPECT_EQ(u16->data_sets[0].inputs[0]->dtype(), core::DataType::kUInt16);
}

TEST(ConformanceCaseTest, SequenceInputIsNamedAsSuch) {
  auto c = LoadConformanceCase(kRoot, "node/test_sequence_insert_at_back");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("is a sequence, not a tensor"), std::string::npos) << c.status();
}

TEST(ConformanceCaseTest, MissingCaseIsNotFound) {
  EXPECT_EQ(LoadConformanceCase(kRoot, "node/no_such_case").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ListConformanceCases(kRoot, {"no_such_suite"}).status().code(), absl::StatusCode::kNotFound);
}

TEST(ConformanceCaseTest, ListsEveryCaseOfTheFourSuites) {
  auto names = ListConformanceCases(kRoot, {"node", "pytorch-converted", "pytorch-operator", "simple"});
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->size(), 1072u);  // ONNX 1.12's backend test data
}

TEST(CompareTensorTest, ToleranceIsRelativePlusAbsolute) {
  const Tolerance tol{1e-3, 1e-5};
  EXPECT_TRUE(CompareTensor(Floats({1000.f, 0.f}), Floats({1000.9f, 9e-6f}), tol).ok());
  EXPECT_FALSE(CompareTensor(Floats({1000.f, 0.f}), Floats({1001.1f, 0.f}), tol).ok());
  const absl::Status s = CompareTensor(Floats({1.f, 0.f}), Floats({1.f, 2e-5f}), tol);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("1 of 2 values differ"), std::string::npos) << s;
}

TEST(CompareTensorTest, NanAndInfinityMustMatch) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(CompareTensor(Floats({nan, inf, -inf}), Floats({nan, inf, -inf}), {}).ok());
  EXPECT_FALSE(CompareTensor(Floats({nan}), Floats({0.f}), {}).ok());
  EXPECT_FALSE(CompareTensor(Floats({inf}), Floats({3e38f}), {}).ok());
}

TEST(CompareTensorTest, TypeShapeAndIntegersExact) {
  EXPECT_FALSE(CompareTensor(Floats({1.f, 2.f}), core::Tensor::FromFloats({1, 2}, {1.f, 2.f}), {}).ok());
  core::Tensor a(core::DataType::kInt64, {2}), b(core::DataType::kInt64, {2});
  a.span<int64_t>()[1] = 5;
  b.span<int64_t>()[1] = 5;
  EXPECT_TRUE(CompareTensor(a, b, {}).ok());
  b.span<int64_t>()[1] = 6;
  EXPECT_FALSE(CompareTensor(a, b, {}).ok());
  core::Tensor c(core::DataType::kInt32, {2});
  EXPECT_FALSE(CompareTensor(a, c, {}).ok());
}

TEST(RunConformanceCaseTest, PassesAKnownGoodCaseAndCatchesAWrongExpectation) {
  auto c = LoadConformanceCase(kRoot, "node/test_relu");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(RunConformanceCase(*c, {}).ok());
  // Corrupt the expected output: the comparison must notice.
  auto wrong = c->data_sets[0].outputs[0]->Clone();
  wrong.span<float>()[0] += 1.0f;
  c->data_sets[0].outputs[0] = std::make_shared<const core::Tensor>(std::move(wrong));
  const absl::Status s = RunConformanceCase(*c, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("wrong result: test_data_set_0 output 0"), std::string::npos) << s;
}

TEST(ExpectedFailuresTest, ParsesAndRejectsMalformedLines) {
  auto ok = ParseExpectedFailures("# comment\n\nnode/a  op X is not supported\nnode/b\treason two\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_EQ(ok->at("node/a"), "op X is not supported");
  EXPECT_FALSE(ParseExpectedFailures("node/a\n").ok());
  EXPECT_FALSE(ParseExpectedFailures("node/a r\nnode/a r\n").ok());
}

TEST(ExpectedFailuresTest, FormatRoundTripsAndGroupsByReasonShape) {
  ExpectedFailures f{{"node/a", "node 'x1' (Sub): op Sub is not supported"},
                     {"node/b", "node 'y' (Sub): op Sub is not supported"},
                     {"node/c", "graph input 'z' has shape [1,2]"}};
  const std::string text = FormatExpectedFailures(f);
  auto back = ParseExpectedFailures(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, f);
  EXPECT_EQ(ReasonGroup("node 'x1' (Sub): op Sub is not supported"),
            ReasonGroup("node 'y' (Sub): op Sub is not supported"));
  EXPECT_NE(text.find("# 2 x node '*' (Sub): op Sub is not supported"), std::string::npos) << text;
}

TEST(ExpectedFailuresTest, TheListOnlyShrinks) {
  const ExpectedFailures listed{{"node/listed_fails", "r"}, {"node/listed_passes", "r"}, {"node/gone", "r"}};
  const std::vector<CaseResult> results{{"node/listed_fails", false, "m"},
                                        {"node/listed_passes", true, ""},
                                        {"node/unlisted_fails", false, "new failure"},
                                        {"node/unlisted_passes", true, ""}};
  const Verdict all = Judge(results, listed, /*all_ran=*/true);
  EXPECT_FALSE(all.ok());
  EXPECT_EQ(all.total, 4);
  EXPECT_EQ(all.passed, 2);
  EXPECT_EQ(all.listed_failing, 1);
  EXPECT_EQ(all.unexpected_failures, (std::vector<std::string>{"node/unlisted_fails: new failure"}));
  EXPECT_EQ(all.unexpected_passes, (std::vector<std::string>{"node/listed_passes"}));
  EXPECT_EQ(all.stale, (std::vector<std::string>{"node/gone"}));
  // A filtered run cannot tell a missing case from one the filter excluded.
  EXPECT_TRUE(Judge({{"node/listed_fails", false, "m"}}, listed, false).ok());

  const ExpectedFailures next = Updated(listed, results);
  EXPECT_EQ(next,
            (ExpectedFailures{{"node/gone", "r"}, {"node/listed_fails", "m"}, {"node/unlisted_fails", "new failure"}}));
}

}  // namespace
}  // namespace q8::testing
