// Per-command option validation (numbers, ranges, exclusive flags, --input).
#include "client/q8ctl/options.h"

#include <gtest/gtest.h>

namespace q8::client {
namespace {

ParsedArgs Args(std::vector<std::string> args) {
  ParsedArgs out;
  absl::Status status = ParseArgs(args, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

TEST(ClientOptionsTest, DefaultsAndOverrides) {
  absl::StatusOr<ClientOptions> defaults = GetClientOptions(Args({"health"}));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->server, "localhost:8001");
  EXPECT_EQ(defaults->timeout, absl::Seconds(60));
  absl::StatusOr<ClientOptions> set = GetClientOptions(Args({"health", "--server=h:9", "--timeout_seconds", "0.5"}));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->server, "h:9");
  EXPECT_EQ(set->timeout, absl::Milliseconds(500));
  for (const char* bad : {"0", "-1", "x", "inf", "nan"}) {
    EXPECT_FALSE(GetClientOptions(Args({"health", "--timeout_seconds", bad})).ok()) << bad;
  }
  EXPECT_FALSE(GetClientOptions(Args({"health", "--server="})).ok());
}

TEST(UploadOptionsTest, Defaults) {
  absl::StatusOr<UploadOptions> o = GetUploadOptions(Args({"upload", "resnet", "r.onnx"}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->name, "resnet");
  EXPECT_EQ(o->model_path, "r.onnx");
  EXPECT_EQ(o->version, 1);
  EXPECT_FALSE(o->config_path.has_value());
  EXPECT_FALSE(o->max_batch_size.has_value());
}

TEST(UploadOptionsTest, VersionConfigAndBatch) {
  absl::StatusOr<UploadOptions> o =
      GetUploadOptions(Args({"upload", "m", "m.onnx", "--version", "4", "--config", "c.json"}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->version, 4);
  EXPECT_EQ(o->config_path, "c.json");
  absl::StatusOr<UploadOptions> b = GetUploadOptions(Args({"upload", "m", "m.onnx", "--max_batch_size=16"}));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->max_batch_size, 16);
}

TEST(UploadOptionsTest, Errors) {
  EXPECT_EQ(GetUploadOptions(Args({"upload", "m", "m.onnx", "--version", "0"})).status().message(),
            "--version must be >= 1, got 0");
  EXPECT_EQ(GetUploadOptions(Args({"upload", "m", "m.onnx", "--version", "v2"})).status().message(),
            "--version needs an integer, got 'v2'");
  EXPECT_EQ(GetUploadOptions(Args({"upload", "m", "m.onnx", "--max_batch_size", "-2"})).status().message(),
            "--max_batch_size must be >= 0, got -2");
  EXPECT_EQ(GetUploadOptions(Args({"upload", "m", "m.onnx", "--config", "c.json", "--max_batch_size", "2"}))
                .status()
                .message(),
            "give either --config or --max_batch_size, not both");
  EXPECT_FALSE(GetUploadOptions(Args({"upload", "", "m.onnx"})).ok());
}

TEST(UploadOptionsTest, QuantizationFlags) {
  absl::StatusOr<UploadOptions> o = GetUploadOptions(Args({"upload",    "m",
                                                           "m.onnx",    "--quantization",
                                                           "static",    "--method",
                                                           "entropy",   "--percentile",
                                                           "99.9",      "--max_samples",
                                                           "128",       "--metric",
                                                           "agreement", "--max_drop",
                                                           "0.005",     "--eval_fraction",
                                                           "0.3",       "--calibration",
                                                           "x.npy",     "--labels",
                                                           "y.npy"}));
  ASSERT_TRUE(o.ok()) << o.status();
  const QuantizationFlags& q = o->quantization;
  EXPECT_TRUE(q.any());
  EXPECT_EQ(q.mode, "static");
  EXPECT_EQ(q.method, "entropy");
  EXPECT_EQ(q.percentile, 99.9);
  EXPECT_EQ(q.max_samples, 128);
  EXPECT_EQ(q.metric, "agreement");
  EXPECT_EQ(q.max_drop, 0.005);
  EXPECT_EQ(q.eval_fraction, 0.3);
  EXPECT_EQ(o->calibration_path, "x.npy");
  EXPECT_EQ(o->labels_path, "y.npy");
  absl::StatusOr<std::string> config = UploadConfigJson(*o, std::nullopt);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(*config, R"({"quantization":{"accuracy":{"eval_fraction":0.3,"max_drop":0.005,"metric":"agreement"},)"
                     R"("calibration":{"max_samples":128,"method":"entropy","percentile":99.9},"mode":"static"}})");
  // Flags override the file's keys and keep the others.
  config = UploadConfigJson(*o, std::string(R"({"quantization":{"per_channel":false,"mode":"dynamic"}})"));
  ASSERT_TRUE(config.ok());
  EXPECT_NE(config->find(R"("per_channel":false)"), std::string::npos) << *config;
  EXPECT_NE(config->find(R"("mode":"static")"), std::string::npos) << *config;
  EXPECT_EQ(UploadConfigJson(*o, std::string("[1]")).status().code(), absl::StatusCode::kInvalidArgument);
  // Without flags the file goes as is, even if the server will reject it.
  absl::StatusOr<UploadOptions> plain = GetUploadOptions(Args({"upload", "m", "m.onnx"}));
  EXPECT_FALSE(plain->quantization.any());
  EXPECT_EQ(*UploadConfigJson(*plain, std::string("not json")), "not json");
  EXPECT_EQ(*UploadConfigJson(*plain, std::nullopt), "{}");
}

TEST(UploadOptionsTest, FallbackFlagGoesToTheQuantizationSection) {
  absl::StatusOr<UploadOptions> o = GetUploadOptions(Args({"upload", "m", "m.onnx", "--fallback", "bf16"}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->quantization.any());
  EXPECT_EQ(o->quantization.fallback, "bf16");
  absl::StatusOr<std::string> config = UploadConfigJson(*o, std::nullopt);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(*config, R"({"quantization":{"fallback":"bf16"}})");
}

TEST(UploadOptionsTest, QuantizationFlagErrors) {
  EXPECT_EQ(GetUploadOptions(Args({"upload", "m", "m.onnx", "--max_drop", "lots"})).status().message(),
            "--max_drop needs a number, got 'lots'");
  EXPECT_EQ(GetUploadOptions(Args({"upload", "m", "m.onnx", "--percentile", "nan"})).status().message(),
            "--percentile needs a number, got 'nan'");
  EXPECT_EQ(GetUploadOptions(Args({"upload", "m", "m.onnx", "--max_samples", "0"})).status().message(),
            "--max_samples must be >= 1, got 0");
  EXPECT_EQ(GetUploadOptions(Args({"upload", "m", "m.onnx", "--labels", "y.npy"})).status().message(),
            "--labels needs --calibration (the inputs the labels belong to)");
}

TEST(ReportExportOptionsTest, Parse) {
  absl::StatusOr<ReportOptions> r = GetReportOptions(Args({"report", "m", "--json", "--version", "3"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, "m");
  EXPECT_EQ(r->version, 3);
  EXPECT_TRUE(r->json);
  r = GetReportOptions(Args({"report", "m"}));
  EXPECT_EQ(r->version, 0);
  EXPECT_FALSE(r->json);
  absl::StatusOr<ExportOptions> e = GetExportOptions(Args({"export", "m", "out.onnx"}));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->output_path, "out.onnx");
  EXPECT_EQ(e->version, 0);
  EXPECT_FALSE(GetExportOptions(Args({"export", "m", "o.onnx", "--version", "x"})).ok());
}

TEST(InferInputTest, NameOrPath) {
  auto check = [](const std::string& value, const std::string& tensor, const std::string& path) {
    InferInput input = ParseInferInput(value);
    EXPECT_EQ(input.tensor, tensor) << value;
    EXPECT_EQ(input.path, path) << value;
  };
  check("x.npy", "", "x.npy");
  check("input.1=x.npy", "input.1", "x.npy");
  check("data=/tmp/a=b.npy", "data", "/tmp/a=b.npy");
  check("dir/a=b.npy", "", "dir/a=b.npy");
  check("=x.npy", "", "=x.npy");
  check("t=", "t", "");
}

TEST(InferOptionsTest, Defaults) {
  absl::StatusOr<InferOptions> o = GetInferOptions(Args({"infer", "m", "--input", "x.npy"}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->name, "m");
  EXPECT_EQ(o->version, "");
  ASSERT_EQ(o->inputs.size(), 1u);
  EXPECT_EQ(o->inputs[0].tensor, "");
  EXPECT_EQ(o->inputs[0].path, "x.npy");
  EXPECT_FALSE(o->output_path.has_value());
  EXPECT_EQ(o->top_k, 5);
  EXPECT_FALSE(o->typed);
}

TEST(InferOptionsTest, AllFlags) {
  absl::StatusOr<InferOptions> o =
      GetInferOptions(Args({"infer", "m", "--input", "a=x.npy", "--input", "b=y.npy", "--output", "o.npy", "--version",
                            "3", "--top_k", "0", "--typed"}));
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->inputs.size(), 2u);
  EXPECT_EQ(o->inputs[1].tensor, "b");
  EXPECT_EQ(o->output_path, "o.npy");
  EXPECT_EQ(o->version, "3");
  EXPECT_EQ(o->top_k, 0);
  EXPECT_TRUE(o->typed);
}

TEST(InferOptionsTest, Errors) {
  EXPECT_EQ(GetInferOptions(Args({"infer", "m", "--input", "x.npy", "--input", "b=y.npy"})).status().message(),
            "with several --input flags each needs a tensor name: --input NAME=x.npy");
  EXPECT_EQ(GetInferOptions(Args({"infer", "m", "--input", "a=x.npy", "--input", "a=y.npy"})).status().message(),
            "input 'a' given twice");
  EXPECT_EQ(GetInferOptions(Args({"infer", "m", "--input", "a="})).status().message(), "--input 'a=' has no path");
  EXPECT_EQ(GetInferOptions(Args({"infer", "m", "--input", "x", "--top_k", "-1"})).status().message(),
            "--top_k must be >= 0, got -1");
  EXPECT_FALSE(GetInferOptions(Args({"infer", "m", "--input", "x", "--top_k", "five"})).ok());
}

TEST(ModelOptionsTest, NameAndVersion) {
  absl::StatusOr<ModelOptions> m = GetModelOptions(Args({"metadata", "m", "--version", "2"}));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->name, "m");
  EXPECT_EQ(m->version, "2");
  absl::StatusOr<ModelOptions> u = GetModelOptions(Args({"unload", "m"}));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->version, "");
  EXPECT_TRUE(GetListOptions(Args({"list", "--ready"})).ready_only);
  EXPECT_FALSE(GetListOptions(Args({"list"})).ready_only);
}

}  // namespace
}  // namespace q8::client
