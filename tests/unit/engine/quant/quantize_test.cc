// Quantize(): persistence round trip, determinism, memory, bad calibration data.
#include "engine/quantize.h"

#include <gtest/gtest.h>

#include "core/element_convert.h"
#include "onnx/onnx_pb.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

using testing::DataPath;
using testing::ReadFile;

CalibrationData FashionSample(int64_t n) {
  core::Tensor images = testing::LoadNpy(DataPath("fashion_test_images.npy"));
  core::Tensor labels = testing::LoadNpy(DataPath("fashion_test_labels.npy"));
  core::Tensor x(core::DataType::kFloat32, {n, 1, 28, 28});
  core::Tensor y(core::DataType::kInt64, {n});
  std::memcpy(x.data(), images.data(), x.byte_size());
  std::memcpy(y.data(), labels.data(), y.byte_size());
  return {std::move(x), std::move(y)};
}

TEST(QuantizeTest, ArtifactReloadsToIdenticalOutputsAndIsDeterministic) {
  const std::string onnx = ReadFile(DataPath("fashion_cnn.onnx"));
  CalibrationData data = FashionSample(200);
  QuantizationOptions o;
  o.method = CalibrationMethod::kEntropy;
  auto a = Quantize(onnx, {}, o, &data);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = Quantize(onnx, {}, o, &data);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->artifact, b->artifact) << "same model, data and options must give the same bytes";

  auto loaded = LoadQuantized(onnx, a->artifact, a->report.ToJson(), {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->report.ToJson(), a->report.ToJson());
  auto x = testing::Rows(data.inputs, 0, 32);
  auto out_a = a->model->Run({x});
  auto out_l = loaded->model->Run({x});
  ASSERT_TRUE(out_a.ok() && out_l.ok());
  EXPECT_EQ(testing::MaxAbsDiff((*out_a)[0].span<float>(), (*out_l)[0].span<float>()), 0.0f);

  // A corrupted artifact is refused, never half-applied.
  EXPECT_EQ(LoadQuantized(onnx, "{\"format\": 1}", "{}", {}).status().code(), absl::StatusCode::kDataLoss);
  // So is an artifact of another model file (here: the same graph with one weight changed).
  std::string changed = onnx;
  changed[changed.size() / 2] ^= 0x01;
  auto stale = LoadQuantized(changed, a->artifact, a->report.ToJson(), {});
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kDataLoss) << stale.status();
  EXPECT_NE(stale.status().message().find("different model"), std::string::npos) << stale.status();
}

TEST(QuantizeTest, Int8WeightsAreAQuarterOfFp32) {
  CalibrationData data = FashionSample(100);
  auto r = Quantize(ReadFile(DataPath("fashion_cnn.onnx")), {}, QuantizationOptions{}, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->report.weight_bytes_fp32, 800000);
  EXPECT_LE(r->report.weight_bytes_int8, 0.27 * r->report.weight_bytes_fp32)
      << r->report.weight_bytes_int8 << " vs " << r->report.weight_bytes_fp32;
  EXPECT_EQ(r->model->memory().weights, r->report.weight_bytes_int8);
}

struct BadData {
  const char* name;
  std::function<void(CalibrationData&)> corrupt;
  absl::StatusCode code;
  const char* fragment;
};

TEST(QuantizeTest, BadCalibrationDataIsRejectedWithAClearMessage) {
  const std::string onnx = ReadFile(DataPath("fashion_cnn.onnx"));
  const std::vector<BadData> cases = {
      {"wrong shape",
       [](CalibrationData& d) {
         d.inputs.Reshape({10, 28, 28, 1});
       },
       absl::StatusCode::kInvalidArgument, "shape [10,28,28,1]"},
      {"wrong dtype",
       [](CalibrationData& d) {
         d.inputs = core::Tensor(core::DataType::kFloat64, {10, 1, 28, 28});
       },
       absl::StatusCode::kInvalidArgument, "FP64"},
      {"NaN", [](CalibrationData& d) { d.inputs.span<float>()[77] = std::nanf(""); },
       absl::StatusCode::kInvalidArgument, "NaN or Inf"},
      {"Inf", [](CalibrationData& d) { d.inputs.span<float>()[3] = INFINITY; }, absl::StatusCode::kInvalidArgument,
       "NaN or Inf"},
      {"label count", [](CalibrationData& d) { d.labels = core::Tensor(core::DataType::kInt64, {9}); },
       absl::StatusCode::kInvalidArgument, "labels count 9"},
      {"label range", [](CalibrationData& d) { d.labels->span<int64_t>()[4] = 12; }, absl::StatusCode::kInvalidArgument,
       "label 12 at row 4"},
      {"label dtype", [](CalibrationData& d) { d.labels = core::Tensor(core::DataType::kFloat32, {10}); },
       absl::StatusCode::kInvalidArgument, "int64"},
  };
  for (const BadData& c : cases) {
    CalibrationData d = FashionSample(10);
    c.corrupt(d);
    auto r = Quantize(onnx, {}, QuantizationOptions{}, &d);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), c.code) << c.name << ": " << r.status();
    EXPECT_NE(r.status().message().find(c.fragment), std::string::npos) << c.name << ": " << r.status();
  }
  auto no_data = Quantize(onnx, {}, QuantizationOptions{}, nullptr);
  EXPECT_EQ(no_data.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no_data.status().message().find("dynamic"), std::string::npos);
  QuantizationOptions bad;
  bad.max_drop = -0.1;
  CalibrationData d = FashionSample(10);
  EXPECT_EQ(Quantize(onnx, {}, bad, &d).status().code(), absl::StatusCode::kInvalidArgument);
}

