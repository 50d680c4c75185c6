// The precision stage (engine/plan/precision.h): its rules on a small
// Conv -> MaxPool -> Conv -> Tanh graph with a hand-made QuantSpec, and
// that the planner realises exactly what it decides.
#include "engine/plan/precision.h"

#include <gtest/gtest.h>

#include "engine/model_builder.h"
#include "engine/plan/planner.h"
#include "engine/quant/quantizer.h"
#include "kernels/program.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine {
namespace {

using core::DataType;

struct Fixture {
  PreparedGraph prepared;
  std::map<std::string, ValueId> values;  // by name
  std::map<std::string, int> nodes;       // by op type (one each)
};

Fixture Build() {
  q8::testing::OnnxBuilder b;
  b.Input("x", {-1, 3, 8, 8}).Output("y");
  b.RandomInitializer("w1", {4, 3, 3, 3}).RandomInitializer("w2", {4, 4, 1, 1});
  b.Node("Conv", {"x", "w1"}, {"c1"});
  q8::testing::OnnxBuilder::AttrInts(b.Node("MaxPool", {"c1"}, {"p"}), "kernel_shape", {2, 2});
  b.Node("Conv", {"p", "w2"}, {"c2"});
  b.Node("Tanh", {"c2"}, {"y"});  // not fusable into the conv
  Fixture f;
  auto prepared = PrepareGraph(b.Serialize(), CompileOptions{});
  EXPECT_TRUE(prepared.ok()) << prepared.status();
  f.prepared = std::move(*prepared);
  const Graph& g = *f.prepared.graph;
  for (ValueId v = 0; v < g.num_values(); ++v) f.values[g.value(v).name] = v;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const std::string& op = g.nodes()[i].op_type;
    f.nodes[op == "Conv" && f.nodes.count("Conv") ? "Conv2" : op] = static_cast<int>(i);
  }
  return f;
}

ValuePrecision P(DataType t, float s) { return {t, s}; }

TEST(PrecisionTest, Fp32WithoutQuantization) {
  Fixture f = Build();
  auto lg = LowerGraph(*f.prepared.graph, f.prepared.opset);
  ASSERT_TRUE(lg.ok()) << lg.status();
  for (const NodePrecision& np : lg->precision) {
    EXPECT_FALSE(np.output.is_int8());
    for (const ValuePrecision& p : np.inputs) EXPECT_FALSE(p.is_int8());
  }
}

