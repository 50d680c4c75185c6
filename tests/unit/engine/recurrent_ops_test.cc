// LSTM/GRU/RNN and Resize beyond the numerics of the conformance and PyTorch
// tests: a reverse LSTM equals a forward one over the time-reversed input;
// quantization keeps a model's Gemm head int8 while its LSTM stays f32; and
// what oneDNN cannot compute is refused at load with a message naming node,
// op and reason.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "absl/strings/match.h"
#include "engine/compiler.h"
#include "engine/export/qdq_exporter.h"
#include "engine/quantize.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

core::Tensor RandomTensor(const core::Dims& dims, uint32_t seed) {
  core::Tensor t(core::DataType::kFloat32, dims);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (float& v : t.span<float>()) v = uniform(rng);
  return t;
}

// LSTM over X [T=4, N=2, I=3], hidden 5, same seeded weights for any direction.
std::string Lstm(const std::string& direction) {
  OnnxBuilder b(14, 7);
  b.Input("x", {4, 2, 3}).RandomInitializer("w", {1, 20, 3}).RandomInitializer("r", {1, 20, 5});
  b.RandomInitializer("b", {1, 40}).Output("y").Output("y_h").Output("y_c");
  auto& n = b.Node("LSTM", {"x", "w", "r", "b"}, {"y", "y_h", "y_c"}, "lstm");
  OnnxBuilder::AttrInt(n, "hidden_size", 5);
  OnnxBuilder::AttrString(n, "direction", direction);
  return b.Serialize();
}

TEST(RecurrentOpsTest, ReverseLstmEqualsForwardOverReversedTime) {
  auto forward = Compile(Lstm("forward"));
  auto reverse = Compile(Lstm("reverse"));
  ASSERT_TRUE(forward.ok()) << forward.status();
  ASSERT_TRUE(reverse.ok()) << reverse.status();
  const core::Tensor x = RandomTensor({4, 2, 3}, 1);
  core::Tensor flipped(core::DataType::kFloat32, {4, 2, 3});
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 6; ++i) flipped.span<float>()[t * 6 + i] = x.span<float>()[(3 - t) * 6 + i];
  }
  auto r = (*reverse)->Run({x.view()});
  auto f = (*forward)->Run({flipped.view()});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ((*r)[0].dims(), (core::Dims{4, 1, 2, 5}));
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 10; ++i) {
      EXPECT_NEAR((*r)[0].span<float>()[t * 10 + i], (*f)[0].span<float>()[(3 - t) * 10 + i], 1e-6) << t;
    }
  }
  for (int k = 1; k < 3; ++k) {
    for (int i = 0; i < 10; ++i) EXPECT_NEAR((*r)[k].span<float>()[i], (*f)[k].span<float>()[i], 1e-6) << k;
  }
  // And the direction matters: the forward LSTM over the same input differs.
  auto same = (*forward)->Run({x.view()});
  ASSERT_TRUE(same.ok());
  float diff = 0;
  for (int i = 0; i < 10; ++i) diff = std::max(diff, std::abs((*same)[1].span<float>()[i] - (*r)[1].span<float>()[i]));
  EXPECT_GT(diff, 1e-3);
}

