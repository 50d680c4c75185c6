// Sequence-length buckets (engine/buckets/): on the real text encoder
// (tools/train_text_encoder.py) a request padded to its bucket gives the
// logits of the same request at its own length, max |diff| <= 1e-4 (fp32;
// the masked positions add exact zeros, the rest is summation order; observed
// ~1e-6), and the logits PyTorch saved at export time within the same
// tolerance. Also: outputs carrying the sequence axis are sliced back, a
// model that does not mask is refused, and hostile shapes get precise errors.
#include "engine/buckets/sequence_buckets.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/buckets/sequence_bucketed_model.h"
#include "engine/compiler.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using Mode = SequenceBucketOptions::Mode;
using testing::DataPath;
using testing::LoadNpy;
using testing::MaxAbsDiff;
using testing::ReadFile;

constexpr float kTolerance = 1e-4f;

std::shared_ptr<const CompiledModel> CompileOrDie(const std::string& bytes) {
  auto model = Compile(bytes);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

std::shared_ptr<const CompiledModel> TextEncoder() { return CompileOrDie(ReadFile(DataPath("text_encoder.onnx"))); }

const SequenceBucketedModel* AsBucketed(const std::shared_ptr<const CompiledModel>& model) {
  return dynamic_cast<const SequenceBucketedModel*>(model.get());
}

// Row `r` of [N, S] int64 ids and mask, trimmed to `length` tokens.
std::vector<core::TensorView> Row(const core::Tensor& ids, const core::Tensor& mask, int64_t r, int64_t length) {
  const int64_t s = ids.dims()[1];
  return {core::TensorView{core::DataType::kInt64, {1, length}, ids.span<int64_t>().data() + r * s},
          core::TensorView{core::DataType::kInt64, {1, length}, mask.span<int64_t>().data() + r * s}};
}

int64_t TrueLength(const core::Tensor& mask, int64_t r) {
  const int64_t s = mask.dims()[1];
  int64_t n = 0;
  for (int64_t j = 0; j < s; ++j) n += mask.span<int64_t>()[r * s + j];
  return n;
}

TEST(SequenceBuckets, AutoAppliesToTheTextEncoderWithTheBucketsItsPositionTableTakes) {
  std::string why;
  auto model = ApplySequenceBuckets(TextEncoder(), nullptr, {}, &why);
  ASSERT_TRUE(model.ok()) << model.status();
  const SequenceBucketedModel* bucketed = AsBucketed(*model);
  ASSERT_NE(bucketed, nullptr) << why;
  // Defaults beyond the model's 64 position rows fail shape inference: dropped.
  EXPECT_EQ(bucketed->plan().buckets, (std::vector<int64_t>{8, 16, 24, 32, 48, 64}));
  EXPECT_EQ(bucketed->plan().padded.size(), 2u);
  EXPECT_EQ(bucketed->inputs()[bucketed->plan().padded.front().input].name, "attention_mask");
  EXPECT_EQ(bucketed->plan().output_axes, (std::vector<int64_t>{-1}));  // logits [batch, 2]: nothing to slice
  EXPECT_TRUE(absl::StrContains(why, "8,16,24,32,48,64")) << why;
  EXPECT_EQ(bucketed->BucketFor(9), 16);
  EXPECT_EQ(bucketed->BucketFor(24), 24);
  EXPECT_EQ(bucketed->BucketFor(65), 65);  // auto: longer requests run at their own length
}

TEST(SequenceBuckets, PaddedLogitsEqualUnpaddedOnTheTestSet) {
  const core::Tensor ids = LoadNpy(DataPath("text_test_ids.npy"));
  const core::Tensor mask = LoadNpy(DataPath("text_test_mask.npy"));
  const core::Tensor golden = LoadNpy(DataPath("text_encoder_golden.npy"));  // PyTorch, padded to 24
  auto plain = TextEncoder();
  auto model = ApplySequenceBuckets(TextEncoder(), nullptr, {});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_NE(AsBucketed(*model), nullptr);
  const int64_t builds_before = (*model)->plan_builds();
  const int64_t rows = 200;
  float worst = 0, worst_golden = 0;
  std::vector<bool> lengths(65, false);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t length = TrueLength(mask, r);
    lengths[length] = true;
    const std::vector<core::TensorView> in = Row(ids, mask, r, length);
    auto a = plain->Run(in);
    auto b = (*model)->Run(in);
    ASSERT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.status() : a.status());
    ASSERT_EQ((*b)[0].dims(), (core::Dims{1, 2}));
    worst = std::max(worst, MaxAbsDiff((*a)[0].span<float>(), (*b)[0].span<float>()));
    worst_golden = std::max(
        worst_golden, MaxAbsDiff(golden.span<float>().subspan(static_cast<size_t>(r) * 2, 2), (*b)[0].span<float>()));
  }
  EXPECT_LE(worst, kTolerance);
  EXPECT_LE(worst_golden, kTolerance);
  int distinct = 0;
  for (bool seen : lengths) distinct += seen;
  EXPECT_GE(distinct, 10);  // the test set's lengths 9..24: one plan each without buckets
  // Lengths 9..24 fall into buckets 16 and 24: at most those two plans (batch 1).
  EXPECT_LE((*model)->plan_builds() - builds_before, 2);
  EXPECT_GE(plain->plan_builds(), distinct);
}

