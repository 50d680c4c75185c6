#include "server/tensor_codec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/server/fake_model.h"

namespace q8::server {
namespace {

using ::testing::ElementsAre;
using testing::FakeModel;
using ::testing::HasSubstr;

class CodecTest : public ::testing::Test {
 protected:
  // A valid raw request for FakeModel ("x" FP32 [-1,2]) with `batch` rows.
  inference::ModelInferRequest RawRequest(int batch) {
    inference::ModelInferRequest r;
    auto* in = r.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(batch);
    in->add_shape(2);
    std::vector<float> v;
    for (int i = 0; i < 2 * batch; ++i) v.push_back(static_cast<float>(i) - 1.5f);
    r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    return r;
  }
  inference::ModelInferRequest TypedRequest(int batch) {
    inference::ModelInferRequest r = RawRequest(batch);
    r.clear_raw_input_contents();
    for (int i = 0; i < 2 * batch; ++i) {
      r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(static_cast<float>(i) - 1.5f);
    }
    return r;
  }
  absl::Status Decode(const inference::ModelInferRequest& r) {
    return DecodeInputs(r, model_.inputs(), model_.max_batch_size(), "fake:1").status();
  }
  void ExpectInvalid(const inference::ModelInferRequest& r, absl::string_view needle) {
    absl::Status s = Decode(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(needle)));
  }

  FakeModel model_{8};
};

TEST_F(CodecTest, RawIsZeroCopy) {
  auto r = RawRequest(3);
  auto d = DecodeInputs(r, model_.inputs(), 8, "fake:1");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->raw);
  EXPECT_EQ(d->batch, 3);
  ASSERT_EQ(d->tensors.size(), 1u);
  EXPECT_EQ(d->tensors[0].data, r.raw_input_contents(0).data());
  EXPECT_THAT(d->tensors[0].dims, ElementsAre(3, 2));
  EXPECT_TRUE(d->owned.empty());
}

TEST_F(CodecTest, TypedIsCopied) {
  auto r = TypedRequest(2);
  auto d = DecodeInputs(r, model_.inputs(), 8, "fake:1");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->raw);
  EXPECT_EQ(d->batch, 2);
  EXPECT_THAT(d->tensors[0].span<float>(), ElementsAre(-1.5f, -0.5f, 0.5f, 1.5f));
}

TEST_F(CodecTest, UnknownInputName) {
  auto r = RawRequest(1);
  r.mutable_inputs(0)->set_name("y");
  ExpectInvalid(r, "unknown input 'y' for model 'fake:1'; the model's inputs are: x FP32[-1,2]");
}

TEST_F(CodecTest, MissingInput) {
  inference::ModelInferRequest r;
  ExpectInvalid(r, "missing input 'x'");
}

TEST_F(CodecTest, DuplicateInput) {
  auto r = RawRequest(1);
  *r.add_inputs() = r.inputs(0);
  r.add_raw_input_contents(r.raw_input_contents(0));
  ExpectInvalid(r, "input 'x' is given twice");
}

TEST_F(CodecTest, WrongDatatype) {
  auto r = RawRequest(1);
  r.mutable_inputs(0)->set_datatype("FP64");
  ExpectInvalid(r, "datatype FP64 does not match the model's FP32");
  r.mutable_inputs(0)->set_datatype("FLOAT");
  ExpectInvalid(r, "unsupported datatype 'FLOAT'");
  r.mutable_inputs(0)->set_datatype("BYTES");
  ExpectInvalid(r, "unsupported datatype 'BYTES'");
}

TEST_F(CodecTest, WrongRankAndDims) {
  auto r = RawRequest(1);
  r.mutable_inputs(0)->add_shape(1);
  ExpectInvalid(r, "has rank 3 but the model expects rank 2");
  r = RawRequest(1);
  r.mutable_inputs(0)->set_shape(1, 3);
  ExpectInvalid(r, "axis 1 is 3 but the model expects 2");
  r = RawRequest(1);
  r.mutable_inputs(0)->set_shape(0, 9);
  ExpectInvalid(r, "batch size 9 (dim 0) is outside [1, max_batch_size=8]");
  r.mutable_inputs(0)->set_shape(0, 0);
  ExpectInvalid(r, "batch size 0");
  r.mutable_inputs(0)->set_shape(0, -2);
  ExpectInvalid(r, "negative dim");
}