TEST(RecurrentOpsTest, QuantizationKeepsGemmHeadInt8AndLstmF32) {
  // X [N, T=6, I=8] (layout=1) -> LSTM (hidden 16) -> Y [N, 6, 1, 16] -> [N, 96] -> Gemm -> [N, 4].
  OnnxBuilder b(14);
  b.Input("x", {-1, 6, 8}).RandomInitializer("w", {1, 64, 8}).RandomInitializer("r", {1, 64, 16});
  b.RandomInitializer("fc_w", {4, 96}).RandomInitializer("fc_b", {4}).Int64Initializer("shape", {2}, {0, -1});
  b.Output("y");
  auto& lstm = b.Node("LSTM", {"x", "w", "r"}, {"seq"}, "lstm");
  OnnxBuilder::AttrInt(lstm, "hidden_size", 16);
  OnnxBuilder::AttrInt(lstm, "layout", 1);
  b.Node("Reshape", {"seq", "shape"}, {"flat"}, "flatten");
  OnnxBuilder::AttrInt(b.Node("Gemm", {"flat", "fc_w", "fc_b"}, {"y"}, "head"), "transB", 1);
  const std::string onnx = b.Serialize();
  auto fp32 = Compile(onnx);
  ASSERT_TRUE(fp32.ok()) << fp32.status();

  CalibrationData data;
  data.inputs = RandomTensor({64, 6, 8}, 3);
  QuantizationOptions options;
  options.max_drop = 1.0;
  auto result = Quantize(onnx, {}, options, &data);
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<std::string, std::string> precision;
  for (const auto& l : result->report.layers) precision[l.node] = l.precision;
  EXPECT_EQ(precision["head"], "int8");
  EXPECT_EQ(precision.count("lstm"), 0u) << "the LSTM is not a quantizable layer";
  auto prims = result->model->Primitives(4);
  ASSERT_TRUE(prims.ok()) << prims.status();
  int lstm_steps = 0;
  for (const auto& p : *prims) {
    if (p.node != "lstm") continue;
    ++lstm_steps;
    EXPECT_EQ(p.impl.find("ref"), std::string::npos) << p.impl;
  }
  EXPECT_EQ(lstm_steps, 1);

  const core::Tensor x = RandomTensor({4, 6, 8}, 4);
  auto want = (*fp32)->Run({x.view()});
  auto got = result->model->Run({x.view()});
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_TRUE(got.ok()) << got.status();
  float scale = 0, diff = 0;
  for (size_t i = 0; i < 16; ++i) {
    scale = std::max(scale, std::abs((*want)[0].span<float>()[i]));
    diff = std::max(diff, std::abs((*want)[0].span<float>()[i] - (*got)[0].span<float>()[i]));
  }
  EXPECT_LE(diff, 0.05f * scale) << "int8 head drifts from fp32: " << diff << " vs scale " << scale;

  // The QDQ export cannot state the LSTM yet: refused, naming the node.
  auto qdq = ExportQdqOnnx(onnx, result->artifact);
  ASSERT_FALSE(qdq.ok());
  EXPECT_EQ(qdq.status().code(), absl::StatusCode::kUnimplemented) << qdq.status();
  EXPECT_TRUE(absl::StrContains(qdq.status().message(), "node 'lstm' (LSTM)")) << qdq.status();
}

// The message of Compile's error, which must be INVALID_ARGUMENT.
std::string Refusal(const std::string& onnx) {
  auto model = Compile(onnx);
  if (model.ok()) return "compiled";
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  return std::string(model.status().message());
}

TEST(RecurrentOpsTest, RefusesWhatOneDnnCannotComputeWithTheReason) {
  auto lstm = [](auto&& edit, bool runtime_weights = false) {
    OnnxBuilder b(14);
    b.Input("x", {4, 2, 3});
    if (runtime_weights) {
      b.Input("w", {1, 20, 3});
    } else {
      b.RandomInitializer("w", {1, 20, 3});
    }
    b.RandomInitializer("r", {1, 20, 5}).Output("y");
    auto& n = b.Node("LSTM", {"x", "w", "r"}, {"y"}, "lstm");
    edit(b, n);
    return b.Serialize();
  };
  auto none = [](OnnxBuilder&, onnx::NodeProto&) {};
  EXPECT_EQ(Refusal(lstm(none, true)), "compiled");  // runtime W (issue #12): converted per request
  EXPECT_TRUE(absl::StrContains(
      Refusal(lstm([](OnnxBuilder&, onnx::NodeProto& n) { OnnxBuilder::AttrFloat(n, "clip", 3.0f); })),
      "not supported: clip"));
  EXPECT_TRUE(absl::StrContains(Refusal(lstm([](OnnxBuilder&, onnx::NodeProto& n) {
                                  auto* a = n.add_attribute();
                                  a->set_name("activations");
                                  a->set_type(onnx::AttributeProto::STRINGS);
                                  for (const char* f : {"Sigmoid", "Relu", "Tanh"}) a->add_strings(f);
                                })),
                                "activations [Sigmoid, Relu, Tanh]"));
  EXPECT_TRUE(absl::StrContains(Refusal(lstm([](OnnxBuilder& b, onnx::NodeProto& n) {
                                  onnx::TensorProto* lens = b.model().mutable_graph()->add_initializer();
                                  lens->set_name("lens");
                                  lens->set_data_type(onnx::TensorProto::INT32);
                                  lens->add_dims(2);
                                  lens->add_int32_data(4);
                                  lens->add_int32_data(3);
                                  n.clear_input();
                                  for (const char* in : {"x", "w", "r", "", "lens"}) n.add_input(in);
                                })),
                                "sequence_lens other than seq_length (4)"));
  // Resize with scales computed from runtime data (not a graph input, whose
  // values would key the plan): the output shape would depend on the data.
  OnnxBuilder b;
  b.Input("x", {1, 1, 4, 4}).Input("s", {4}).FloatInitializer("roi", {0}, {}).Output("y");
  b.Node("Relu", {"s"}, {"scales"});
  b.Node("Resize", {"x", "roi", "scales"}, {"y"}, "resize");
  EXPECT_TRUE(absl::StrContains(Refusal(b.Serialize()), "node 'resize' (Resize): not supported: scales computed"));
}

}  // namespace
}  // namespace q8::engine
