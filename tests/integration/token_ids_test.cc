// INT64 token ids into an embedding Gather and a BOOL output, through the real
// q8serve over real gRPC: ids travel as exact FP32 inside the plan and are
// checked per request, so an id outside the vocabulary (or beyond 2^24) is a
// clear INVALID_ARGUMENT and the model keeps serving; the BOOL output comes
// back as bool_contents. Expected values are computed here from the table.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/shared_server_suite.h"
#include "tests/testing/onnx_builder.h"

namespace q8::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kVocab = 50, kDim = 4, kSeq = 3;

float TableValue(int64_t row, int64_t col) { return static_cast<float>(row) - 0.25f * static_cast<float>(col); }

// ids [-1, 3] INT64 -> Gather(table [50, 4]) -> emb [-1, 3, 4] FP32;
// pad = Equal(ids, 0) declared BOOL.
std::string EmbeddingModel() {
  OnnxBuilder b;
  b.Input("ids", {-1, kSeq}).Output("emb").Output("pad");
  std::vector<float> table;
  for (int64_t r = 0; r < kVocab; ++r) {
    for (int64_t c = 0; c < kDim; ++c) table.push_back(TableValue(r, c));
  }
  b.FloatInitializer("table", {kVocab, kDim}, table);
  b.Int64Initializer("zero", {}, {0});
  auto* g = b.model().mutable_graph();
  g->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
  g->mutable_output(1)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);
  b.Node("Gather", {"table", "ids"}, {"emb"}, "embed");
  b.Node("Equal", {"ids", "zero"}, {"pad"}, "is_pad");
  return b.Serialize();
}

inference::ModelInferRequest Request(const std::vector<int64_t>& ids) {
  inference::ModelInferRequest req;
  req.set_model_name("embedding");
  auto* in = req.add_inputs();
  in->set_name("ids");
  in->set_datatype("INT64");
  in->add_shape(static_cast<int64_t>(ids.size()) / kSeq);
  in->add_shape(kSeq);
  for (int64_t id : ids) in->mutable_contents()->add_int64_contents(id);
  return req;
}

class TokenIdsTest : public SharedServerSuite<TokenIdsTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_token_ids";
  static void PrepareServer(ServerProcess& server) {
    grpc::Status s = UploadModel(*server.Stub(), "embedding", EmbeddingModel(), kFp32Config);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
  }
};

TEST_F(TokenIdsTest, EmbeddingLookupAndBoolMask) {
  const std::vector<int64_t> ids = {7, 0, 49, -1, 3, 0};  // -1: the last row, as ONNX Gather says
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, Request(ids), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.outputs_size(), 2);
  EXPECT_EQ(resp.outputs(0).datatype(), "FP32");
  EXPECT_THAT(resp.outputs(0).shape(), ::testing::ElementsAre(2, kSeq, kDim));
  EXPECT_EQ(resp.outputs(1).datatype(), "BOOL");
  const auto& emb = resp.outputs(0).contents().fp32_contents();
  const auto& pad = resp.outputs(1).contents().bool_contents();
  ASSERT_EQ(emb.size(), static_cast<int>(ids.size() * kDim));
  ASSERT_EQ(pad.size(), static_cast<int>(ids.size()));
  for (size_t t = 0; t < ids.size(); ++t) {
    const int64_t row = ids[t] < 0 ? ids[t] + kVocab : ids[t];
    for (int64_t c = 0; c < kDim; ++c) EXPECT_EQ(emb[t * kDim + c], TableValue(row, c)) << t << "," << c;
    EXPECT_EQ(pad[t], ids[t] == 0) << t;
  }
}

TEST_F(TokenIdsTest, HostileIdsAreInvalidArgumentAndTheModelKeepsServing) {
  struct Case {
    int64_t id;
    const char* says;
  };
  for (const Case& c :
       {Case{kVocab, "index 50 at position 4 is out of range [-50, 50)"}, Case{-kVocab - 1, "out of range [-50, 50)"},
        Case{int64_t{1} << 53, "not representable in FP32"}, Case{INT64_MAX, "not representable"}}) {
    SCOPED_TRACE(c.id);
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request({1, 2, 3, 4, c.id, 5}), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.says));
  }
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, Request({1, 2, 3, 4, 5, 6}), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.outputs(0).contents().fp32_contents(0), TableValue(1, 0));
}

}  // namespace
}  // namespace q8::testing