// A dynamic non-batch axis takes any size >= 1; a shape whose byte size
// overflows int64 or passes the per-tensor limit is refused before anything
// multiplies its dims.
TEST_F(CodecTest, DynamicAxesAreBoundedOverflowChecked) {
  const std::vector<engine::TensorInfo> infos = {{"x", core::DataType::kFloat32, {-1, -1, 3}}};
  auto request = [](std::vector<int64_t> shape) {
    inference::ModelInferRequest r;
    auto* in = r.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    int64_t n = 1;
    for (int64_t d : shape) {
      in->add_shape(d);
      n *= d > 0 && d < 1000 ? d : 0;
    }
    r.add_raw_input_contents(std::string(static_cast<size_t>(n) * 4, '\0'));
    return r;
  };
  auto ok = DecodeInputs(request({2, 5, 3}), infos, 8, "fake:1");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->tensors[0].dims, (core::Dims{2, 5, 3}));
  auto zero = DecodeInputs(request({1, 0, 3}), infos, 8, "fake:1");
  EXPECT_THAT(std::string(zero.status().message()), HasSubstr("axis 1 is dynamic and must be at least 1, got 0"));
  auto huge = DecodeInputs(request({1, int64_t{1} << 62, 3}), infos, 8, "fake:1");
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("input 'x'"));
  auto fixed = DecodeInputs(request({1, 4, 2}), infos, 8, "fake:1");
  EXPECT_THAT(std::string(fixed.status().message()), HasSubstr("axis 2 is 2 but the model expects 3"));
}

TEST_F(CodecTest, RawByteLengthMismatch) {
  auto r = RawRequest(2);
  r.mutable_raw_input_contents(0)->pop_back();
  ExpectInvalid(r, "raw_input_contents has 15 bytes but shape [2,2] of FP32 needs 16 bytes");
}

TEST_F(CodecTest, RawAndTypedTogether) {
  auto r = RawRequest(1);
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(2);
  ExpectInvalid(r, "has typed contents (fp32_contents) but the request also has raw_input_contents");
}

TEST_F(CodecTest, RawCountMismatch) {
  auto r = RawRequest(1);
  r.add_raw_input_contents("extra");
  ExpectInvalid(r, "request has 2 raw_input_contents but 1 inputs");
}

TEST_F(CodecTest, TypedCountMismatch) {
  auto r = TypedRequest(2);
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(9);
  ExpectInvalid(r, "contents.fp32_contents has 5 elements but shape [2,2] needs 4");
}

TEST_F(CodecTest, TypedWrongField) {
  auto r = TypedRequest(1);
  r.mutable_inputs(0)->mutable_contents()->clear_fp32_contents();
  r.mutable_inputs(0)->mutable_contents()->add_int64_contents(1);
  r.mutable_inputs(0)->mutable_contents()->add_int64_contents(2);
  ExpectInvalid(r, "datatype FP32 expects contents.fp32_contents only, got int64_contents");
}

TEST_F(CodecTest, NoData) {
  auto r = TypedRequest(1);
  r.mutable_inputs(0)->clear_contents();
  ExpectInvalid(r, "input 'x' has no data");
}

TEST(CodecNarrowTest, TypedInt8RangeChecked) {
  std::vector<engine::TensorInfo> inputs = {{"q", core::DataType::kInt8, {-1, 2}}};
  inference::ModelInferRequest r;
  auto* in = r.add_inputs();
  in->set_name("q");
  in->set_datatype("INT8");
  in->add_shape(1);
  in->add_shape(2);
  in->mutable_contents()->add_int_contents(-128);
  in->mutable_contents()->add_int_contents(127);
  auto d = DecodeInputs(r, inputs, 4, "m");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->tensors[0].span<int8_t>(), ElementsAre(-128, 127));
  in->mutable_contents()->set_int_contents(1, 128);
  auto bad = DecodeInputs(r, inputs, 4, "m");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("element 1 (128) is out of range"));
}

