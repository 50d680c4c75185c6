// Top-k selection, softmax and the printed table.
#include "client/q8ctl/topk.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

namespace q8::client {
namespace {

std::vector<int64_t> Indices(const std::vector<ClassScore>& top) {
  std::vector<int64_t> out;
  for (const ClassScore& s : top) out.push_back(s.index);
  return out;
}

TEST(TopKTest, BestFirst) {
  const std::vector<float> row = {0.1f, 3.0f, -1.0f, 2.0f, 0.5f};
  EXPECT_EQ(Indices(TopK(row, 3)), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_FLOAT_EQ(TopK(row, 1)[0].score, 3.0f);
}

TEST(TopKTest, KLargerThanRowAndZero) {
  const std::vector<float> row = {1.0f, 2.0f};
  EXPECT_EQ(Indices(TopK(row, 5)), (std::vector<int64_t>{1, 0}));
  EXPECT_TRUE(TopK(row, 0).empty());
  EXPECT_TRUE(TopK(row, -3).empty());
  EXPECT_TRUE(TopK({}, 5).empty());
}

TEST(TopKTest, TiesGoToLowerIndex) {
  const std::vector<float> row = {1.0f, 5.0f, 5.0f, 1.0f, 5.0f};
  EXPECT_EQ(Indices(TopK(row, 4)), (std::vector<int64_t>{1, 2, 4, 0}));
}

TEST(TopKTest, NanRanksLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> row = {nan, -inf, 0.0f, nan};
  EXPECT_EQ(Indices(TopK(row, 4)), (std::vector<int64_t>{2, 1, 0, 3}));
}

TEST(TopKTest, ProbabilitiesAreSoftmaxOfWholeRow) {
  const std::vector<float> row = {1.0f, 2.0f, 3.0f};
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const std::vector<ClassScore> top = TopK(row, 1);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_NEAR(top[0].probability, std::exp(3.0) / z, 1e-6);
}

TEST(SoftmaxTest, SumsToOneAndIsStableForLargeValues) {
  const std::vector<float> row = {1000.0f, 1001.0f, 999.0f, -1000.0f};
  const std::vector<float> p = Softmax(row);
  EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-6);
  for (float v : p) EXPECT_FALSE(std::isnan(v));
  EXPECT_GT(p[1], p[0]);
  EXPECT_GT(p[0], p[2]);
}

TEST(SoftmaxTest, InfinitiesAndNans) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Softmax(std::vector<float>{inf, 1.0f, inf}), (std::vector<float>{0.5f, 0.0f, 0.5f}));
  EXPECT_EQ(Softmax(std::vector<float>{-inf, -inf}), (std::vector<float>{0.5f, 0.5f}));
  EXPECT_EQ(Softmax(std::vector<float>{nan, 0.0f}), (std::vector<float>{0.0f, 1.0f}));
  EXPECT_TRUE(std::isnan(Softmax(std::vector<float>{nan})[0]));
}

TEST(FormatTopKTest, TablePerRow) {
  const core::Tensor t = core::Tensor::FromFloats({2, 3}, std::vector<float>{0.0f, 0.0f, 0.0f, 1.0f, 3.0f, 2.0f});
  absl::StatusOr<std::string> text = FormatTopK(t.view(), 2);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "row 0: top-2 of 3 classes\n"
            "  rank     class         score    softmax\n"
            "     1         0             0   0.333333\n"
            "     2         1             0   0.333333\n"
            "row 1: top-2 of 3 classes\n"
            "  rank     class         score    softmax\n"
            "     1         1             3   0.665241\n"
            "     2         2             2   0.244728\n");
}

TEST(FormatTopKTest, Float64Scores) {
  core::Tensor t(core::DataType::kFloat64, {1, 2});
  t.span<double>()[0] = 0.25;
  t.span<double>()[1] = 0.75;
  absl::StatusOr<std::string> text = FormatTopK(t.view(), 5);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("top-2 of 2 classes"), std::string::npos);
  EXPECT_NE(text->find("         1          0.75"), std::string::npos) << *text;
}

TEST(FormatTopKTest, RejectsNonClassifierOutputs) {
  EXPECT_FALSE(IsClassScores(core::Tensor(core::DataType::kFloat32, {2, 3, 4}).view()));
  EXPECT_FALSE(IsClassScores(core::Tensor(core::DataType::kFloat32, {10}).view()));
  EXPECT_FALSE(IsClassScores(core::Tensor(core::DataType::kInt64, {2, 3}).view()));
  EXPECT_FALSE(IsClassScores(core::Tensor(core::DataType::kFloat32, {2, 0}).view()));
  EXPECT_TRUE(IsClassScores(core::Tensor(core::DataType::kFloat32, {0, 3}).view()));
  EXPECT_EQ(FormatTopK(core::Tensor(core::DataType::kInt32, {1, 3}).view(), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace q8::client