// A model whose input is declared UINT8 (an image as bytes) calibrates from
// UINT8 samples: the edge converts them to FP32 for the kernels, once.
TEST(QuantizeTest, Uint8InputModelCalibratesFromUint8Samples) {
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(ReadFile(DataPath("fashion_cnn.onnx"))));
  proto.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::UINT8);
  const std::string onnx = proto.SerializeAsString();
  CalibrationData data = FashionSample(100);
  core::Tensor scaled(core::DataType::kFloat32, data.inputs.dims());
  for (int64_t i = 0; i < scaled.num_elements(); ++i) scaled.span<float>()[i] = data.inputs.span<float>()[i] * 255.f;
  core::Tensor bytes(core::DataType::kUInt8, data.inputs.dims());
  ASSERT_TRUE(core::ConvertElements(scaled.view(), bytes.mutable_view()).ok());
  CalibrationData u8{std::move(bytes), std::nullopt};
  auto r = Quantize(onnx, {}, QuantizationOptions{}, &u8);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model->inputs()[0].dtype, core::DataType::kUInt8);
  auto x = testing::Rows(u8.inputs, 0, 8);
  auto q = r->model->Run({x});
  auto f = r->fp32_model->Run({x});
  ASSERT_TRUE(q.ok() && f.ok()) << q.status() << f.status();
  // The int8 model tracks the float one on the same bytes (a loose bound: it checks the edge, not accuracy).
  const float range = 1.0f + testing::MaxAbsDiff((*f)[0].span<float>(), std::vector<float>((*f)[0].num_elements()));
  EXPECT_LT(testing::MaxAbsDiff((*q)[0].span<float>(), (*f)[0].span<float>()), 0.25f * range);

  CalibrationData wrong = FashionSample(10);  // FP32 samples for a UINT8 model
  auto refused = Quantize(onnx, {}, QuantizationOptions{}, &wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("calibration inputs have dtype FP32; expected UINT8"), std::string::npos)
      << refused.status();
}

// A model whose file fixes batch = 1 (or 3) loads and quantizes: calibration
// and the accuracy check feed it batches of exactly that size (padding the
// last one), instead of the 16/32 rows it would refuse.
TEST(QuantizeTest, FixedBatchModelCalibratesInBatchesItAccepts) {
  for (int64_t fixed : {1, 3}) {
    SCOPED_TRACE(fixed);
    onnx::ModelProto proto;
    ASSERT_TRUE(proto.ParseFromString(ReadFile(DataPath("fashion_cnn.onnx"))));
    auto* dim0 =
        proto.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0);
    dim0->Clear();
    dim0->set_dim_value(fixed);
    const std::string onnx = proto.SerializeAsString();
    CalibrationData data = FashionSample(100);  // 100 rows: not a multiple of 3
    QuantizationOptions o;
    auto r = Quantize(onnx, {}, o, &data);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->model->inputs()[0].dims[0], fixed);
    EXPECT_GT(r->report.calibration_samples, 0);
    // The accuracy check ran on the held-out rows and int8 agrees with float on nearly all of them.
    EXPECT_GT(r->report.eval_samples, 0);
    EXPECT_GT(r->report.agreement, 0.9);
    auto x = testing::Rows(data.inputs, 0, fixed);
    auto q = r->model->Run({x});
    auto f = r->fp32_model->Run({x});
    ASSERT_TRUE(q.ok() && f.ok()) << q.status() << f.status();
    EXPECT_LT(testing::MaxAbsDiff((*q)[0].span<float>(), (*f)[0].span<float>()), 1.0f);
    // A batch the file does not allow is a clear error, not a crash.
    auto wrong = r->model->Run({testing::Rows(data.inputs, 0, fixed + 1)});
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace q8::engine