TEST(PrecisionTest, Int8SectionEndsWhereNoConsumerReadsInt8) {
  Fixture f = Build();
  const Graph& g = *f.prepared.graph;
  QuantSpec spec;
  spec.values[f.values.at("x")] = {DataType::kUInt8, 0.1f};
  spec.values[f.values.at("c1")] = {DataType::kInt8, 0.2f};
  spec.values[f.values.at("p")] = {DataType::kInt8, 0.2f};
  spec.values[f.values.at("c2")] = {DataType::kInt8, 0.3f};
  spec.layers[f.nodes.at("Conv")] = {};
  spec.layers[f.nodes.at("Conv2")] = {};
  auto fp32 = LowerGraph(g, f.prepared.opset);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  const std::vector<NodePrecision> pr = AssignPrecision(g, fp32->lowerings, &spec);

  const NodePrecision& conv1 = pr[f.nodes.at("Conv")];
  EXPECT_EQ(conv1.inputs[0], P(DataType::kUInt8, 0.1f));
  EXPECT_EQ(conv1.output, P(DataType::kInt8, 0.2f));  // MaxPool reads int8
  const NodePrecision& pool = pr[f.nodes.at("MaxPool")];
  EXPECT_EQ(pool.inputs[0], P(DataType::kInt8, 0.2f));  // transparent: as stored
  EXPECT_EQ(pool.output, P(DataType::kInt8, 0.2f));
  const NodePrecision& conv2 = pr[f.nodes.at("Conv2")];
  EXPECT_EQ(conv2.inputs[0], P(DataType::kInt8, 0.2f));
  EXPECT_FALSE(conv2.output.is_int8());  // Tanh reads f32: write f32 directly
  EXPECT_FALSE(pr[f.nodes.at("Tanh")].inputs[0].is_int8());

  // A dynamic layer is not an int8 reader: the first conv then stores f32,
  // and the pool, transparent, follows it.
  spec.layers[f.nodes.at("Conv2")].dynamic = true;
  const std::vector<NodePrecision> dyn = AssignPrecision(g, fp32->lowerings, &spec);
  EXPECT_EQ(dyn[f.nodes.at("Conv")].output, P(DataType::kInt8, 0.2f));  // MaxPool still reads int8
  EXPECT_FALSE(dyn[f.nodes.at("Conv2")].inputs[0].is_int8());

  // The planner realises the stage's decisions: each node's step reads and
  // writes exactly those precisions.
  spec.layers[f.nodes.at("Conv2")].dynamic = false;
  auto quantized = LowerGraph(g, f.prepared.opset, &spec);
  ASSERT_TRUE(quantized.ok()) << quantized.status();
  auto program = PlanProgram(*quantized, 2);
  ASSERT_TRUE(program.ok()) << program.status();
  int checked = 0;
  for (const kernels::StepSpec& s : program->steps) {
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      if (s.name != g.nodes()[i].name) continue;
      const kernels::ValueSpec& out = program->values[s.outputs[0]];
      EXPECT_EQ(P(out.dtype, out.scale), quantized->precision[i].output) << s.name;
      for (size_t k = 0; k < s.inputs.size(); ++k) {
        const kernels::ValueSpec& in = program->values[s.inputs[k]];
        EXPECT_EQ(P(in.dtype, in.scale), quantized->precision[i].inputs[k]) << s.name << " input " << k;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(g.nodes().size()));
}

// A Conv whose weights a request sends has no weight scales when the plan is
// built: it reads and stores f32 even when a QuantSpec lists it (the quantizer
// never does; a hand-edited artifact could), and the quantizer skips it.
TEST(PrecisionTest, ConvWithRuntimeWeightsStaysFp32) {
  q8::testing::OnnxBuilder b;
  b.Input("x", {-1, 3, 8, 8}).Input("w", {4, 3, 3, 3}).Output("y");
  b.Node("Conv", {"x", "w"}, {"c"});
  b.Node("Tanh", {"c"}, {"y"});
  auto prepared = PrepareGraph(b.Serialize(), CompileOptions{});
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  const Graph& g = *prepared->graph;
  int conv = -1;
  for (size_t i = 0; i < g.nodes().size(); ++i) conv = g.nodes()[i].op_type == "Conv" ? static_cast<int>(i) : conv;
  ASSERT_GE(conv, 0);
  auto fp32 = LowerGraph(g, prepared->opset);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_TRUE(QuantizableLayers(*fp32).empty());
  QuantSpec spec;
  for (ValueId v = 0; v < g.num_values(); ++v) spec.values[v] = {DataType::kInt8, 0.1f};
  spec.layers[conv] = {};
  const std::vector<NodePrecision> pr = AssignPrecision(g, fp32->lowerings, &spec);
  for (const ValuePrecision& p : pr[conv].inputs) EXPECT_FALSE(p.is_int8());
  EXPECT_FALSE(pr[conv].output.is_int8());
}

// bf16 layers (the ladder's middle rung): inputs bf16; output bf16 only when
// every consumer is a bf16 layer (conv -> conv), else f32 (-> Tanh); a CPU
// without bf16 compute runs them f32. The planner realises it.
TEST(PrecisionTest, Bf16LayersReadBf16AndWriteF32AtSeams) {
  q8::testing::OnnxBuilder b;
  b.Input("x", {-1, 3, 8, 8}).Output("y");
  b.RandomInitializer("w1", {4, 3, 3, 3}).RandomInitializer("w2", {4, 4, 1, 1});
  b.Node("Conv", {"x", "w1"}, {"c1"});
  b.Node("Conv", {"c1", "w2"}, {"c2"});
  b.Node("Tanh", {"c2"}, {"y"});
  auto prepared = PrepareGraph(b.Serialize(), CompileOptions{});
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  const Graph& g = *prepared->graph;
  std::vector<int> convs;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    if (g.nodes()[i].op_type == "Conv") convs.push_back(static_cast<int>(i));
  }
  ASSERT_EQ(convs.size(), 2u);
  QuantSpec spec;
  spec.bf16_layers = {convs[0], convs[1]};
  auto lowered = LowerGraph(g, prepared->opset, &spec);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  const std::vector<NodePrecision>& pr = lowered->precision;
  const DataType want = kernels::HasBf16Compute() ? DataType::kBFloat16 : DataType::kFloat32;
  EXPECT_EQ(pr[convs[0]].inputs[0].dtype, want);
  EXPECT_EQ(pr[convs[0]].output.dtype, want);  // its only consumer is a bf16 layer
  EXPECT_EQ(pr[convs[1]].inputs[0].dtype, want);
  EXPECT_EQ(pr[convs[1]].output.dtype, DataType::kFloat32);  // Tanh reads f32

  auto program = PlanProgram(*lowered, 2);
  ASSERT_TRUE(program.ok()) << program.status();
  int checked = 0;
  for (const kernels::StepSpec& s : program->steps) {
    for (int c : convs) {
      if (s.name != g.nodes()[c].name) continue;
      EXPECT_EQ(program->values[s.inputs[0]].dtype, pr[c].inputs[0].dtype) << s.name;
      EXPECT_EQ(program->values[s.outputs[0]].dtype, pr[c].output.dtype) << s.name;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2);
}

}  // namespace
}  // namespace q8::engine
