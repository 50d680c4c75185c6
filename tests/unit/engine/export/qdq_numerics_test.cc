// (b) Independent check of the int8 numerics: the QDQ export of a quantized
// model, run by the numpy interpreter (float64 math, ONNX Q/DQ semantics),
// against the engine's int8 model (oneDNN int8 kernels) on the same images.
//
// Tolerance. Both compute the same quantized network; they differ only where
// a pre-quantization value lands within float rounding error of a rounding
// boundary (f32 vs float64 arithmetic and accumulation order), where one
// side rounds one level up. Every such flip, wherever it happens, reaches the
// logits through the last int8 layer's input: its elements differ by whole
// quantization steps s_a, so logit n moves by s_a * sum_k |dq_k| * |w[k,n]|
// <= flips * s_a * max|w|. We allow kFlips such one-step flips per logit,
// plus f32 accumulation noise (negligible at this scale).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/status_macros.h"
#include "engine/compiler.h"
#include "engine/export/qdq_exporter.h"
#include "engine/model_builder.h"
#include "engine/quant/artifact.h"
#include "engine/quant/equalization.h"
#include "engine/quantize.h"
#include "onnx/onnx_pb.h"
#include "tests/testing/onnx_builder.h"
#include "tests/unit/engine/export/export_test_util.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using testing::DataPath;
using testing::LoadNpy;
using testing::ReadFile;

constexpr double kFlips = 4;

// s_a * max|w| of the int8 layer that computes graph output 0 (directly or
// through a final Softmax): the change of its outputs caused by one of its
// input elements moving one quantization level.
struct LastLayer {
  double step = 0;
  bool softmax = false;
};

absl::StatusOr<LastLayer> LastLayerStep(const std::string& onnx, const std::string& artifact) {
  auto prepared = PrepareGraph(onnx, {});
  if (!prepared.ok()) return prepared.status();
  if (ArtifactEqualized(artifact)) ApplyEqualization(*prepared, Equalization::kOn, true);
  const Graph& g = *prepared->graph;
  auto lowered = LowerGraph(g, prepared->opset);
  if (!lowered.ok()) return lowered.status();
  auto parsed = ParseArtifact(*lowered, artifact);
  if (!parsed.ok()) return parsed.status();
  LastLayer last;
  int node = g.value(g.outputs()[0].value).producer;
  if (node >= 0 && g.nodes()[node].op_type == "Softmax") {
    last.softmax = true;
    node = g.value(g.nodes()[node].inputs[0]).producer;
  }
  auto layer = parsed->spec.layers.find(node);
  if (layer == parsed->spec.layers.end()) return absl::NotFoundError("the last layer is not int8");
  const ValueId in = g.nodes()[node].inputs[lowered->lowerings[node].runtime_inputs[0]];
  auto q = parsed->spec.values.find(in);
  if (q == parsed->spec.values.end()) return absl::NotFoundError("the last layer's input is not quantized");
  const LayerQuant& lq = layer->second;
  const size_t n = lq.weight_scales.size();
  auto wq = lq.qweights->span<int8_t>();
  double max_w = 0;
  for (size_t i = 0; i < wq.size(); ++i) max_w = std::max(max_w, std::abs(double(wq[i]) * lq.weight_scales[i % n]));
  last.step = q->second.scale * max_w;
  return last;
}

struct Comparison {
  double max_abs_diff = 0;
  double mean_abs_diff = 0;
  double differing = 0;  // fraction of elements differing by more than f32 noise
  double top1_agreement = 0;
};

Comparison Compare(const core::Tensor& a, const core::Tensor& b) {
  const int64_t rows = a.dims()[0], cols = a.num_elements() / rows;
  Comparison c;
  int64_t agree = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a.span<float>().data() + r * cols;
    const float* y = b.span<float>().data() + r * cols;
    agree += testing::ArgMax(x, cols) == testing::ArgMax(y, cols);
    for (int64_t k = 0; k < cols; ++k) {
      const double d = std::abs(x[k] - y[k]);
      c.max_abs_diff = std::max(c.max_abs_diff, d);
      c.mean_abs_diff += d / double(rows * cols);
      c.differing += (d > 1e-5) / double(rows * cols);
    }
  }
  c.top1_agreement = double(agree) / rows;
  return c;
}

