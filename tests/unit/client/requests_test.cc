// Upload parameters, infer request building (raw vs typed) and output decoding.
#include "client/q8ctl/requests.h"

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace q8::client {
namespace {

using core::DataType;
using core::Tensor;

TEST(LoadRequestTest, ParameterNamesAndValues) {
  EXPECT_EQ(ModelFileParameter(1), "file:1/model.onnx");
  EXPECT_EQ(ModelFileParameter(42), "file:42/model.onnx");

  const inference::RepositoryModelLoadRequest request =
      BuildLoadRequest("resnet", 3, std::string("\x08\x01onnx\0bytes", 12), "{\"max_batch_size\": 8}");
  EXPECT_EQ(request.model_name(), "resnet");
  EXPECT_EQ(request.repository_name(), "");
  ASSERT_EQ(request.parameters().size(), 2u);
  const auto& file = request.parameters().at("file:3/model.onnx");
  ASSERT_EQ(file.parameter_choice_case(), inference::ModelRepositoryParameter::kBytesParam);
  EXPECT_EQ(file.bytes_param(), std::string("\x08\x01onnx\0bytes", 12));
  const auto& config = request.parameters().at("config");
  ASSERT_EQ(config.parameter_choice_case(), inference::ModelRepositoryParameter::kStringParam);
  EXPECT_EQ(config.string_param(), "{\"max_batch_size\": 8}");
}

TEST(LoadRequestTest, DefaultConfig) {
  EXPECT_EQ(DefaultConfigJson(std::nullopt), "{}");
  EXPECT_EQ(DefaultConfigJson(0), "{\"max_batch_size\": 0}");
  EXPECT_EQ(DefaultConfigJson(32), "{\"max_batch_size\": 32}");
}

Tensor Floats() { return Tensor::FromFloats({2, 3}, std::vector<float>{1.5f, -2, 3, 4, 5, 6.25f}); }

TEST(InferRequestTest, RawContents) {
  const Tensor x = Floats();
  absl::StatusOr<inference::ModelInferRequest> request =
      BuildInferRequest("m", "2", {NamedInput{"input.1", x.view()}}, ContentMode::kRaw);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->model_name(), "m");
  EXPECT_EQ(request->model_version(), "2");
  ASSERT_EQ(request->inputs_size(), 1);
  const auto& input = request->inputs(0);
  EXPECT_EQ(input.name(), "input.1");
  EXPECT_EQ(input.datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(input.shape().begin(), input.shape().end()), (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(input.has_contents());
  ASSERT_EQ(request->raw_input_contents_size(), 1);
  ASSERT_EQ(request->raw_input_contents(0).size(), 24u);
  EXPECT_EQ(std::memcmp(request->raw_input_contents(0).data(), x.data(), 24), 0);
  EXPECT_EQ(request->outputs_size(), 0);  // all outputs
}

TEST(InferRequestTest, TypedFp32) {
  const Tensor x = Floats();
  absl::StatusOr<inference::ModelInferRequest> request =
      BuildInferRequest("m", "", {NamedInput{"x", x.view()}}, ContentMode::kTyped);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->raw_input_contents_size(), 0);
  const auto& contents = request->inputs(0).contents();
  EXPECT_EQ(std::vector<float>(contents.fp32_contents().begin(), contents.fp32_contents().end()),
            (std::vector<float>{1.5f, -2, 3, 4, 5, 6.25f}));
  EXPECT_EQ(contents.int_contents_size(), 0);
}

TEST(InferRequestTest, TypedFieldPerDatatype) {
  Tensor i64(DataType::kInt64, {2});
  i64.span<int64_t>()[1] = -7;
  Tensor u8(DataType::kUInt8, {3});
  u8.span<uint8_t>()[2] = 200;
  Tensor i8(DataType::kInt8, {1});
  i8.span<int8_t>()[0] = -5;
  Tensor b(DataType::kBool, {2});
  b.span<bool>()[0] = true;
  absl::StatusOr<inference::ModelInferRequest> request = BuildInferRequest(
      "m", "",
      {NamedInput{"a", i64.view()}, NamedInput{"b", u8.view()}, NamedInput{"c", i8.view()},
       NamedInput{"d", b.view()}},
      ContentMode::kTyped);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->inputs_size(), 4);
  EXPECT_EQ(request->inputs(0).datatype(), "INT64");
  EXPECT_EQ(request->inputs(0).contents().int64_contents(1), -7);
  EXPECT_EQ(request->inputs(1).datatype(), "UINT8");
  EXPECT_EQ(request->inputs(1).contents().uint_contents(2), 200u);
  EXPECT_EQ(request->inputs(2).datatype(), "INT8");
  EXPECT_EQ(request->inputs(2).contents().int_contents(0), -5);
  EXPECT_EQ(request->inputs(3).datatype(), "BOOL");
  EXPECT_TRUE(request->inputs(3).contents().bool_contents(0));
}

TEST(InferRequestTest, RawKeepsInputOrder) {
  const Tensor a = Tensor::FromFloats({1}, std::vector<float>{1});
  Tensor b(DataType::kInt64, {2});
  absl::StatusOr<inference::ModelInferRequest> request =
      BuildInferRequest("m", "", {NamedInput{"a", a.view()}, NamedInput{"b", b.view()}}, ContentMode::kRaw);
  ASSERT_TRUE(request.ok());
  ASSERT_EQ(request->raw_input_contents_size(), 2);
  EXPECT_EQ(request->raw_input_contents(0).size(), 4u);
  EXPECT_EQ(request->raw_input_contents(1).size(), 16u);
  EXPECT_EQ(request->inputs(1).datatype(), "INT64");
}

TEST(InferRequestTest, Fp16OnlyRaw) {
  const Tensor h(DataType::kFloat16, {4});
  EXPECT_TRUE(BuildInferRequest("m", "", {NamedInput{"h", h.view()}}, ContentMode::kRaw).ok());
  absl::StatusOr<inference::ModelInferRequest> typed =
      BuildInferRequest("m", "", {NamedInput{"h", h.view()}}, ContentMode::kTyped);
  EXPECT_EQ(typed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(typed.status().message().find("FP16"), absl::string_view::npos);
}

inference::ModelInferResponse OneOutput(const std::string& datatype, std::vector<int64_t> shape) {
  inference::ModelInferResponse response;
  auto* out = response.add_outputs();
  out->set_name("y");
  out->set_datatype(datatype);
  for (int64_t d : shape) out->add_shape(d);
  return response;
}

TEST(DecodeOutputTest, Raw) {
  inference::ModelInferResponse response = OneOutput("FP32", {1, 2});
  const float values[] = {0.5f, -1};
  response.add_raw_output_contents(reinterpret_cast<const char*>(values), sizeof(values));
  absl::StatusOr<Tensor> t = DecodeOutput(response, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DataType::kFloat32);
  EXPECT_EQ(t->dims(), (core::Dims{1, 2}));
  EXPECT_EQ(t->span<float>()[1], -1.0f);
}

TEST(DecodeOutputTest, Typed) {
  inference::ModelInferResponse response = OneOutput("INT64", {3});
  for (int64_t v : {4, 5, 6}) response.mutable_outputs(0)->mutable_contents()->add_int64_contents(v);
  absl::StatusOr<Tensor> t = DecodeOutput(response, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->span<int64_t>()[2], 6);
}

TEST(DecodeOutputTest, Errors) {
  inference::ModelInferResponse raw = OneOutput("FP32", {2});
  raw.add_raw_output_contents(std::string(7, '\0'));
  EXPECT_EQ(DecodeOutput(raw, 0).status().code(), absl::StatusCode::kInvalidArgument);  // size
  EXPECT_EQ(DecodeOutput(raw, 1).status().code(), absl::StatusCode::kNotFound);         // index

  inference::ModelInferResponse typed = OneOutput("FP32", {2});
  typed.mutable_outputs(0)->mutable_contents()->add_fp32_contents(1);
  EXPECT_EQ(DecodeOutput(typed, 0).status().code(), absl::StatusCode::kInvalidArgument);  // count

  EXPECT_EQ(DecodeOutput(OneOutput("FLOAT", {1}), 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeOutput(OneOutput("BYTES", {1}), 0).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(DecodeOutput(OneOutput("FP32", {-1, 2}), 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DecodeOutputTest, RoundTripThroughRequestBuilderBlob) {
  const Tensor x = Floats();
  absl::StatusOr<inference::ModelInferRequest> request =
      BuildInferRequest("m", "", {NamedInput{"x", x.view()}}, ContentMode::kRaw);
  ASSERT_TRUE(request.ok());
  inference::ModelInferResponse response = OneOutput("FP32", {2, 3});
  response.add_raw_output_contents(request->raw_input_contents(0));
  absl::StatusOr<Tensor> y = DecodeOutput(response, 0);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(std::memcmp(y->data(), x.data(), x.byte_size()), 0);
}

}  // namespace
}  // namespace q8::client
