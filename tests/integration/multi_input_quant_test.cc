// Static quantization of a model with two inputs (INT64 token ids + BOOL
// mask) from calibration/inputs.npz, through the real q8serve over real
// gRPC: two shape groups (sequence lengths 6 and 14) calibrate one static
// int8 model whose MatMuls run int8 and whose outputs track the fp32 version
// of the same model; a bad archive is a clear INVALID_ARGUMENT naming the key
// while the server keeps serving.
#include <filesystem>
#include <random>

#include "core/npz.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "onnx/onnx_pb.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/shared_server_suite.h"
#include "tests/testing/onnx_builder.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kFp32[] = "ids_mask_fp32";  // serves through every refused upload
constexpr char kStatic[] = R"({"quantization":{"mode":"static","calibration":{"method":"minmax"}}})";
constexpr int64_t kVocab = 30;

// ids [N, S] INT64 -> Gather(emb) * mask -> MatMul -> Relu -> MatMul: y [N, S, 5].
std::string IdsMaskModel() {
  OnnxBuilder b;
  b.Input("ids", {-1, -1}).Input("mask", {-1, -1}).Output("y");
  auto* g = b.model().mutable_graph();
  g->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
  g->mutable_input(1)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);
  b.RandomInitializer("emb", {kVocab, 16}, -1, 1).RandomInitializer("w1", {16, 12}, -0.5, 0.5);
  b.RandomInitializer("w2", {12, 5}, -0.5, 0.5).Int64Initializer("axis2", {1}, {2});
  b.Node("Gather", {"emb", "ids"}, {"e"});
  OnnxBuilder::AttrInt(b.Node("Cast", {"mask"}, {"mf"}), "to", onnx::TensorProto::FLOAT);
  b.Node("Unsqueeze", {"mf", "axis2"}, {"m3"});
  b.Node("Mul", {"e", "m3"}, {"em"});
  b.Node("MatMul", {"em", "w1"}, {"h"}, "proj");
  b.Node("Relu", {"h"}, {"r"});
  b.Node("MatMul", {"r", "w2"}, {"y"}, "head");
  return b.Serialize();
}

struct Batch {
  core::Tensor ids, mask;
};

Batch MakeBatch(int64_t n, int64_t seq, uint32_t seed) {
  Batch b{core::Tensor(core::DataType::kInt64, {n, seq}), core::Tensor(core::DataType::kBool, {n, seq})};
  std::mt19937 rng(seed);
  for (int64_t& v : b.ids.span<int64_t>()) v = static_cast<int64_t>(rng() % kVocab);
  for (uint8_t& v : b.mask.span<uint8_t>()) v = rng() % 5 != 0;
  return b;
}

// Keys "<group>/<input>": two shape groups.
std::string TwoGroupNpz(bool drop_mask_of_second = false, bool float_ids = false) {
  const Batch a = MakeBatch(40, 6, 1), b = MakeBatch(40, 14, 2);
  core::Tensor fids(core::DataType::kFloat32, {40, 6});
  std::vector<std::pair<std::string, core::TensorView>> arrays = {
      {"len6/ids", float_ids ? fids.view() : a.ids.view()}, {"len6/mask", a.mask.view()}, {"len14/ids", b.ids.view()}};
  if (!drop_mask_of_second) arrays.push_back({"len14/mask", b.mask.view()});
  return core::SerializeNpz(arrays);
}

inference::ModelInferRequest Request(const std::string& model, const Batch& b) {
  inference::ModelInferRequest req;
  req.set_model_name(model);
  auto* ids = req.add_inputs();
  ids->set_name("ids");
  ids->set_datatype("INT64");
  for (int64_t d : b.ids.dims()) ids->add_shape(d);
  for (int64_t v : b.ids.span<int64_t>()) ids->mutable_contents()->add_int64_contents(v);
  auto* mask = req.add_inputs();
  mask->set_name("mask");
  mask->set_datatype("BOOL");
  for (int64_t d : b.mask.dims()) mask->add_shape(d);
  for (uint8_t v : b.mask.span<uint8_t>()) mask->mutable_contents()->add_bool_contents(v != 0);
  return req;
}

