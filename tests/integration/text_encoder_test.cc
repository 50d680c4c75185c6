// The committed transformer text encoder (tools/train_text_encoder.py)
// served by the real q8serve over real gRPC: INT64 token ids and an INT64
// attention mask in, logits out, fp32 and `mode: dynamic` int8. fp32 must
// match the logits PyTorch saved at export (max |diff| <= 1e-4, logits are
// O(5)); dynamic int8 must agree with fp32's predictions on these requests
// and stay within 0.25 of its logits (per-tensor 8-bit activations over two
// encoder blocks; the full-test-set accuracy check is
// transformer_models_test). Sequences travel padded to 24 and trimmed to
// their own length (the sequence axis is dynamic); a mask whose shape does
// not match the ids is INVALID_ARGUMENT and the model keeps serving.
// Sequence buckets (the default for this ids+mask model): every length is
// served from the bucket plans built before READY, with the logits of
// one-plan-per-length serving (max |diff| <= 1e-4); configured buckets refuse
// longer requests and lengths the model cannot take, naming them.
#include <cmath>

#include "core/npy.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/shared_server_suite.h"

namespace q8::testing {
namespace {

constexpr int kClasses = 2;
constexpr char kDynamicConfig[] = R"({"quantization":{"mode":"dynamic"}})";
constexpr char kExactConfig[] = R"({"quantization":{"mode":"none"},"sequence_buckets":"off"})";
constexpr char kSmallBucketsConfig[] = R"({"quantization":{"mode":"none"},"sequence_buckets":[8,16]})";

core::Tensor Load(const std::string& name) {
  auto t = core::ReadNpyFile(std::string(Q8_TEST_DATA_DIR) + "/" + name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : core::Tensor();
}

// Rows [first, first+count) of [n, width] int64 ids and mask, trimmed to `seq` columns.
inference::ModelInferRequest Request(const std::string& model, const core::Tensor& ids, const core::Tensor& mask,
                                     int64_t first, int64_t count, int64_t seq) {
  inference::ModelInferRequest req;
  req.set_model_name(model);
  const int64_t width = ids.dims()[1];
  for (const auto& [name, t] :
       {std::pair<const char*, const core::Tensor*>{"input_ids", &ids}, {"attention_mask", &mask}}) {
    auto* in = req.add_inputs();
    in->set_name(name);
    in->set_datatype("INT64");
    in->add_shape(count);
    in->add_shape(seq);
    for (int64_t r = first; r < first + count; ++r) {
      for (int64_t c = 0; c < seq; ++c) in->mutable_contents()->add_int64_contents(t->span<int64_t>()[r * width + c]);
    }
  }
  return req;
}

class TextEncoderServingTest : public SharedServerSuite<TextEncoderServingTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_text_encoder";
  static void PrepareServer(ServerProcess& server) {
    const std::string onnx = ReadFileOrDie(std::string(Q8_TEST_DATA_DIR) + "/text_encoder.onnx");
    grpc::Status s = UploadModel(*server.Stub(), "text_fp32", onnx, kFp32Config);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
    s = UploadModel(*server.Stub(), "text_int8", onnx, kDynamicConfig);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
    s = UploadModel(*server.Stub(), "text_exact", onnx, kExactConfig);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
    s = UploadModel(*server.Stub(), "text_small_buckets", onnx, kSmallBucketsConfig);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
  }

 protected:
  uint64_t PlanBuilds(const std::string& model) {
    grpc::ClientContext ctx;
    inference::ModelStatisticsRequest req;
    req.set_name(model);
    inference::ModelStatisticsResponse resp;
    EXPECT_TRUE(stub_->ModelStatistics(&ctx, req, &resp).ok());
    return resp.model_stats_size() == 1 ? resp.model_stats(0).plan_builds() : 0;
  }
};

TEST_F(TextEncoderServingTest, Fp32MatchesPyTorchAndDynamicInt8Agrees) {
  const core::Tensor ids = Load("text_test_ids.npy"), mask = Load("text_test_mask.npy");
  const core::Tensor golden = Load("text_encoder_golden.npy");
  constexpr int64_t kRows = 16;
  const int64_t width = ids.dims()[1];
  inference::ModelInferResponse f32, i8;
  ASSERT_TRUE(Infer(*stub_, Request("text_fp32", ids, mask, 0, kRows, width), &f32).ok());
  grpc::Status s = Infer(*stub_, Request("text_int8", ids, mask, 0, kRows, width), &i8);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(f32.outputs(0).contents().fp32_contents_size(), kRows * kClasses);
  ASSERT_EQ(i8.outputs(0).contents().fp32_contents_size(), kRows * kClasses);
  for (int64_t i = 0; i < kRows * kClasses; ++i) {
    const float want = golden.span<float>()[i];
    EXPECT_NEAR(f32.outputs(0).contents().fp32_contents(i), want, 1e-4f) << i;
    EXPECT_NEAR(i8.outputs(0).contents().fp32_contents(i), want, 0.25f) << i;
  }
  for (int64_t r = 0; r < kRows; ++r) {
    const auto& a = f32.outputs(0).contents().fp32_contents();
    const auto& b = i8.outputs(0).contents().fp32_contents();
    EXPECT_EQ(a[r * 2] > a[r * 2 + 1], b[r * 2] > b[r * 2 + 1]) << "row " << r;
  }
}

TEST_F(TextEncoderServingTest, EachSequenceAtItsOwnLength) {
  const core::Tensor ids = Load("text_test_ids.npy"), mask = Load("text_test_mask.npy");
  const core::Tensor golden = Load("text_encoder_golden.npy");
  for (int64_t r = 0; r < 6; ++r) {
    int64_t len = 0;
    for (int64_t c = 0; c < mask.dims()[1]; ++c) len += mask.span<int64_t>()[r * mask.dims()[1] + c];
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request("text_fp32", ids, mask, r, 1, len), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (int k = 0; k < kClasses; ++k) {
      EXPECT_NEAR(resp.outputs(0).contents().fp32_contents(k), golden.span<float>()[r * kClasses + k], 1e-4f)
          << "sequence " << r << " of length " << len;
    }
  }
}

TEST_F(TextEncoderServingTest, MaskShorterThanIdsIsInvalidArgument) {
  const core::Tensor ids = Load("text_test_ids.npy"), mask = Load("text_test_mask.npy");
  inference::ModelInferRequest req = Request("text_fp32", ids, mask, 0, 1, 12);
  auto* m = req.mutable_inputs(1);  // attention_mask: 12 -> 10 columns
  m->set_shape(1, 10);
  m->mutable_contents()->mutable_int64_contents()->Truncate(10);
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  ASSERT_TRUE(Infer(*stub_, Request("text_fp32", ids, mask, 0, 1, 12), &resp).ok());
}

TEST_F(TextEncoderServingTest, BucketsServeEveryLengthWithoutBuildingPlans) {
  const core::Tensor ids = Load("text_test_ids.npy"), mask = Load("text_test_mask.npy");
  const uint64_t bucketed_before = PlanBuilds("text_fp32");
  const uint64_t exact_before = PlanBuilds("text_exact");
  // Lengths 4..24 of the first sequences (shorter cuts keep [CLS] and the
  // first tokens; the mask stays 1 where the tokens are real).
  for (int64_t len = 4; len <= 24; ++len) {
    inference::ModelInferResponse bucketed, exact;
    ASSERT_TRUE(Infer(*stub_, Request("text_fp32", ids, mask, len, 1, len), &bucketed).ok()) << len;
    ASSERT_TRUE(Infer(*stub_, Request("text_exact", ids, mask, len, 1, len), &exact).ok()) << len;
    ASSERT_EQ(bucketed.outputs(0).shape_size(), 2);
    EXPECT_EQ(bucketed.outputs(0).shape(1), kClasses);
    for (int k = 0; k < kClasses; ++k) {
      EXPECT_NEAR(bucketed.outputs(0).contents().fp32_contents(k), exact.outputs(0).contents().fp32_contents(k), 1e-4f)
          << "length " << len;
    }
  }
  // Every bucket's plan was built at warm-up: requests build none.
  EXPECT_EQ(PlanBuilds("text_fp32"), bucketed_before);
  EXPECT_GE(PlanBuilds("text_exact") - exact_before, 20u);
}

TEST_F(TextEncoderServingTest, ConfiguredBucketsRefuseLongerRequestsAndKeepServing) {
  const core::Tensor ids = Load("text_test_ids.npy"), mask = Load("text_test_mask.npy");
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, Request("text_small_buckets", ids, mask, 0, 1, 20), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("exceeds the largest sequence bucket 16"), std::string::npos) << s.error_message();
  ASSERT_TRUE(Infer(*stub_, Request("text_small_buckets", ids, mask, 0, 1, 12), &resp).ok());
}

TEST_F(TextEncoderServingTest, BucketsTheModelCannotTakeFailTheUpload) {
  const std::string onnx = ReadFileOrDie(std::string(Q8_TEST_DATA_DIR) + "/text_encoder.onnx");
  // 128 positions: the model's position table has 64 rows.
  grpc::Status s =
      UploadModel(*stub_, "text_bad_buckets", onnx, R"({"quantization":{"mode":"none"},"sequence_buckets":[16,128]})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("bucket 128"), std::string::npos) << s.error_message();
  s = UploadModel(*stub_, "text_bad_buckets", onnx, R"({"sequence_buckets":{"buckets":[16],"mask_input":"nope"}})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  s = UploadModel(*stub_, "text_bad_buckets", onnx, R"({"sequence_buckets":[32,16]})");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

}  // namespace
}  // namespace q8::testing
