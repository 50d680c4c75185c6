// The real q8ctl binary against a real q8serve: upload with calibration data
// (streamed, with progress on stderr and the report on stdout), report (table
// and JSON), export to a parseable QDQ ONNX file, infer, and the exit codes of
// a refused upload and a usage error; the precision ladder's --fallback and
// the report's per-layer precision and reason.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "onnx/onnx_pb.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/server_process.h"
#include "tests/integration/tool_runner.h"
#include "tests/testing/hostile_model.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

ToolResult RunQ8ctl(const std::string& server, std::vector<std::string> args, const std::string& tmp) {
  args.push_back("--server=" + server);
  args.push_back("--timeout_seconds=120");
  return RunTool(Q8CTL_BINARY, std::move(args), tmp);
}

void WriteFile(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

TEST(Q8ctlTest, UploadReportExportInferWithTheRealBinary) {
  TestImages();
  const std::string repo = MakeTempDir("q8_ctl");
  const std::string tmp = MakeTempDir("q8_ctl_files");
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo));
  const std::string addr = server.address();
  WriteFile(tmp + "/inputs.npy", CalibrationInputsNpy());
  WriteFile(tmp + "/labels.npy", CalibrationLabelsNpy());
  WriteFile(tmp + "/images.npy", CalibrationInputsNpy(4));
  const std::string model = TestDataPath("fashion_cnn.onnx");

  ToolResult up = RunQ8ctl(addr,
                           {"upload", "cnn", model, "--calibration", tmp + "/inputs.npy", "--labels",
                            tmp + "/labels.npy", "--method", "percentile", "--max_drop", "0.02"},
                           tmp);
  ASSERT_EQ(up.code, 0) << up.out << up.err << server.Log();
  EXPECT_THAT(up.out, HasSubstr("uploaded cnn version 1 in "));
  EXPECT_THAT(up.out, HasSubstr("int8 static, target met (q8serve_onnx_int8)"));
  EXPECT_THAT(up.out, HasSubstr("LAYER"));
  EXPECT_THAT(up.out, HasSubstr("top-1     fp32 "));
  EXPECT_THAT(up.out, HasSubstr("latency batch 16: fp32 "));
  EXPECT_THAT(up.err, HasSubstr("upload: "));
  EXPECT_THAT(up.err, HasSubstr("(100%)"));
  EXPECT_THAT(up.err, HasSubstr("calibration: "));
  EXPECT_THAT(up.err, HasSubstr("benchmark: "));

  ToolResult report = RunQ8ctl(addr, {"report", "cnn"}, tmp);
  ASSERT_EQ(report.code, 0) << report.err;
  EXPECT_THAT(report.out, HasSubstr("model cnn version 1"));
  EXPECT_THAT(report.out, HasSubstr("target met"));
  ToolResult json = RunQ8ctl(addr, {"report", "cnn", "--version", "1", "--json"}, tmp);
  ASSERT_EQ(json.code, 0) << json.err;
  auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.out;
  EXPECT_EQ(parsed["max_drop"], 0.02);
  EXPECT_EQ(parsed["method"], "percentile");

  ToolResult exported = RunQ8ctl(addr, {"export", "cnn", tmp + "/cnn_qdq.onnx"}, tmp);
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_THAT(exported.out, HasSubstr("exported cnn version 1"));
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(ReadFileOrDie(tmp + "/cnn_qdq.onnx")));
  int qdq = 0;
  for (const auto& node : proto.graph().node()) qdq += node.op_type() == "QuantizeLinear";
  EXPECT_GT(qdq, 0);

  ToolResult infer = RunQ8ctl(addr, {"infer", "cnn", "--input", tmp + "/images.npy", "--top_k", "1"}, tmp);
  ASSERT_EQ(infer.code, 0) << infer.err;
  EXPECT_THAT(infer.out, HasSubstr("cnn version 1"));

  // Refused by the server: exit 1 with the code and a hint; usage error: exit 2.
  // Mode auto without data: served at once, and q8ctl says what comes next.
  ToolResult live = RunQ8ctl(addr, {"upload", "live", model}, tmp);
  ASSERT_EQ(live.code, 0) << live.out << live.err;
  EXPECT_THAT(live.out, HasSubstr("now, calibrating (0/512 samples)"));
  EXPECT_THAT(live.out, HasSubstr("no calibration data: serving "));
  EXPECT_THAT(live.out, HasSubstr("the next 512 requests"));
  ToolResult live_report = RunQ8ctl(addr, {"report", "live"}, tmp);
  ASSERT_EQ(live_report.code, 0) << live_report.err;
  EXPECT_THAT(live_report.out, HasSubstr("serving: calibrating (0/512 samples)"));
  ToolResult no_data = RunQ8ctl(addr, {"upload", "nodata", model, "--quantization", "static"}, tmp);
  EXPECT_EQ(no_data.code, 1);
  EXPECT_THAT(no_data.err, HasSubstr("error: FAILED_PRECONDITION: model 'nodata' version 1: static quantization"));
  EXPECT_THAT(no_data.err, HasSubstr("--calibration"));
  ToolResult bad_mode = RunQ8ctl(addr, {"upload", "badmode", model, "--quantization", "int4"}, tmp);
  EXPECT_EQ(bad_mode.code, 1);
  EXPECT_THAT(bad_mode.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(bad_mode.err, HasSubstr("quantization.mode"));
  ToolResult usage = RunQ8ctl(addr, {"upload", "x", model, "--labels", tmp + "/labels.npy"}, tmp);
  EXPECT_EQ(usage.code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--labels needs --calibration"));
  EXPECT_FALSE(fs::exists(fs::path(repo) / "nodata"));
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

// An int8-hostile conv (tests/testing/hostile_model.h) leaves int8; on a CPU
// with bf16 compute `--fallback bf16` puts it in bf16 (`auto` would choose
// fp32 for a conv this small, engine/quant/bf16_speed.h), and the report
// (table and JSON, over gRPC) says which precision and why, and that the
// model is mixed. A bad value is refused.
TEST(Q8ctlTest, FallbackLadderShowsBf16LayerInTheReport) {
  const std::string repo = MakeTempDir("q8_ctl_ladder");
  const std::string tmp = MakeTempDir("q8_ctl_ladder_files");
  ServerProcess server;
  ASSERT_TRUE(server.Start(repo));
  const std::string addr = server.address();
  const int64_t n = 400;
  WriteFile(tmp + "/model.onnx", HostileConvModel());
  WriteFile(tmp + "/inputs.npy",
            NpyBytes(core::Tensor::FromFloats({n, kHostileChannels, kHostileSide, kHostileSide}, HostileSamples(n))));
  const std::vector<std::string> common = {"--calibration", tmp + "/inputs.npy", "--metric",
                                           "agreement",     "--eval_fraction",   "0.5"};
  std::vector<std::string> bad = {"upload", "badfallback", tmp + "/model.onnx", "--fallback", "fp16"};
  bad.insert(bad.end(), common.begin(), common.end());
  ToolResult refused = RunQ8ctl(addr, bad, tmp);
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(refused.err, HasSubstr("quantization.fallback"));

  std::vector<std::string> up = {"upload", "ladder", tmp + "/model.onnx", "--fallback", "bf16"};
  up.insert(up.end(), common.begin(), common.end());
  ToolResult uploaded = RunQ8ctl(addr, up, tmp);
  ASSERT_EQ(uploaded.code, 0) << uploaded.out << uploaded.err << server.Log();
  ToolResult json = RunQ8ctl(addr, {"report", "ladder", "--json"}, tmp);
  ASSERT_EQ(json.code, 0) << json.err;
  auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.out;
  EXPECT_EQ(parsed["fallback"], "bf16");
  EXPECT_EQ(parsed["precision"], "mixed") << json.out;
  EXPECT_EQ(parsed["precision_layers"]["int8"], 2) << json.out;
  EXPECT_EQ(parsed["target_met"], true) << json.out;
  // The rung this CPU offers: bf16 with AVX512-BF16 / AMX, else fp32.
  const std::string rung = parsed["fallback_resolved"].get<std::string>();
  nlohmann::json hostile;
  for (const auto& l : parsed["layers"]) {
    if (l["node"] == "hostile") hostile = l;
  }
  ASSERT_TRUE(hostile.is_object()) << json.out;
  EXPECT_EQ(hostile["precision"], rung) << json.out;
  EXPECT_THAT(hostile["reason"].get<std::string>(), HasSubstr(rung + ": int8 failed the accuracy check (drop "));
  ToolResult table = RunQ8ctl(addr, {"report", "ladder"}, tmp);
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("WHY"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("hostile +Conv +" + rung + " .*int8 failed the accuracy check"));
  EXPECT_THAT(table.out, HasSubstr("fallback: bf16 (first rung on this CPU: " + rung + ")"));
  EXPECT_THAT(table.out,
              HasSubstr("precision: mixed (2 int8, " +
                        std::string(rung == "bf16" ? "1 bf16, 0 fp32" : "0 bf16, 1 fp32") + " weighted layers)"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("weights: fp32 .* -> served .*: int8 [0-9.]+ MiB, bf16 "));
  if (rung == "bf16") {
    EXPECT_THAT(table.out, HasSubstr("fallback to bf16: hostile"));
  }
  EXPECT_EQ(server.Stop(), 0) << server.Log();
}

}  // namespace
}  // namespace q8::testing