TEST(CodecNarrowTest, Fp16MustBeRaw) {
  std::vector<engine::TensorInfo> inputs = {{"h", core::DataType::kFloat16, {-1}}};
  inference::ModelInferRequest r;
  auto* in = r.add_inputs();
  in->set_name("h");
  in->set_datatype("FP16");
  in->add_shape(1);
  in->mutable_contents()->add_fp32_contents(1);
  auto d = DecodeInputs(r, inputs, 4, "m");
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("send it in raw_input_contents"));
}

// ---- Outputs ----

absl::Status RunInto(const FakeModel& model, const inference::ModelInferRequest& r,
                     inference::ModelInferResponse* response) {
  auto d = DecodeInputs(r, model.inputs(), 8, "fake:1");
  if (!d.ok()) return d.status();
  auto enc = OutputEncoder::Prepare(r, model.outputs(), model.OutputDims(d->batch), d->raw, "fake:1", response);
  if (!enc.ok()) return enc.status();
  absl::Status s = model.Run(d->tensors, enc->views());
  enc->Finish();
  return s;
}

TEST_F(CodecTest, RawOutputsWrittenInPlace) {
  inference::ModelInferResponse resp;
  ASSERT_TRUE(RunInto(model_, RawRequest(2), &resp).ok());
  ASSERT_EQ(resp.outputs_size(), 2);
  ASSERT_EQ(resp.raw_output_contents_size(), 2);
  EXPECT_EQ(resp.outputs(0).name(), "sum");
  EXPECT_EQ(resp.outputs(0).datatype(), "FP32");
  EXPECT_THAT(resp.outputs(0).shape(), ElementsAre(2, 1));
  EXPECT_EQ(resp.outputs(1).datatype(), "INT8");
  const float* sum = reinterpret_cast<const float*>(resp.raw_output_contents(0).data());
  EXPECT_EQ(sum[0], -2.0f);  // -1.5 + -0.5
  EXPECT_EQ(sum[1], 2.0f);   // 0.5 + 1.5
  EXPECT_EQ(resp.raw_output_contents(1), std::string("\xff\x01", 2));
  EXPECT_FALSE(resp.outputs(0).has_contents());
}

TEST_F(CodecTest, TypedOutputsForTypedRequests) {
  inference::ModelInferResponse resp;
  ASSERT_TRUE(RunInto(model_, TypedRequest(2), &resp).ok());
  EXPECT_EQ(resp.raw_output_contents_size(), 0);
  EXPECT_THAT(resp.outputs(0).contents().fp32_contents(), ElementsAre(-2.0f, 2.0f));
  EXPECT_THAT(resp.outputs(1).contents().int_contents(), ElementsAre(-1, 1));
}

TEST_F(CodecTest, RequestedOutputsSubsetAndOrder) {
  auto r = RawRequest(1);
  r.add_outputs()->set_name("sign");
  inference::ModelInferResponse resp;
  ASSERT_TRUE(RunInto(model_, r, &resp).ok());
  ASSERT_EQ(resp.outputs_size(), 1);
  EXPECT_EQ(resp.outputs(0).name(), "sign");
  ASSERT_EQ(resp.raw_output_contents_size(), 1);
  EXPECT_EQ(resp.raw_output_contents(0), std::string("\xff", 1));
}

TEST_F(CodecTest, RequestedOutputErrors) {
  auto r = RawRequest(1);
  r.add_outputs()->set_name("nope");
  inference::ModelInferResponse resp;
  absl::Status s = RunInto(model_, r, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("unknown requested output 'nope'"));
  r.mutable_outputs(0)->set_name("sum");
  r.add_outputs()->set_name("sum");
  s = RunInto(model_, r, &resp);
  EXPECT_THAT(std::string(s.message()), HasSubstr("output 'sum' is requested twice"));
}

}  // namespace
}  // namespace q8::server