TEST(SequenceBuckets, BatchedRequestPaddedAlongTheSequenceAxisOfEveryRow) {
  const core::Tensor ids = LoadNpy(DataPath("text_test_ids.npy"));
  const core::Tensor mask = LoadNpy(DataPath("text_test_mask.npy"));
  auto plain = TextEncoder();
  auto model = ApplySequenceBuckets(TextEncoder(), nullptr, {});
  ASSERT_TRUE(model.ok()) << model.status();
  // 8 rows cut to 20 columns: a [8, 20] request (shorter rows already end in
  // mask 0) padded to [8, 24]; the copy must pad each row, not the tail.
  const int64_t rows = 8, length = 20, s = ids.dims()[1];
  core::Tensor ids20(core::DataType::kInt64, {rows, length}), mask20(core::DataType::kInt64, {rows, length});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < length; ++j) {
      ids20.span<int64_t>()[r * length + j] = ids.span<int64_t>()[r * s + j];
      mask20.span<int64_t>()[r * length + j] = mask.span<int64_t>()[r * s + j];
    }
  }
  auto a = plain->Run({ids20.view(), mask20.view()});
  auto b = (*model)->Run({ids20.view(), mask20.view()});
  ASSERT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.status() : a.status());
  EXPECT_LE(MaxAbsDiff((*a)[0].span<float>(), (*b)[0].span<float>()), kTolerance);
}

TEST(SequenceBuckets, HostileShapesGetPreciseErrors) {
  SequenceBucketOptions on;
  on.mode = Mode::kOn;
  on.buckets = {8, 16};
  auto model = ApplySequenceBuckets(TextEncoder(), nullptr, on);
  ASSERT_TRUE(model.ok()) << model.status();
  core::Tensor ids(core::DataType::kInt64, {1, 9}), mask7(core::DataType::kInt64, {1, 7});
  auto mismatched = (*model)->Run({ids.view(), mask7.view()});
  ASSERT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(mismatched.status().message(), "'input_ids' has sequence length 9"))
      << mismatched.status();
  EXPECT_TRUE(absl::StrContains(mismatched.status().message(), "'attention_mask' has 7")) << mismatched.status();

  core::Tensor ids20(core::DataType::kInt64, {1, 20}), mask20(core::DataType::kInt64, {1, 20});
  auto longer = (*model)->Run({ids20.view(), mask20.view()});
  ASSERT_EQ(longer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(longer.status().message(), "sequence length 20"));
  EXPECT_TRUE(absl::StrContains(longer.status().message(), "largest sequence bucket 16")) << longer.status();

  // The wrapped model's own checks still come first (dtype here).
  core::Tensor floats(core::DataType::kFloat32, {1, 5});
  auto wrong_type = (*model)->Run({floats.view(), mask7.view()});
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument);

  // Warm-up shapes stay within the buckets (the example length 32 would be refused).
  for (const std::vector<core::Dims>& set : (*model)->WarmUpInputDims(1)) {
    EXPECT_LE(set[0][1], 16);
    EXPECT_TRUE((*model)
                    ->ValidateInputs({core::TensorView{core::DataType::kInt64, set[0], ids.data()},
                                      core::TensorView{core::DataType::kInt64, set[1], ids.data()}})
                    .ok());
  }
  // The same model still serves the lengths it takes.
  std::fill_n(mask7.span<int64_t>().data(), 7, 1);
  core::Tensor ids7(core::DataType::kInt64, {1, 7});
  EXPECT_TRUE((*model)->Run({ids7.view(), mask7.view()}).ok());
}

