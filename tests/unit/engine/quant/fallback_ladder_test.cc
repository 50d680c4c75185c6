// The precision ladder int8 -> bf16 -> fp32 (issue #13 item 4) on a layer that
// is genuinely int8-hostile (tests/testing/hostile_model.h). Checked: `auto` on a bf16 CPU ends the layer at bf16
// (not fp32) where the size rule says bf16 is faster (bf16_speed.h), and at
// fp32 where it says bf16 is slower; `bf16` forces bf16 whatever the size;
// `fp32` sends it to fp32, and with bf16 compute capped away by
// ONEDNN_MAX_CPU_ISA (the ctest variant *NoBf16Isa*) `auto` goes to fp32;
// each with the reason in the report, the plan's primitives in bf16, the
// artifact reloading to the same outputs and the QDQ export noting it; the
// model-level label ("int8" / "mixed") and its per-precision layer and
// weight-byte counts.
#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "engine/export/qdq_exporter.h"
#include "engine/quant/bf16_speed.h"
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

// The hostile conv's size: 8 output channels x 8x8 pixels, each reading 4
// input channels x 3x3 weights (hostile_model.h).
constexpr int64_t kHostileMacs = 8 * 8 * 8 * 4 * 3 * 3;

// `bf16_min_macs`: the size rule's threshold (unset: the measured default).
absl::StatusOr<QuantizationResult> QuantizeWith(FallbackPrecision fallback,
                                                std::optional<int64_t> bf16_min_macs = std::nullopt) {
  CalibrationData data = Samples(400);
  QuantizationOptions o;
  o.fallback = fallback;
  o.bf16_min_macs = bf16_min_macs;
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
  // Fully int8: the label says so, and the int8 weights are the served ones
  // but the f32 biases.
  const QuantizationReport& rep = r->report;
  EXPECT_EQ(rep.precision, "int8");
  EXPECT_EQ(rep.precision_layers, (std::map<std::string, int64_t>{{"int8", 3}})) << rep.ToJson(2);
  EXPECT_EQ(rep.precision_weight_bytes.at("bf16"), 0);
  // s8 weights: 8*4*9 + 8*8*9 + 512*10 elements (plus oneDNN's padding and compensation).
  EXPECT_GE(rep.precision_weight_bytes.at("int8"), 8 * 4 * 9 + 8 * 8 * 9 + 512 * 10);
  EXPECT_EQ(rep.precision_weight_bytes.at("int8") + rep.precision_weight_bytes.at("fp32"), rep.weight_bytes_int8);
}

// The size rule set exactly at the hostile conv's size: bf16 counts as faster.
TEST(FallbackLadderTest, AutoSendsTheHostileLayerToBf16NotFp32) {
  if (!kernels::HasBf16Compute()) GTEST_SKIP() << "q8-skip: ISA " << kernels::CpuIsa() << " has no bf16 compute";
  auto r = QuantizeWith(FallbackPrecision::kAuto, kHostileMacs);
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
  EXPECT_TRUE(absl::StrContains(hostile.reason, "; bf16 faster than fp32 at this size (18.4 kMAC per sample >= "))
      << hostile.reason;
  EXPECT_EQ(Layer(rep, "benign").precision, "int8");
  EXPECT_EQ(Layer(rep, "head").precision, "int8");
  // Mixed: two int8 layers and one bf16, whose weights the served model holds in bf16.
  EXPECT_EQ(rep.precision, "mixed");
  EXPECT_EQ(rep.precision_layers, (std::map<std::string, int64_t>{{"int8", 2}, {"bf16", 1}})) << rep.ToJson(2);
  EXPECT_GE(rep.precision_weight_bytes.at("bf16"), 2 * 8 * 4 * 9);
  EXPECT_GE(rep.precision_weight_bytes.at("int8"), 8 * 8 * 9 + 512 * 10);
  EXPECT_EQ(rep.precision_weight_bytes.at("int8") + rep.precision_weight_bytes.at("bf16") +
                rep.precision_weight_bytes.at("fp32"),
            rep.weight_bytes_int8);

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

// One multiply-add above the hostile conv's size, and at the measured default
// (the conv is tiny: 18 kMAC): bf16 counts as slower, so `auto` goes
// straight to fp32 and says why; `bf16` forces bf16 all the same.
TEST(FallbackLadderTest, AutoSendsATooSmallLayerToFp32AndBf16ForcesBf16) {
  if (!kernels::HasBf16Compute()) GTEST_SKIP() << "q8-skip: ISA " << kernels::CpuIsa() << " has no bf16 compute";
  ASSERT_GT(kBf16MinMacs, kHostileMacs);
  for (std::optional<int64_t> threshold : {std::optional<int64_t>(kHostileMacs + 1), std::optional<int64_t>()}) {
    SCOPED_TRACE(threshold.value_or(-1));
    auto r = QuantizeWith(FallbackPrecision::kAuto, threshold);
    ASSERT_TRUE(r.ok()) << r.status();
    const QuantizationReport& rep = r->report;
    EXPECT_TRUE(rep.target_met) << rep.ToJson(2);
    EXPECT_TRUE(rep.bf16_layers.empty()) << rep.ToJson(2);
    EXPECT_EQ(rep.fallback_layers, std::vector<std::string>{"hostile"}) << rep.ToJson(2);
    const LayerReport& hostile = Layer(rep, "hostile");
    EXPECT_EQ(hostile.precision, "fp32");
    EXPECT_TRUE(absl::StartsWith(hostile.reason, "fp32: int8 failed the accuracy check (drop ")) << hostile.reason;
    EXPECT_TRUE(absl::StrContains(hostile.reason, "; bf16 slower than fp32 at this size (18.4 kMAC per sample < "))
        << hostile.reason;
    EXPECT_EQ(rep.precision, "mixed");
    EXPECT_EQ(rep.precision_layers, (std::map<std::string, int64_t>{{"int8", 2}, {"fp32", 1}})) << rep.ToJson(2);
    EXPECT_EQ(rep.precision_weight_bytes.at("bf16"), 0);
  }
  auto forced = QuantizeWith(FallbackPrecision::kBf16);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ(forced->report.bf16_layers, std::vector<std::string>{"hostile"}) << forced->report.ToJson(2);
  const LayerReport& hostile = Layer(forced->report, "hostile");
  EXPECT_EQ(hostile.precision, "bf16");
  EXPECT_TRUE(absl::StrContains(hostile.reason, "; fallback bf16 configured")) << hostile.reason;
  EXPECT_GT(forced->report.precision_weight_bytes.at("bf16"), 0);
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
