// q8ctl end to end against the fake service: exit codes, usage output, the
// "error: <CODE>: <message>" line, and what each command sends and prints.
#include "client/q8ctl/app.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/npy.h"
#include "tests/unit/client/fake_service.h"

namespace q8::client {
namespace {

using fake::FakeModelService;
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
  std::string TempPath(const std::string& name) { return (std::string(::testing::TempDir()) + "/" + name); }
  FakeService& service() { return server_.service(); }

  FakeServer server_;
};

TEST_F(AppTest, HelpExitsZeroOnStdout) {
  Result general = Run({"--help"});
  EXPECT_EQ(general.code, 0);
  EXPECT_TRUE(general.err.empty());
  EXPECT_NE(general.out.find("usage: q8ctl <command>"), std::string::npos);
  for (const char* command : {"health", "list", "upload", "report", "export", "infer", "unload", "metadata"}) {
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

TEST_F(AppTest, UploadStreamsFilesAndConfig) {
  const std::string model = TempPath("model.onnx");
  std::ofstream(model, std::ios::binary) << std::string("onnx\0bytes", 10);
  FakeModelService& ms = server_.model_service();
  ms.result.set_model_name("mnist");
  ms.result.set_version(3);
  ms.result.set_platform("q8serve_onnx_fp32");
  ms.result.set_summary("fp32 (quantization mode none)");
  Result r = Run({"upload", "mnist", model, "--version", "3", "--max_batch_size", "8", "--quantization", "none"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("uploaded mnist version 3 in ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("fp32 (quantization mode none) (q8serve_onnx_fp32)"), std::string::npos) << r.out;
  EXPECT_EQ(ms.last_header.model_name(), "mnist");
  EXPECT_EQ(ms.last_header.version(), 3);
  EXPECT_EQ(ms.last_header.total_bytes(), 10);
  EXPECT_EQ(ms.last_files.at("model.onnx"), std::string("onnx\0bytes", 10));
  EXPECT_EQ(ms.last_header.config_json(), R"({"max_batch_size":8,"quantization":{"mode":"none"}})");
  EXPECT_NE(r.err.find("upload: 0.00 / 0.00 MiB received (100%)"), std::string::npos) << r.err;

  // --config is sent as is without quantization flags, merged with them.
  const std::string config = TempPath("config.json");
  std::ofstream(config) << "{\"max_batch_size\": 4, \"instance_group\": []}";
  ASSERT_EQ(Run({"upload", "mnist", model, "--config", config}).code, 0);
  EXPECT_EQ(ms.last_header.config_json(), "{\"max_batch_size\": 4, \"instance_group\": []}");
  EXPECT_EQ(ms.last_header.version(), 1);
  ASSERT_EQ(Run({"upload", "mnist", model, "--config", config, "--method", "mse", "--max_drop", "0.02", "--max_samples",
                 "100"})
                .code,
            0);
  EXPECT_EQ(ms.last_header.config_json(),
            R"({"instance_group":[],"max_batch_size":4,"quantization":{"accuracy":{"max_drop":0.02},)"
            R"("calibration":{"max_samples":100,"method":"mse"}}})");

  Result missing = Run({"upload", "mnist", TempPath("nope.onnx")});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err.rfind("error: NOT_FOUND: cannot open ", 0), 0u) << missing.err;
}

TEST_F(AppTest, UploadWithCalibrationShowsProgressAndReport) {
  const std::string model = TempPath("model.onnx");
  std::ofstream(model, std::ios::binary) << std::string(3 << 20, 'm');  // 3 chunks
  const std::string inputs = TempPath("inputs.npy"), labels = TempPath("labels.npy");
  std::ofstream(inputs, std::ios::binary) << "xx";
  std::ofstream(labels, std::ios::binary) << "yy";
  FakeModelService& ms = server_.model_service();
  for (auto [stage, done] : {std::pair{"calibration", 1}, std::pair{"calibration", 2}, std::pair{"benchmark", 1}}) {
    q8serve::v1::UploadEvent e;
    e.mutable_progress()->set_stage(stage);
    e.mutable_progress()->set_done(done);
    e.mutable_progress()->set_total(2);
    ms.progress.push_back(e);
  }
  ms.result.set_model_name("cnn");
  ms.result.set_version(1);
  ms.result.set_platform("q8serve_onnx_int8");
  ms.result.set_summary("int8 static, target met");
  ms.result.set_report_json(R"({"mode":"static","method":"percentile","eval_samples":60,"target_met":true,
      "metric":"top1","has_labels":true,"fp32_top1":0.9,"int8_top1":0.9,"agreement":1,"drop":0,"max_drop":0.01,
      "layers":[{"node":"conv1","op":"Conv","precision":"int8","sqnr_db":35.5}],"weight_bytes_fp32":4000,
      "weight_bytes_int8":1000,"latency_fp32_b1_ms":0.2,"latency_int8_b1_ms":0.1,"isa":"avx2"})");
  Result r = Run({"upload", "cnn", model, "--calibration", inputs, "--labels", labels});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ms.chunks, 5);
  EXPECT_EQ(ms.last_files.at("calibration/inputs.npy"), "xx");
  EXPECT_EQ(ms.last_files.at("calibration/labels.npy"), "yy");
  EXPECT_FALSE(ms.last_header.has_config_json() && ms.last_header.config_json() != "{}");
  EXPECT_NE(r.err.find("calibration: 1/2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("benchmark: 1/2"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("int8 static, target met (q8serve_onnx_int8)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("conv1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("35.5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("latency batch 1:  fp32 0.200 ms, int8 0.100 ms (2.00x)"), std::string::npos) << r.out;

  ms.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "static quantization needs calibration data");
  Result refused = Run({"upload", "cnn", model});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("error: FAILED_PRECONDITION: static quantization needs calibration data [q8ctl: "
                             "pass --calibration"),
            std::string::npos)
      << refused.err;
}

// An .npz (several inputs / shape groups) goes up as calibration/inputs.npz.
TEST_F(AppTest, UploadSendsNpzCalibrationAsInputsNpz) {
  const std::string model = TempPath("model.onnx"), inputs = TempPath("text.npz");
  std::ofstream(model, std::ios::binary) << "m";
  std::ofstream(inputs, std::ios::binary) << "zz";
  FakeModelService& ms = server_.model_service();
  ms.result.set_model_name("text");
  ms.result.set_report_json(R"({"mode":"static","layers":[]})");
  Result r = Run({"upload", "text", model, "--calibration", inputs});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ms.last_files.at("calibration/inputs.npz"), "zz");
  EXPECT_EQ(ms.last_files.count("calibration/inputs.npy"), 0u);
}

TEST_F(AppTest, ReportAndExport) {
  FakeModelService& ms = server_.model_service();
  ms.report_json = R"({"mode":"dynamic","layers":[]})";
  Result json = Run({"report", "cnn", "--json", "--version", "4"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(json.out, ms.report_json + "\n");
  EXPECT_EQ(ms.last_report_request.version(), 4);
  Result table = Run({"report", "cnn"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("model cnn version 1\nquantization: dynamic, target not checked", 0), 0u) << table.out;
  EXPECT_EQ(ms.last_report_request.version(), 0);

  const std::string skipped = "node 'fc2' (MatMul): input 'g': produced by node 'gelu' (Gelu)";
  ms.report_json = absl::StrCat(
      R"json({"mode":"static","smoothing":[{"tensor":"ln1","folded_into":"node 'ln1' (LayerNormalization)",)json",
      R"json("matmuls":["q","k","v"],"alpha":0.5,"absmax_before":155.7,"absmax_after":6.73,)json",
      R"json("median_before":3.3,"median_after":0.98}],"smoothing_skipped":[")json", skipped, "\"]}");
  Result smoothed = Run({"report", "cnn"});
  ASSERT_EQ(smoothed.code, 0) << smoothed.err;
  EXPECT_NE(smoothed.out.find("smoothquant:\n  SMOOTHED TENSOR"), std::string::npos) << smoothed.out;
  EXPECT_NE(smoothed.out.find("q,k,v"), std::string::npos) << smoothed.out;
  EXPECT_NE(smoothed.out.find("156 -> 6.73"), std::string::npos) << smoothed.out;
  EXPECT_NE(smoothed.out.find("  not smoothed: " + skipped + "\n"), std::string::npos) << smoothed.out;

  ms.exported = "0123456789";
  const std::string out = TempPath("out.onnx");
  Result exported = Run({"export", "cnn", out});
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_EQ(exported.out, "exported cnn version 2 as QDQ ONNX to " + out + " (10 bytes)\n");
  std::ifstream in(out, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "0123456789");

  ms.report_json = "nope";
  Result bad = Run({"report", "cnn"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "error: INVALID_ARGUMENT: the quantization report is not a JSON object\n");

  ms.status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no report");
  EXPECT_EQ(Run({"report", "cnn"}).code, 1);
  EXPECT_EQ(Run({"export", "cnn", out}).code, 1);
  EXPECT_EQ(Run({"export", "cnn"}).code, 2);
  EXPECT_EQ(Run({"report", "cnn", "--version", "0"}).code, 2);
}

// `q8ctl report` shows what cross-layer equalization changed, pair by pair.
TEST_F(AppTest, ReportShowsEqualizedPairs) {
  FakeModelService& ms = server_.model_service();
  ms.report_json = R"({"mode":"static","layers":[],"equalization":"auto","equalized":true,"equalization_sweeps":12,
      "equalized_pairs":[{"first":"/0/Conv","second":"/3/Conv","depthwise":true,"scale_min":0.25,"scale_max":9.5,
      "first_weight_spread_before":812.4,"first_weight_spread_after":30.2,"second_weight_spread_before":1.5,
      "second_weight_spread_after":30.2,"activation_spread_before":95.0,"activation_spread_after":4.25}]})";
  Result table = Run({"report", "cnn"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("equalization: auto (1 conv pairs, 12 sweeps)\n"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("/0/Conv -> /3/Conv  0.25..9.5  812.4 -> 30.2  1.5 -> 30.2  95.0 -> 4.2"), std::string::npos)
      << table.out;
  ms.report_json = R"({"mode":"static","layers":[],"equalization":"auto","equalized":false})";
  table = Run({"report", "cnn"});
  EXPECT_NE(
      table.out.find("equalization: auto (not applied: auto equalizes per-tensor weights with a depthwise conv pair)"),
      std::string::npos)
      << table.out;
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