// The check is only meaningful if the reference reproduces the int8 error
// rather than computing something close to fp32: on average the int8 engine
// must be much closer to the QDQ reference than to the fp32 engine (the mean,
// because rounding flips make a few large differences but quantization
// error is everywhere).
void ExpectQuantizationErrorIsReproduced(const CompiledModel& fp32, const core::Tensor& x, const core::Tensor& int8,
                                         const Comparison& vs_reference) {
  auto out = fp32.Run({x.view()});
  ASSERT_TRUE(out.ok()) << out.status();
  const Comparison vs_fp32 = Compare((*out)[0], int8);
  std::printf("  mean|diff| %.3g vs the reference, %.3g vs the fp32 engine (max %.3g, top-1 agreement %.4f)\n",
              vs_reference.mean_abs_diff, vs_fp32.mean_abs_diff, vs_fp32.max_abs_diff, vs_fp32.top1_agreement);
  EXPECT_LT(vs_reference.mean_abs_diff, 0.1 * vs_fp32.mean_abs_diff);
}

// A static min/max int8 quantization of `onnx` calibrated on `calib`: the
// artifact, the engine's int8 model built from it, and its QDQ export.
struct QuantizedExport {
  std::string artifact;
  std::shared_ptr<const CompiledModel> model;
  std::string qdq;
};

absl::StatusOr<QuantizedExport> QuantizeAndExport(const std::string& onnx, const core::Tensor& calib) {
  QuantizationOptions options;
  options.mode = QuantMode::kStatic;
  options.method = CalibrationMethod::kMinMax;
  QuantizedExport q;
  Q8_ASSIGN_OR_RETURN(q.artifact, testing::CalibratedArtifact(onnx, &calib, options));
  Q8_ASSIGN_OR_RETURN(q.model, testing::BuildQuantized(onnx, q.artifact));
  Q8_ASSIGN_OR_RETURN(q.qdq, ExportQdqOnnx(onnx, q.artifact));
  return q;
}

// The QDQ export of a static int8 quantization of a committed Fashion-MNIST
// model (calibrated on 200 committed test images) against the engine on 64
// others, allowing `flips` one-step flips per logit.
void ExpectFashionQdqMatches(const std::string& model, const QuantizationOptions& options, double flips = kFlips) {
  const std::string onnx = ReadFile(DataPath(model));
  const core::Tensor images = LoadNpy(DataPath("fashion_test_images.npy"));
  CalibrationData data{testing::CopyRows(images, 0, 200), std::nullopt};
  auto quantized = Quantize(onnx, {}, options, &data);
  ASSERT_TRUE(quantized.ok()) << quantized.status();
  auto bytes = ExportQdqOnnx(onnx, quantized->artifact);
  ASSERT_TRUE(bytes.ok()) << bytes.status();

  const core::Tensor x = testing::CopyRows(images, 200, 64);  // not calibration rows
  auto ours = quantized->model->Run({x.view()});
  ASSERT_TRUE(ours.ok()) << ours.status();
  auto ref = testing::RunNumpyReference(*bytes, x);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ(ref->dims(), (*ours)[0].dims());

  auto last = LastLayerStep(onnx, quantized->artifact);
  ASSERT_TRUE(last.ok()) << last.status();
  const double tolerance = flips * last->step + 1e-4;
  const Comparison c = Compare(*ref, (*ours)[0]);
  std::printf(
      "int8 %s vs numpy QDQ: max|diff| %.6g (= %.3g last-layer steps of %.6g), tolerance %.6g, "
      "top-1 agreement %.4f\n",
      model.c_str(), c.max_abs_diff, c.max_abs_diff / last->step, last->step, tolerance, c.top1_agreement);
  EXPECT_GE(c.top1_agreement, 0.99);
  EXPECT_LE(c.max_abs_diff, tolerance);
  ExpectQuantizationErrorIsReproduced(*quantized->fp32_model, x, (*ours)[0], c);
}

TEST(QdqNumericsTest, Int8FashionCnnMatchesTheNumpyReferenceOfItsQdqExport) {
  QuantizationOptions options;
  options.mode = QuantMode::kStatic;
  ExpectFashionQdqMatches("fashion_cnn.onnx", options);
}

// Cross-layer equalization changes only constants: the export carries the
// equalized weights its scales were made for (the original weights with
// those scales would put the reference as far from the engine as fp32 is,
// which ExpectQuantizationErrorIsReproduced refuses). The MobileNet has ten
// int8 layers, not four, so more places for rounding flips: measured max
// 1.5 last-layer steps unequalized, 4.2 equalized (mean |diff| 5e-5 and
// 2.5e-4, against 0.05 to fp32); 8 flips allowed for both.
TEST(QdqNumericsTest, Int8EqualizedMobileNetMatchesTheNumpyReferenceOfItsQdqExport) {
  QuantizationOptions options;
  options.mode = QuantMode::kStatic;
  options.equalization = Equalization::kOn;
  ExpectFashionQdqMatches("fashion_mobilenet.onnx", options, 2 * kFlips);
}

