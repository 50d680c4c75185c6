// The default --execution_preset=auto through a real server with a 2-CPU
// budget: the Fashion CNN (tens of microseconds per run) gets one
// single-threaded stream per CPU, a convolution model costing tens of
// milliseconds per run (ResNet-50 sized) one stream using both CPUs; the
// metadata says why. A model's own preset still wins over auto.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/server_process.h"
#include "tests/integration/shared_server_suite.h"
#include "tests/testing/onnx_builder.h"

namespace q8::testing {
namespace {

using ::testing::StartsWith;

// Two 3x3 convolutions 64 -> 256 -> 64 over 112x112: 7.4 GFLOP per image in
// fp32; the auto rule gives 2 threads from 8 ms on. At 56x56 (1.85 GFLOP) it
// took 7.4 ms on one AVX-512 core of a 2026-12 CI machine and got 1 thread:
// the size keeps a 4x margin over the fastest core seen.
constexpr int64_t kSide = 112;
std::string ExpensiveConvModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 64, kSide, kSide}).Output("y");
  b.RandomInitializer("w1", {256, 64, 3, 3}, -0.05f, 0.05f).RandomInitializer("b1", {256});
  b.RandomInitializer("w2", {64, 256, 3, 3}, -0.05f, 0.05f).RandomInitializer("b2", {64});
  for (const char* conv : {"c1", "c2"}) {
    const bool first = std::string(conv) == "c1";
    auto& n = b.Node("Conv", {first ? "x" : "r1", first ? "w1" : "w2", first ? "b1" : "b2"}, {first ? "h1" : "y"});
    OnnxBuilder::AttrInts(n, "kernel_shape", {3, 3});
    OnnxBuilder::AttrInts(n, "pads", {1, 1, 1, 1});
    if (first) b.Node("Relu", {"h1"}, {"r1"});
  }
  return b.Serialize();
}

class ExecutionLayoutTest : public SharedServerSuite<ExecutionLayoutTest> {
 public:
  static constexpr char kRepoPrefix[] = "q8_execution_layout";
  // No --execution_preset: auto is the default.
  static std::vector<std::string> ServerFlags() { return {"--cpus=2", "--shadow_fraction=0"}; }
  static void PrepareServer(ServerProcess& server) {
    const std::string cnn = ReadFileOrDie(TestDataPath("fashion_cnn.onnx"));
    for (const auto& [name, bytes, config] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"small", cnn, kFp32Config},
             {"large", ExpensiveConvModel(), R"({"max_batch_size":4,"quantization":{"mode":"none"}})"},
             {"small_latency", cnn, R"({"quantization":{"mode":"none"},"execution":{"preset":"latency"}})"}}) {
      grpc::Status s = UploadModel(*server.Stub(), name, bytes, config);
      ASSERT_TRUE(s.ok()) << name << ": " << s.error_message() << "\n" << server.Log();
    }
  }

 protected:
  std::map<std::string, std::string> Properties(const std::string& model) {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name(model);
    inference::ModelMetadataResponse resp;
    grpc::Status s = stub_->ModelMetadata(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.properties().begin(), resp.properties().end()};
  }
};

TEST_F(ExecutionLayoutTest, SmallModelGetsOneSingleThreadedStreamPerCpu) {
  auto props = Properties("small");
  EXPECT_EQ(props["execution_streams"], "2");
  EXPECT_EQ(props["threads_per_stream"], "1");
  EXPECT_THAT(props["execution_layout"], StartsWith("auto: 2 x 1 from a "));
}

TEST_F(ExecutionLayoutTest, LargeModelGetsOneStreamUsingBothCpus) {
  auto props = Properties("large");
  EXPECT_EQ(props["execution_streams"], "1");
  EXPECT_EQ(props["threads_per_stream"], "2");
  EXPECT_THAT(props["execution_layout"], StartsWith("auto: 1 x 2 from a "));
}

TEST_F(ExecutionLayoutTest, ModelsOwnPresetWinsOverAuto) {
  auto props = Properties("small_latency");
  EXPECT_EQ(props["execution_streams"], "1");
  EXPECT_EQ(props["threads_per_stream"], "2");
  EXPECT_EQ(props.count("execution_layout"), 0u);
}

// Both still answer: the streams were warmed up at the chosen thread counts.
TEST_F(ExecutionLayoutTest, BothServeAfterTheChoice) {
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(*stub_, ImageRequest("small", TestImages(), 0, 1, true), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_NEAR(Logits(resp)[0], GoldenLogits().span<float>()[0], 1e-3);

  inference::ModelInferRequest req;
  req.set_model_name("large");
  auto* in = req.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  for (int64_t d : {int64_t{1}, int64_t{64}, kSide, kSide}) in->add_shape(d);
  req.add_raw_input_contents(std::string(sizeof(float) * 64 * kSide * kSide, '\0'));
  s = Infer(*stub_, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.outputs_size(), 1);
  EXPECT_THAT(resp.outputs(0).shape(), ::testing::ElementsAre(1, 64, kSide, kSide));
}

}  // namespace
}  // namespace q8::testing
