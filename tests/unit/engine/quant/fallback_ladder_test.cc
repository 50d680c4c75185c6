// The precision ladder int8 -> bf16 -> fp32 (issue #13 item 4) on a layer that
// is genuinely int8-hostile (tests/testing/hostile_model.h). Checked: `auto` on a bf16 CPU ends the layer at bf16
// (not fp32), `fp32` sends it to fp32, and with bf16 compute capped away by
// ONEDNN_MAX_CPU_ISA (the ctest variant *NoBf16Isa*) `auto` goes to fp32;
// each with the reason in the report, the plan's primitives in bf16, the
// artifact reloading to the same outputs and the QDQ export noting it.
#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "engine/export/qdq_exporter.h"
#include "engine/quantize.h"
#include "kernels/program.h"
#include "tests/testing/hostile_model.h"

namespace q8::engine {
namespace {

using q8::testing::HostileConvModel;

CalibrationData Samples(int64_t n) {
  const std::vector<float> x = q8::testing::HostileSamples(n);
  return {core::Tensor::FromFloats(
              {n, q8::testing::kHostileChannels, q8::testing::kHostileSide, q8::testing::kHostileSide}, x),
          std::nullopt};
}

const LayerReport& Layer(const QuantizationReport& r, const std::string& node) {
  for (const LayerReport& l : r.layers) {
    if (l.node == node) return l;
  }
  static const LayerReport missing;
  ADD_FAILURE() << "no layer " << node << " in " << r.ToJson(2);
  return missing;
}

absl::StatusOr<QuantizationResult> QuantizeWith(FallbackPrecision fallback) {
  CalibrationData data = Samples(400);
  QuantizationOptions o;
  o.fallback = fallback;
  o.eval_fraction = 0.5;  // 200 rows: a real drop is significant, not noise
  return Quantize(HostileConvModel(), {}, o, &data);
}

// The int8 model without any fallback really fails: the hostile layer is genuine.
TEST(FallbackLadderTest, HostileLayerReallyFailsInt8) {
  CalibrationData data = Samples(400);
  QuantizationOptions o;
  o.eval_fraction = 0.5;
  o.max_drop = 1.0;  // no fallback: report the raw int8 drop
  auto r = Quantize(HostileConvModel(), {}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->report.drop, 0.1) << r->report.ToJson(2);
  EXPECT_EQ(Layer(r->report, "hostile").precision, "int8");
}

TEST(FallbackLadderTest, AutoSendsTheHostileLayerToBf16NotFp32) {
  if (!kernels::HasBf16Compute()) GTEST_SKIP() << "q8-skip: ISA " << kernels::CpuIsa() << " has no bf16 compute";
  auto r = QuantizeWith(FallbackPrecision::kAuto);
  ASSERT_TRUE(r.ok()) << r.status();
  const QuantizationReport& rep = r->report;
  EXPECT_TRUE(rep.target_met) << rep.ToJson(2);
  EXPECT_EQ(rep.fallback, "auto");
  EXPECT_EQ(rep.fallback_resolved, "bf16");
  EXPECT_EQ(rep.bf16_layers, std::vector<std::string>{"hostile"}) << rep.ToJson(2);
  EXPECT_TRUE(rep.fallback_layers.empty()) << rep.ToJson(2);
  const LayerReport& hostile = Layer(rep, "hostile");
  EXPECT_EQ(hostile.precision, "bf16");
  EXPECT_EQ(hostile.input_dtype, "BF16");
  EXPECT_TRUE(absl::StartsWith(hostile.reason, "bf16: int8 failed the accuracy check (drop ")) << hostile.reason;
  EXPECT_EQ(Layer(rep, "benign").precision, "int8");
  EXPECT_EQ(Layer(rep, "head").precision, "int8");

  // The served plan runs that conv on a native bf16 primitive.
  auto prims = r->model->Primitives(1);
  ASSERT_TRUE(prims.ok()) << prims.status();
  bool found = false;
  for (const PrimitiveInfo& p : *prims) {
    EXPECT_FALSE(absl::StrContains(p.impl, "ref")) << p.node << " " << p.impl;
    if (p.node == "hostile") {
      found = true;
      EXPECT_TRUE(absl::StrContains(p.impl, "bf16")) << p.impl;
    }
  }
  EXPECT_TRUE(found);

  // The artifact reloads to identical outputs; the export notes the bf16 layer.
  const std::string onnx = HostileConvModel();
  auto loaded = LoadQuantized(onnx, r->artifact, rep.ToJson(), {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  CalibrationData x = Samples(8);
  auto a = r->model->Run({x.inputs.view()});
  auto b = loaded->model->Run({x.inputs.view()});
  ASSERT_TRUE(a.ok() && b.ok());
  for (int64_t i = 0; i < (*a)[0].num_elements(); ++i) ASSERT_EQ((*a)[0].span<float>()[i], (*b)[0].span<float>()[i]);
  auto qdq = ExportQdqOnnx(onnx, r->artifact);
  ASSERT_TRUE(qdq.ok()) << qdq.status();
  EXPECT_TRUE(absl::StrContains(*qdq, "layers q8serve runs in bf16, exported in float: hostile"));
}

TEST(FallbackLadderTest, Fp32FallbackSkipsBf16) {
  auto r = QuantizeWith(FallbackPrecision::kFp32);
  ASSERT_TRUE(r.ok()) << r.status();
  const QuantizationReport& rep = r->report;
  EXPECT_TRUE(rep.target_met) << rep.ToJson(2);
  EXPECT_EQ(rep.fallback_resolved, "fp32");
  EXPECT_TRUE(rep.bf16_layers.empty()) << rep.ToJson(2);
  EXPECT_EQ(rep.fallback_layers, std::vector<std::string>{"hostile"}) << rep.ToJson(2);
  const LayerReport& hostile = Layer(rep, "hostile");
  EXPECT_EQ(hostile.precision, "fp32");
  EXPECT_TRUE(absl::StrContains(hostile.reason, "fallback fp32 configured")) << hostile.reason;
}

// Run by ctest with ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI (fallback_ladder_no_bf16_isa).
TEST(FallbackLadderNoBf16IsaTest, AutoGoesToFp32WithoutBf16Compute) {
  if (std::getenv("ONEDNN_MAX_CPU_ISA") == nullptr) GTEST_SKIP() << "q8-skip: needs ONEDNN_MAX_CPU_ISA below bf16";
  ASSERT_FALSE(kernels::HasBf16Compute()) << kernels::CpuIsa();
  for (FallbackPrecision f : {FallbackPrecision::kAuto, FallbackPrecision::kBf16}) {
    SCOPED_TRACE(ToString(f));
    auto r = QuantizeWith(f);
    ASSERT_TRUE(r.ok()) << r.status();
    const QuantizationReport& rep = r->report;
    EXPECT_TRUE(rep.target_met) << rep.ToJson(2);
    EXPECT_EQ(rep.fallback_resolved, "fp32");
    EXPECT_EQ(rep.fallback_layers, std::vector<std::string>{"hostile"}) << rep.ToJson(2);
    const LayerReport& hostile = Layer(rep, "hostile");
    EXPECT_EQ(hostile.precision, "fp32");
    EXPECT_TRUE(absl::StrContains(hostile.reason, "has no bf16 compute")) << hostile.reason;
  }
}

}  // namespace
}  // namespace q8::engine