TEST(QdqNumericsTest, Int8MobileNetMatchesTheNumpyReferenceOfItsQdqExport) {
  QuantizationOptions options;
  options.mode = QuantMode::kStatic;
  options.equalization = Equalization::kOff;
  ExpectFashionQdqMatches("fashion_mobilenet.onnx", options, 2 * kFlips);
}

// Residual accumulation (not in place), Concat requantization, AveragePool
// rounding, fused Clip+Sigmoid and an int8 Gemm before Softmax.
TEST(QdqNumericsTest, Int8ResidualModelMatchesTheNumpyReferenceOfItsQdqExport) {
  const std::string onnx = testing::ResidualConcatModel();
  auto q = QuantizeAndExport(onnx, testing::RandomImages(64, 1));
  ASSERT_TRUE(q.ok()) << q.status();

  const core::Tensor x = testing::RandomImages(64, 3);
  auto ours = q->model->Run({x.view()});
  ASSERT_TRUE(ours.ok()) << ours.status();
  auto ref = testing::RunNumpyReference(q->qdq, x);
  ASSERT_TRUE(ref.ok()) << ref.status();
  // Softmax moves each probability by at most 1/2 of the largest logit
  // change (sum_j |dp_i/dz_j| = 2 p_i (1 - p_i) <= 1/2).
  auto last = LastLayerStep(onnx, q->artifact);
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_TRUE(last->softmax);
  const double tolerance = 0.5 * kFlips * last->step + 1e-4;
  const Comparison c = Compare(*ref, (*ours)[0]);
  std::printf(
      "int8 residual model vs numpy QDQ: max|diff| %.6g (= %.3g half-steps of %.6g), tolerance %.6g, "
      "top-1 agreement %.4f\n",
      c.max_abs_diff, c.max_abs_diff / (0.5 * last->step), last->step, tolerance, c.top1_agreement);
  EXPECT_GE(c.top1_agreement, 0.99);
  EXPECT_LE(c.max_abs_diff, tolerance);
  auto fp32 = Compile(onnx);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  ExpectQuantizationErrorIsReproduced(**fp32, x, (*ours)[0], c);
}

// A graph output the engine stores as int8 (MaxPool after an int8 conv that
// writes int8) is the DequantizeLinear output, under the output's own name.
TEST(QdqNumericsTest, Int8StoredGraphOutputKeepsItsName) {
  q8::testing::OnnxBuilder b(13, 5);
  b.Input("x", {-1, 3, 8, 8}).Output("y");
  b.RandomInitializer("w", {4, 3, 3, 3}, -0.5f, 0.5f);
  b.Node("Conv", {"x", "w"}, {"c"}, "conv");
  b.Node("Relu", {"c"}, {"r"});
  auto& pool = b.Node("MaxPool", {"r"}, {"y"});
  q8::testing::OnnxBuilder::AttrInts(pool, "kernel_shape", {2, 2});
  const std::string onnx = b.Serialize();
  auto q = QuantizeAndExport(onnx, testing::RandomImages(16, 4));
  ASSERT_TRUE(q.ok()) << q.status();
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(q->qdq));
  ASSERT_EQ(m.graph().output(0).name(), "y");
  EXPECT_EQ(m.graph().node(m.graph().node_size() - 1).op_type(), "DequantizeLinear");

  const core::Tensor x = testing::RandomImages(8, 5);
  auto ours = q->model->Run({x.view()});
  ASSERT_TRUE(ours.ok()) << ours.status();
  auto ref = testing::RunNumpyReference(q->qdq, x);
  ASSERT_TRUE(ref.ok()) << ref.status();
  // Outputs lie on the int8 grid, so they differ by whole steps, and only
  // where a rounding flipped: rarely.
  const Comparison c = Compare(*ref, (*ours)[0]);
  std::printf("int8-stored output vs numpy QDQ: max|diff| %.6g, %.4f%% of elements differ\n", c.max_abs_diff,
              100 * c.differing);
  EXPECT_LE(c.differing, 0.01);
}

}  // namespace
}  // namespace q8::engine