TEST(SequenceBuckets, ConfigErrorsNameTheInputOrBucket) {
  SequenceBucketOptions bad_mask;
  bad_mask.mode = Mode::kOn;
  bad_mask.mask_input = "nope";
  auto a = ApplySequenceBuckets(TextEncoder(), nullptr, bad_mask);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(a.status().message(), "'nope'")) << a.status();

  SequenceBucketOptions too_long;
  too_long.mode = Mode::kOn;
  too_long.buckets = {16, 128};  // the position table has 64 rows
  auto b = ApplySequenceBuckets(TextEncoder(), nullptr, too_long);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(b.status().message(), "bucket 128")) << b.status();

  SequenceBucketOptions batch_axis;
  batch_axis.mode = Mode::kOn;
  batch_axis.input_axes = {{"input_ids", 0}, {"attention_mask", 1}};
  auto c = ApplySequenceBuckets(TextEncoder(), nullptr, batch_axis);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(c.status().message(), "axis 0 of 'input_ids'")) << c.status();

  SequenceBucketOptions descending;
  descending.mode = Mode::kOn;
  descending.buckets = {32, 16};
  EXPECT_EQ(ApplySequenceBuckets(TextEncoder(), nullptr, descending).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SequenceBuckets, PaddingThatChangesOutputsIsRefused) {
  // Naming the ids as the mask pads the real mask with pad_value 1: padded
  // positions are attended, the logits move, and the load-time check sees it.
  SequenceBucketOptions wrong;
  wrong.mode = Mode::kOn;
  wrong.mask_input = "input_ids";
  wrong.pad_value = 1;
  wrong.buckets = {8, 16};
  wrong.input_axes = {{"input_ids", 1}, {"attention_mask", 1}};
  auto on = ApplySequenceBuckets(TextEncoder(), nullptr, wrong);
  EXPECT_EQ(on.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(on.status().message(), "changes the outputs")) << on.status();

  wrong.mode = Mode::kAuto;  // auto: served without buckets, and the log says why
  std::string why;
  auto model = TextEncoder();
  auto auto_result = ApplySequenceBuckets(model, nullptr, wrong, &why);
  ASSERT_TRUE(auto_result.ok()) << auto_result.status();
  EXPECT_EQ(auto_result->get(), model.get());
  EXPECT_TRUE(absl::StrContains(why, "does not mask padded positions")) << why;
}

// ids [batch, sequence], mask [batch, sequence] -> tokens = ids * mask as
// float [batch, sequence] (carries the sequence axis), pooled = mean of ids
// over the tokens the mask keeps: sum(ids * mask) / sum(mask), [batch].
std::string TokenModel(bool masked_mean) {
  q8::testing::OnnxBuilder b;
  b.Input("input_ids", {-1, -1}).Input("attention_mask", {-1, -1});
  for (int i = 0; i < 2; ++i) {
    auto* type = b.model().mutable_graph()->mutable_input(i)->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::INT64);
    type->mutable_shape()->mutable_dim(1)->set_dim_param("sequence");
  }
  q8::testing::OnnxBuilder::AttrInt(b.Node("Cast", {"input_ids"}, {"idsf"}), "to", onnx::TensorProto::FLOAT);
  q8::testing::OnnxBuilder::AttrInt(b.Node("Cast", {"attention_mask"}, {"maskf"}), "to", onnx::TensorProto::FLOAT);
  b.Node("Mul", {"idsf", "maskf"}, {"tokens"});
  b.Int64Initializer("axes", {1}, {1});
  auto& sum = b.Node("ReduceSum", {masked_mean ? "tokens" : "idsf", "axes"}, {"total"});
  q8::testing::OnnxBuilder::AttrInt(sum, "keepdims", 0);
  auto& count = b.Node("ReduceSum", {masked_mean ? "maskf" : "idsf", "axes"}, {"count"});
  q8::testing::OnnxBuilder::AttrInt(count, "keepdims", 0);
  if (masked_mean) {
    b.Node("Div", {"total", "count"}, {"pooled"});
  } else {
    // Mean over every position, padded or not: padding changes it.
    b.Node("Shape", {"idsf"}, {"shape"});
    b.Int64Initializer("one", {1}, {1});
    b.Node("Gather", {"shape", "one"}, {"len"});
    q8::testing::OnnxBuilder::AttrInt(b.Node("Cast", {"len"}, {"lenf"}), "to", onnx::TensorProto::FLOAT);
    b.Node("Div", {"total", "lenf"}, {"pooled"});
  }
  b.Output("tokens").Output("pooled");
  return b.Serialize();
}

