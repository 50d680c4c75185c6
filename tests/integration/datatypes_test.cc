// Every numeric OIP datatype a model may declare, through the real q8serve
// over real gRPC: one model per type (x -> Relu -> y, both declared in that
// type), inferred with raw and with typed contents; metadata reports the
// declared types; BYTES, a mismatched datatype and a STRING model are clear
// INVALID_ARGUMENTs that leave the server serving.
#include <chrono>

#include "absl/strings/ascii.h"
#include "core/element_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/shared_server_suite.h"
#include "tests/testing/onnx_builder.h"

namespace q8::testing {
namespace {

using core::DataType;
using ::testing::HasSubstr;

constexpr int64_t kCols = 4;

std::vector<DataType> AllTypes() {
  std::vector<DataType> types;
  for (int t = 1; t < static_cast<int>(DataType::kCount); ++t) types.push_back(static_cast<DataType>(t));
  return types;
}

std::string ModelName(DataType t) { return "relu_" + absl::AsciiStrToLower(core::OipName(t)); }

std::string ReluModel(int onnx_in, int onnx_out) {
  OnnxBuilder b;
  b.Input("x", {-1, kCols}).Output("y");
  auto* g = b.model().mutable_graph();
  g->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx_in);
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx_out);
  b.Node("Relu", {"x"}, {"y"});
  return b.Serialize();
}

bool Signed(DataType t) {
  return t != DataType::kBool && t != DataType::kUInt8 && t != DataType::kUInt16 && t != DataType::kUInt32 &&
         t != DataType::kUInt64;
}

// Two rows of inputs and what Relu makes of them, exactly representable in every type.
std::vector<float> Inputs(DataType t) {
  if (t == DataType::kBool) return {0, 1, 1, 0, 1, 0, 0, 1};
  if (Signed(t)) return {0, 1, -3, 100, 7, -128, 12, 2};
  return {0, 1, 3, 100, 7, 128, 12, 2};
}
std::vector<float> Expected(DataType t) {
  std::vector<float> v = Inputs(t);
  for (float& x : v) x = std::max(x, 0.f);
  return v;
}

core::Tensor AsType(DataType t, const std::vector<float>& values) {
  const core::Tensor f = core::Tensor::FromFloats({static_cast<int64_t>(values.size()) / kCols, kCols}, values);
  core::Tensor out(t, f.dims());
  EXPECT_TRUE(core::ConvertElements(f.view(), out.mutable_view()).ok());
  return out;
}

void SetTyped(DataType t, const std::vector<float>& v, inference::InferTensorContents* c) {
  for (float x : v) {
    switch (t) {
      case DataType::kBool:
        c->add_bool_contents(x != 0);
        break;
      case DataType::kInt8:
      case DataType::kInt16:
      case DataType::kInt32:
        c->add_int_contents(static_cast<int32_t>(x));
        break;
      case DataType::kInt64:
        c->add_int64_contents(static_cast<int64_t>(x));
        break;
      case DataType::kUInt8:
      case DataType::kUInt16:
      case DataType::kUInt32:
        c->add_uint_contents(static_cast<uint32_t>(x));
        break;
      case DataType::kUInt64:
        c->add_uint64_contents(static_cast<uint64_t>(x));
        break;
      case DataType::kFloat32:
        c->add_fp32_contents(x);
        break;
      case DataType::kFloat64:
        c->add_fp64_contents(x);
        break;
      default:
        break;  // FP16/BF16 have no typed field
    }
  }
}

std::vector<float> GetTyped(DataType t, const inference::InferTensorContents& c) {
  std::vector<float> v;
  auto take = [&](const auto& field) {
    for (const auto& x : field) v.push_back(static_cast<float>(x));
  };
  switch (t) {
    case DataType::kBool:
      take(c.bool_contents());
      break;
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      take(c.int_contents());
      break;
    case DataType::kInt64:
      take(c.int64_contents());
      break;
    case DataType::kUInt8:
    case DataType::kUInt16:
    case DataType::kUInt32:
      take(c.uint_contents());
      break;
    case DataType::kUInt64:
      take(c.uint64_contents());
      break;
    case DataType::kFloat32:
      take(c.fp32_contents());
      break;
    case DataType::kFloat64:
      take(c.fp64_contents());
      break;
    default:
      break;
  }
  return v;
}

bool HasTypedField(DataType t) { return t != DataType::kFloat16 && t != DataType::kBFloat16; }

