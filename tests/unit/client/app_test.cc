// q8ctl end to end against the fake service: exit codes, usage output, the
// "error: <CODE>: <message>" line, and what each command sends and prints.
#include "client/q8ctl/app.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/npy.h"
#include "tests/unit/client/fake_service.h"

namespace q8::client {
namespace {

using fake::FakeServer;
using fake::FakeService;

struct Result {
  int code;
  std::string out;
  std::string err;
};

class AppTest : public ::testing::Test {
 protected:
  Result Run(std::vector<std::string> args) {
    std::ostringstream out, err;
    args.push_back("--server=" + server_.address());
    const int code = RunQ8ctl(args, out, err);
    return {code, out.str(), err.str()};
  }
  std::string TempPath(const std::string& name) {
    return (std::string(::testing::TempDir()) + "/" + name);
  }
  FakeService& service() { return server_.service(); }

  FakeServer server_;
};

TEST_F(AppTest, HelpExitsZeroOnStdout) {
  Result general = Run({"--help"});
  EXPECT_EQ(general.code, 0);
  EXPECT_TRUE(general.err.empty());
  EXPECT_NE(general.out.find("usage: q8ctl <command>"), std::string::npos);
  for (const char* command : {"health", "list", "upload", "infer", "unload", "metadata"}) {
    Result one = Run({command, "--help"});
    EXPECT_EQ(one.code, 0) << command;
    EXPECT_EQ(one.out.rfind(std::string("usage: q8ctl ") + command, 0), 0u) << one.out;
    EXPECT_NE(general.out.find(std::string("usage: q8ctl ") + command), std::string::npos);
  }
  EXPECT_EQ(service().calls, 0);
}

TEST_F(AppTest, UsageErrorsExitTwoOnStderr) {
  Result unknown = Run({"frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_TRUE(unknown.out.empty());
  EXPECT_EQ(unknown.err.rfind("error: unknown command 'frobnicate'\n", 0), 0u) << unknown.err;
  EXPECT_NE(unknown.err.find("usage: q8ctl <command>"), std::string::npos);

  Result missing = Run({"upload", "m"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("usage: q8ctl upload NAME MODEL.onnx"), std::string::npos);

  EXPECT_EQ(Run({}).code, 2);
  EXPECT_EQ(Run({"list", "--timeout_seconds", "0"}).code, 2);
  EXPECT_EQ(Run({"upload", "m", "m.onnx", "--version", "x"}).code, 2);
  EXPECT_EQ(service().calls, 0);
}

TEST_F(AppTest, RpcFailurePrintsCodeAndMessage) {
  service().status = grpc::Status(grpc::StatusCode::NOT_FOUND, "model 'm' not found");
  Result r = Run({"metadata", "m"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: NOT_FOUND: model 'm' not found\n");
}

TEST_F(AppTest, DeadlineErrorSuggestsTimeoutFlag) {
  service().delay = std::chrono::milliseconds(500);
  Result r = Run({"list", "--timeout_seconds", "0.05"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("error: DEADLINE_EXCEEDED: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("raise --timeout_seconds"), std::string::npos);
}

TEST_F(AppTest, Health) {
  service().server_metadata.set_name("q8serve");
  service().server_metadata.set_version("0.1.0");
  service().server_metadata.add_extensions("model_repository");
  service().server_metadata.add_extensions("statistics");
  Result r = Run({"health"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "live:       true\nready:      true\nname:       q8serve\nversion:    0.1.0\n"
            "extensions: model_repository, statistics\n");
  service().ready = false;
  Result not_ready = Run({"health"});
  EXPECT_EQ(not_ready.code, 1);
  EXPECT_EQ(not_ready.err, "error: UNAVAILABLE: server is live but not ready\n");
}

TEST_F(AppTest, ListTable) {
  EXPECT_EQ(Run({"list"}).out, "(no models)\n");
  auto* a = service().index.add_models();
  a->set_name("resnet50");
  a->set_version("1");
  a->set_state("READY");
  auto* b = service().index.add_models();
  b->set_name("bert");
  b->set_version("2");
  b->set_state("UNAVAILABLE");
  b->set_reason("unsupported op: Foo");
  Result r = Run({"list"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out,
            "NAME      VERSION  STATE        REASON\n"
            "resnet50  1        READY        \n"
            "bert      2        UNAVAILABLE  unsupported op: Foo\n");
}

TEST_F(AppTest, UploadSendsFileAndConfig) {
  const std::string model = TempPath("model.onnx");
  std::ofstream(model, std::ios::binary) << std::string("onnx\0bytes", 10);
  Result r = Run({"upload", "mnist", model, "--version", "3", "--max_batch_size", "8"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("uploaded mnist version 3 (0.0 MiB) in ", 0), 0u) << r.out;
  const auto& request = service().last_load_request;
  EXPECT_EQ(request.model_name(), "mnist");
  EXPECT_EQ(request.parameters().at("file:3/model.onnx").bytes_param(), std::string("onnx\0bytes", 10));
  EXPECT_EQ(request.parameters().at("config").string_param(), "{\"max_batch_size\": 8}");

  const std::string config = TempPath("config.json");
  std::ofstream(config) << "{\"max_batch_size\": 4, \"instance_group\": []}";
  ASSERT_EQ(Run({"upload", "mnist", model, "--config", config}).code, 0);
  EXPECT_EQ(service().last_load_request.parameters().at("config").string_param(),
            "{\"max_batch_size\": 4, \"instance_group\": []}");
  EXPECT_EQ(service().last_load_request.parameters().count("file:1/model.onnx"), 1u);

  Result missing = Run({"upload", "mnist", TempPath("nope.onnx")});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err.rfind("error: NOT_FOUND: cannot open ", 0), 0u) << missing.err;
}

TEST_F(AppTest, Unload) {
  Result r = Run({"unload", "mnist"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "unloaded mnist\n");
  EXPECT_EQ(service().last_unload_request.model_name(), "mnist");
}

TEST_F(AppTest, Metadata) {
  auto& m = service().model_metadata;
  m.set_name("mnist");
  m.set_platform("onnx_int8");
  m.add_versions("1");
  m.add_versions("2");
  auto* in = m.add_inputs();
  in->set_name("input.1");
  in->set_datatype("FP32");
  for (int64_t d : {-1, 1, 28, 28}) in->add_shape(d);
  auto* out = m.add_outputs();
  out->set_name("logits");
  out->set_datatype("FP32");
  for (int64_t d : {-1, 10}) out->add_shape(d);
  (*m.mutable_properties())["quantized"] = "int8";
  (*m.mutable_properties())["calibration"] = "minmax";
  Result r = Run({"metadata", "mnist", "--version", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(service().last_metadata_request.version(), "2");
  EXPECT_EQ(r.out,
            "name:     mnist\nplatform: onnx_int8\nversions: 1, 2\n"
            "inputs:\n  input.1  FP32  [-1,1,28,28]\n"
            "outputs:\n  logits  FP32  [-1,10]\n"
            "properties:\n  calibration: minmax\n  quantized: int8\n");
}

class InferTest : public AppTest {
 protected:
  void SetUp() override {
    auto* in = service().model_metadata.add_inputs();
    in->set_name("input.1");
    in->set_datatype("FP32");
    auto& response = service().infer_response;
    response.set_model_name("mnist");
    response.set_model_version("1");
    auto* out = response.add_outputs();
    out->set_name("logits");
    out->set_datatype("FP32");
    out->add_shape(2);
    out->add_shape(3);
    const float scores[] = {0.1f, 2.0f, 1.0f, 5.0f, -1.0f, 0.0f};
    response.add_raw_output_contents(reinterpret_cast<const char*>(scores), sizeof(scores));
    input_ = TempPath("x.npy");
    ASSERT_TRUE(core::WriteNpyFile(input_, core::Tensor::FromFloats({2, 4}, std::vector<float>(8, 0.5f)).view()).ok());
  }
  std::string input_;
};

TEST_F(InferTest, RawByDefaultNameFromMetadataOutputSavedTopK) {
  const std::string output = TempPath("y.npy");
  std::remove(output.c_str());
  Result r = Run({"infer", "mnist", "--input", input_, "--output", output, "--top_k", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto& request = service().last_infer_request;
  EXPECT_EQ(request.model_name(), "mnist");
  ASSERT_EQ(request.inputs_size(), 1);
  EXPECT_EQ(request.inputs(0).name(), "input.1");
  EXPECT_EQ(request.inputs(0).datatype(), "FP32");
  EXPECT_EQ(request.raw_input_contents_size(), 1);
  EXPECT_EQ(request.raw_input_contents(0).size(), 32u);

  absl::StatusOr<core::Tensor> saved = core::ReadNpyFile(output);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->dims(), (core::Dims{2, 3}));
  EXPECT_EQ(saved->span<float>()[3], 5.0f);

  EXPECT_NE(r.out.find("mnist version 1: 1 output(s) in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  logits FP32 [2,3]\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote logits to " + output), std::string::npos);
  EXPECT_NE(r.out.find("row 0: top-2 of 3 classes\n"), std::string::npos);
  EXPECT_NE(r.out.find("     1         1             2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("row 1: top-2 of 3 classes\n"), std::string::npos);
}

TEST_F(InferTest, TypedAndNamedInputsSkipMetadata) {
  Result r = Run({"infer", "mnist", "--input", "data=" + input_, "--typed", "--version", "1", "--top_k", "0"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto& request = service().last_infer_request;
  EXPECT_EQ(request.model_version(), "1");
  EXPECT_EQ(request.inputs(0).name(), "data");
  EXPECT_EQ(request.raw_input_contents_size(), 0);
  EXPECT_EQ(request.inputs(0).contents().fp32_contents_size(), 8);
  EXPECT_EQ(r.out.find("row 0"), std::string::npos);
  EXPECT_EQ(service().calls, 1);  // ModelInfer only
}

TEST_F(InferTest, MultiInputModelNeedsNames) {
  auto* second = service().model_metadata.add_inputs();
  second->set_name("mask");
  Result r = Run({"infer", "mnist", "--input", input_});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "error: INVALID_ARGUMENT: model 'mnist' has 2 inputs (input.1, mask); pass --input TENSOR=X.npy for "
            "each\n");
}

TEST_F(InferTest, BadInputFile) {
  const std::string bad = TempPath("bad.npy");
  std::ofstream(bad) << "not numpy";
  Result r = Run({"infer", "mnist", "--input", bad});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("error: INVALID_ARGUMENT: " + bad + ": ", 0), 0u) << r.err;
  EXPECT_EQ(service().calls, 0);
}

}  // namespace
}  // namespace q8::client