TEST(SequenceBuckets, OutputsWithTheSequenceAxisAreSlicedBack) {
  auto plain = CompileOrDie(TokenModel(true));
  ASSERT_NE(plain, nullptr);
  SequenceBucketOptions on;
  on.mode = Mode::kOn;
  on.buckets = {4, 8};
  on.pad_value = 0;
  auto model = ApplySequenceBuckets(plain, nullptr, on);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_NE(AsBucketed(*model), nullptr);
  EXPECT_EQ(AsBucketed(*model)->plan().output_axes, (std::vector<int64_t>{1, -1}));
  // [2, 5] -> bucket 8: the padded run is [2, 8]; tokens come back as [2, 5].
  core::Tensor ids(core::DataType::kInt64, {2, 5}), mask(core::DataType::kInt64, {2, 5});
  for (int64_t i = 0; i < 10; ++i) {
    ids.span<int64_t>()[i] = 3 + i;
    mask.span<int64_t>()[i] = i % 5 < 4 ? 1 : 0;  // last token of each row is padding already
  }
  auto a = plain->Run({ids.view(), mask.view()});
  auto b = (*model)->Run({ids.view(), mask.view()});
  ASSERT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.status() : a.status());
  ASSERT_EQ((*b)[0].dims(), (core::Dims{2, 5}));
  EXPECT_EQ(MaxAbsDiff((*a)[0].span<float>(), (*b)[0].span<float>()), 0.0f);
  EXPECT_EQ(MaxAbsDiff((*a)[1].span<float>(), (*b)[1].span<float>()), 0.0f);
  // Reference by hand: row 0 keeps ids 3..6, row 1 ids 8..11.
  EXPECT_FLOAT_EQ((*b)[1].span<float>()[0], 4.5f);
  EXPECT_FLOAT_EQ((*b)[1].span<float>()[1], 9.5f);
  auto dims = (*model)->OutputDimsFor({ids.view(), mask.view()});
  ASSERT_TRUE(dims.ok()) << dims.status();
  EXPECT_EQ((*dims)[0], (core::Dims{2, 5}));
}

TEST(SequenceBuckets, AModelThatIgnoresTheMaskIsNotBucketed) {
  auto plain = CompileOrDie(TokenModel(false));
  ASSERT_NE(plain, nullptr);
  std::string why;
  auto model = ApplySequenceBuckets(plain, nullptr, {}, &why);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->get(), plain.get()) << why;
  EXPECT_TRUE(absl::StrContains(why, "output 'pooled'")) << why;
}

TEST(SequenceBuckets, OnWithDefaultBucketsKeepsThoseTheModelTakes) {
  SequenceBucketOptions on;
  on.mode = Mode::kOn;
  auto model = ApplySequenceBuckets(TextEncoder(), nullptr, on);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_NE(AsBucketed(*model), nullptr);
  EXPECT_EQ(AsBucketed(*model)->plan().buckets.back(), 64);
  EXPECT_TRUE(AsBucketed(*model)->plan().reject_longer);
}

TEST(SequenceBuckets, OffLeavesTheModelAlone) {
  auto plain = TextEncoder();
  SequenceBucketOptions off;
  off.mode = Mode::kOff;
  std::string why = "unchanged";
  auto model = ApplySequenceBuckets(plain, nullptr, off, &why);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->get(), plain.get());
  EXPECT_EQ(why, "");
}

}  // namespace
}  // namespace q8::engine
