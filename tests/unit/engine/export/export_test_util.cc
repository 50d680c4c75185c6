// Export test helpers (see export_test_util.h).
#include "tests/unit/engine/export/export_test_util.h"

#include <cstdlib>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/npy.h"
#include "core/status_macros.h"
#include "engine/model_builder.h"
#include "engine/quant/artifact.h"
#include "engine/quant/calibrator.h"
#include "engine/quant/quantizer.h"
#include "gtest/gtest.h"
#include "tests/testing/onnx_builder.h"

namespace q8::engine::testing {

core::Tensor CopyRows(const core::Tensor& t, int64_t begin, int64_t count) {
  core::Dims dims = t.dims();
  const int64_t row = t.num_elements() / dims[0];
  dims[0] = count;
  core::Tensor out(t.dtype(), dims);
  std::memcpy(out.data(), static_cast<const char*>(t.data()) + begin * row * core::SizeOf(t.dtype()), out.byte_size());
  return out;
}

absl::StatusOr<std::string> CalibratedArtifact(const std::string& onnx, const core::Tensor* samples,
                                               const QuantizationOptions& options) {
  Q8_ASSIGN_OR_RETURN(PreparedGraph prepared, PrepareGraph(onnx, {}));
  Q8_ASSIGN_OR_RETURN(LoweredGraph lowered, LowerGraph(*prepared.graph, prepared.opset));
  std::map<ValueId, ValueStats> stats;
  if (samples != nullptr) {
    CaptureGraph capture = MakeCaptureGraph(prepared);
    Q8_ASSIGN_OR_RETURN(auto model, BuildModel(capture.prepared, {.warmup_batch_sizes = {}}));
    Q8_ASSIGN_OR_RETURN(stats, CollectStats(capture, *model, {SingleInputGroup(*samples)}, {samples->dims()[0]},
                                            options.method != CalibrationMethod::kMinMax, nullptr));
  }
  Q8_ASSIGN_OR_RETURN(QuantSpec spec, BuildQuantSpec(lowered, stats, options, {}));
  return SerializeArtifact(*prepared.graph, spec, options);
}

absl::StatusOr<std::shared_ptr<const CompiledModel>> BuildQuantized(const std::string& onnx,
                                                                    const std::string& artifact) {
  Q8_ASSIGN_OR_RETURN(PreparedGraph prepared, PrepareGraph(onnx, {}));
  Q8_ASSIGN_OR_RETURN(LoweredGraph lowered, LowerGraph(*prepared.graph, prepared.opset));
  Q8_ASSIGN_OR_RETURN(ParsedArtifact parsed, ParseArtifact(lowered, artifact));
  auto spec = std::make_shared<const QuantSpec>(std::move(parsed.spec));
  Q8_ASSIGN_OR_RETURN(auto model, BuildModel(prepared, {}, spec));
  return std::shared_ptr<const CompiledModel>(std::move(model));
}

absl::StatusOr<core::Tensor> RunNumpyReference(const std::string& model_bytes, const core::Tensor& inputs) {
  std::string dir = ::testing::TempDir() + "/qdq_export_XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string model = dir + "/model.onnx", in = dir + "/inputs.npy", out = dir + "/outputs.npy";
  std::ofstream(model, std::ios::binary) << model_bytes;
  Q8_RETURN_IF_ERROR(core::WriteNpyFile(in, inputs.view()));
  const std::string cmd = absl::StrCat("/usr/bin/python3 ", Q8_SOURCE_DIR, "/tools/onnx_numpy_ref.py --check ", model,
                                       " ", in, " --out ", out, " > ", dir, "/log.txt 2>&1");
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(dir + "/log.txt");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    return absl::InternalError(absl::StrCat("numpy reference failed: ", cmd, "\n", text));
  }
  return core::ReadNpyFile(out);
}

std::string ResidualConcatModel() {
  q8::testing::OnnxBuilder b(13, 7);
  using B = q8::testing::OnnxBuilder;
  b.Input("x", {-1, 3, 8, 8}).Output("probs");
  b.RandomInitializer("w1", {8, 3, 3, 3}, -0.5f, 0.5f).RandomInitializer("b1", {8}, -0.1f, 0.1f);
  b.RandomInitializer("w2", {8, 8, 3, 3}, -0.3f, 0.3f).RandomInitializer("b2", {8}, -0.1f, 0.1f);
  b.RandomInitializer("ws", {8, 8, 1, 1}, -0.5f, 0.5f);
  b.RandomInitializer("w4", {8, 8, 3, 3}, -0.3f, 0.3f).RandomInitializer("b4", {8}, -0.1f, 0.1f);
  b.RandomInitializer("w3", {4, 16, 1, 1}, -0.5f, 0.5f);
  b.RandomInitializer("wg", {10, 64}, -0.5f, 0.5f).RandomInitializer("bg", {10}, -0.1f, 0.1f);
  b.FloatInitializer("lo", {}, {0.0f}).FloatInitializer("hi", {}, {1.5f});
  B::AttrInts(b.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1"), "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c1"}, {"r1"});
  // Residual read again later (by `side`): the conv cannot accumulate in place.
  B::AttrInts(b.Node("Conv", {"r1", "w2", "b2"}, {"c2"}, "conv2"), "pads", {1, 1, 1, 1});
  b.Node("Add", {"c2", "r1"}, {"s"});
  b.Node("Relu", {"s"}, {"r2"});
  b.Node("Conv", {"r1", "ws"}, {"sd"}, "side");
  // Fused into `side` (the Add's first input): it accumulates conv4's signed
  // output, last read there, in place and on conv4's own scale.
  B::AttrInts(b.Node("Conv", {"r2", "w4", "b4"}, {"c4"}, "conv4"), "pads", {1, 1, 1, 1});
  b.Node("Add", {"sd", "c4"}, {"y4"});
  auto& avg = b.Node("AveragePool", {"y4"}, {"p1"});
  B::AttrInts(avg, "kernel_shape", {2, 2});
  B::AttrInts(avg, "strides", {2, 2});
  auto& max = b.Node("MaxPool", {"r2"}, {"p2"});
  B::AttrInts(max, "kernel_shape", {2, 2});
  B::AttrInts(max, "strides", {2, 2});
  B::AttrInt(b.Node("Concat", {"p1", "p2"}, {"cat"}), "axis", 1);
  b.Node("Conv", {"cat", "w3"}, {"c3"}, "conv3");
  b.Node("Clip", {"c3", "lo", "hi"}, {"k"});
  b.Node("Sigmoid", {"k"}, {"sg"});
  B::AttrInts(b.Node("Transpose", {"sg"}, {"t"}), "perm", {0, 2, 3, 1});
  b.Node("Flatten", {"t"}, {"f"});
  B::AttrInt(b.Node("Gemm", {"f", "wg", "bg"}, {"g"}, "fc"), "transB", 1);
  B::AttrInt(b.Node("Softmax", {"g"}, {"probs"}), "axis", 1);
  return b.Serialize();
}

core::Tensor RandomImages(int64_t n, uint32_t seed) {
  core::Tensor t(core::DataType::kFloat32, {n, 3, 8, 8});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

}  // namespace q8::engine::testing