class MultiInputQuantTest : public SharedServerSuite<MultiInputQuantTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_multi_input";
  static void PrepareServer(ServerProcess& server) {
    grpc::Status s = UploadModel(*server.Stub(), kFp32, IdsMaskModel(), kFp32Config);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.Log();
  }

 protected:
  void SetUp() override {
    SharedServerSuite::SetUp();
    model_stub_ = server_->ModelStub();
  }
  StreamedUpload Upload(const std::string& name, const std::string& npz) {
    return StreamUpload(*model_stub_, name, 1, kStatic,
                        {{"model.onnx", IdsMaskModel()}, {"calibration/inputs.npz", npz}});
  }
  std::vector<float> Outputs(const std::string& model, const Batch& b) {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request(model, b), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? Logits(resp) : std::vector<float>{};
  }
  void ExpectRefused(const StreamedUpload& up, const std::string& name, const std::string& needle) {
    EXPECT_EQ(up.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << up.status.error_message();
    EXPECT_THAT(up.status.error_message(), HasSubstr(needle));
    EXPECT_FALSE(fs::exists(fs::path(*repo_) / name)) << name << " was written";
    EXPECT_EQ(Outputs(kFp32, MakeBatch(2, 5, 9)).size(), 2u * 5 * 5) << "the fp32 model stopped serving";
  }

  std::unique_ptr<ModelStub> model_stub_;
};

TEST_F(MultiInputQuantTest, NpzWithTwoShapeGroupsQuantizesStatic) {
  StreamedUpload up = Upload("ids_mask_int8", TwoGroupNpz());
  ASSERT_TRUE(up.status.ok()) << up.status.error_message() << "\n" << server_->Log();
  ASSERT_TRUE(up.result.has_value());
  Json report = Json::parse(up.result->report_json());
  EXPECT_EQ(report["mode"], "static") << report.dump(2);
  // 20 % held out per group: 2 x 32 calibration rows.
  EXPECT_EQ(report["calibration_samples"], 64) << report.dump(2);
  int int8_matmuls = 0;
  for (const auto& layer : report["layers"]) int8_matmuls += layer["op"] == "MatMul" && layer["precision"] == "int8";
  EXPECT_EQ(int8_matmuls, 2) << report.dump(2);
  // Served int8 vs the fp32 model on the same requests, at a calibrated length
  // and an unseen one: within 5 % of the output's peak.
  for (int64_t seq : {6, 10}) {
    SCOPED_TRACE(seq);
    const Batch probe = MakeBatch(3, seq, 40 + static_cast<uint32_t>(seq));
    const std::vector<float> q = Outputs("ids_mask_int8", probe), f = Outputs(kFp32, probe);
    ASSERT_EQ(q.size(), f.size());
    ASSERT_EQ(f.size(), static_cast<size_t>(3 * seq * 5));
    float peak = 0, worst = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      peak = std::max(peak, std::abs(f[i]));
      worst = std::max(worst, std::abs(f[i] - q[i]));
    }
    EXPECT_LT(worst, 0.05f * peak);
  }
}

TEST_F(MultiInputQuantTest, BadNpzIsInvalidArgumentNamingTheKey) {
  ExpectRefused(Upload("missing_key", TwoGroupNpz(/*drop_mask_of_second=*/true)), "missing_key", "no key 'len14/mask'");
  ExpectRefused(Upload("wrong_dtype", TwoGroupNpz(false, /*float_ids=*/true)), "wrong_dtype",
                "calibration key 'len6/ids' has dtype FP32; expected INT64");
  ExpectRefused(Upload("not_a_zip", "PK\x03\x04 certainly not an archive"), "not_a_zip",
                "calibration/inputs.npz is not a valid .npz file");
  // The .npy form cannot feed two inputs.
  StreamedUpload npy =
      StreamUpload(*model_stub_, "npy_form", 1, kStatic,
                   {{"model.onnx", IdsMaskModel()}, {"calibration/inputs.npy", NpyBytes(MakeBatch(4, 6, 1).ids)}});
  EXPECT_EQ(npy.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << npy.status.error_message();
  EXPECT_THAT(npy.status.error_message(), HasSubstr("send calibration/inputs.npz"));
}

}  // namespace
}  // namespace q8::testing