inference::ModelInferRequest Request(DataType t, bool raw, const std::string& datatype = "") {
  inference::ModelInferRequest req;
  req.set_model_name(ModelName(t));
  auto* in = req.add_inputs();
  in->set_name("x");
  in->set_datatype(datatype.empty() ? std::string(core::OipName(t)) : datatype);
  in->add_shape(2);
  in->add_shape(kCols);
  if (raw) {
    const core::Tensor x = AsType(t, Inputs(t));
    req.add_raw_input_contents(std::string(static_cast<const char*>(x.data()), x.byte_size()));
  } else {
    SetTyped(t, Inputs(t), in->mutable_contents());
  }
  return req;
}

class DatatypesTest : public SharedServerSuite<DatatypesTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_datatypes";
  static void PrepareServer(ServerProcess& server) {
    for (DataType t : AllTypes()) {
      grpc::Status s =
          UploadModel(*server.Stub(), ModelName(t), ReluModel(core::OnnxCode(t), core::OnnxCode(t)), kFp32Config);
      ASSERT_TRUE(s.ok()) << core::OipName(t) << ": " << s.error_message() << "\n" << server.Log();
    }
  }

 protected:
  void ExpectServes(DataType t) {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request(t, true), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
};

TEST_F(DatatypesTest, MetadataReportsTheDeclaredTypes) {
  for (DataType t : AllTypes()) {
    inference::ModelMetadataRequest req;
    req.set_name(ModelName(t));
    inference::ModelMetadataResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->ModelMetadata(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.inputs_size(), 1);
    EXPECT_EQ(resp.inputs(0).datatype(), core::OipName(t));
    EXPECT_EQ(resp.outputs(0).datatype(), core::OipName(t));
  }
}

TEST_F(DatatypesTest, EveryTypeWithRawContents) {
  for (DataType t : AllTypes()) {
    SCOPED_TRACE(core::OipName(t));
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request(t, true), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.outputs_size(), 1);
    EXPECT_EQ(resp.outputs(0).datatype(), core::OipName(t));
    EXPECT_THAT(resp.outputs(0).shape(), ::testing::ElementsAre(2, kCols));
    ASSERT_EQ(resp.raw_output_contents_size(), 1);
    const std::string& raw = resp.raw_output_contents(0);
    ASSERT_EQ(static_cast<int64_t>(raw.size()), 2 * kCols * core::SizeOf(t));
    core::Tensor got(DataType::kFloat32, {2, kCols});
    ASSERT_TRUE(core::ConvertElements({t, {2, kCols}, raw.data()}, got.mutable_view()).ok());
    EXPECT_EQ(std::vector<float>(got.span<float>().begin(), got.span<float>().end()), Expected(t));
  }
}

TEST_F(DatatypesTest, EveryTypeWithTypedContents) {
  for (DataType t : AllTypes()) {
    SCOPED_TRACE(core::OipName(t));
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, Request(t, false), &resp);
    if (!HasTypedField(t)) {
      // OIP has no typed field for 16-bit floats: the request cannot carry them typed.
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(s.error_message(), HasSubstr("send it in raw_input_contents"));
      continue;
    }
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.outputs_size(), 1);
    EXPECT_EQ(resp.outputs(0).datatype(), core::OipName(t));
    EXPECT_EQ(resp.raw_output_contents_size(), 0);
    EXPECT_EQ(GetTyped(t, resp.outputs(0).contents()), Expected(t));
  }
}

TEST_F(DatatypesTest, BytesAndMismatchedTypesAreInvalidArgument) {
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, Request(DataType::kInt64, true, "BYTES"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("BYTES"));
  s = Infer(*stub_, Request(DataType::kInt64, true, "FP32"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("does not match the model's INT64"));
  ExpectServes(DataType::kInt64);
}

TEST_F(DatatypesTest, ValuesFp32CannotCarryAreRefused) {
  inference::ModelInferRequest req = Request(DataType::kFloat64, true);
  core::Tensor x = AsType(DataType::kFloat64, Inputs(DataType::kFloat64));
  x.span<double>()[5] = 1e300;
  req.set_raw_input_contents(0, std::string(static_cast<const char*>(x.data()), x.byte_size()));
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("not representable in FP32"));
  ExpectServes(DataType::kFloat64);
}

TEST_F(DatatypesTest, StringModelIsRefusedNamingTheType) {
  grpc::Status s =
      UploadModel(*stub_, "relu_string", ReluModel(onnx::TensorProto::STRING, onnx::TensorProto::FLOAT), kFp32Config);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("graph input 'x' has element type STRING; q8serve serves numeric tensors"));
  ExpectServes(DataType::kUInt8);
}

}  // namespace
}  // namespace q8::testing
