// Static quantization of models with several inputs, calibrated from sample
// groups of different shapes (engine/quant/calibration_data.h): statistics of
// every group are merged, non-float inputs (token ids, masks) are fed as
// they are, and every malformed group is refused naming the key.
#include <gtest/gtest.h>

#include <random>

#include "absl/strings/match.h"
#include "engine/quantize.h"
#include "tests/testing/onnx_builder.h"
#include "tests/testing/random_data.h"

namespace q8::engine {
namespace {

using q8::testing::OnnxBuilder;

// x [N, S, 16] and c [N, 1, 8]: y = Relu(x W1 + c W2) W3, [N, S, 4].
std::string TwoFloatInputs() {
  OnnxBuilder b;
  b.Input("x", {-1, -1, 16}).Input("c", {-1, 1, 8}).Output("y");
  b.RandomInitializer("w1", {16, 8}, -0.5, 0.5).RandomInitializer("w2", {8, 8}, -0.5, 0.5);
  b.RandomInitializer("w3", {8, 4}, -0.5, 0.5);
  b.Node("MatMul", {"x", "w1"}, {"h"});
  b.Node("MatMul", {"c", "w2"}, {"g"});
  b.Node("Add", {"h", "g"}, {"s"});
  b.Node("Relu", {"s"}, {"r"});
  b.Node("MatMul", {"r", "w3"}, {"y"});
  return b.Serialize();
}

using q8::testing::Normal;

CalibrationGroup Group(const std::string& name, int64_t n, int64_t seq, uint32_t seed, float scale) {
  CalibrationGroup g;
  g.name = name;
  g.inputs.emplace_back("x", Normal({n, seq, 16}, seed, scale));
  g.inputs.emplace_back("c", Normal({n, 1, 8}, seed + 1, scale));
  return g;
}

int Int8MatMuls(const QuantizationReport& r) {
  int n = 0;
  for (const LayerReport& l : r.layers) n += l.op == "MatMul" && l.precision == "int8";
  return n;
}

// Worst |int8 - fp32| over the output, relative to the fp32 output's largest magnitude.
double RelativeError(const QuantizationResult& r, const core::Tensor& x, const core::Tensor& c) {
  auto q = r.model->Run({x.view(), c.view()});
  auto f = r.fp32_model->Run({x.view(), c.view()});
  EXPECT_TRUE(q.ok() && f.ok()) << q.status() << f.status();
  if (!q.ok() || !f.ok()) return 1e9;
  double peak = 0, worst = 0;
  auto fs = (*f)[0].span<float>(), qs = (*q)[0].span<float>();
  for (size_t i = 0; i < fs.size(); ++i) {
    peak = std::max(peak, std::abs(double(fs[i])));
    worst = std::max(worst, std::abs(double(fs[i]) - qs[i]));
  }
  return worst / std::max(peak, 1e-6);
}

// Two groups at sequence lengths 4 and 12, the second four times larger in
// magnitude: the int8 model is close to fp32 at both shapes (and at an
// unseen length), which holds only if the second group's ranges were merged
// in (min/max of the first alone would clip its values at a quarter).
TEST(MultiInputCalibrationTest, TwoShapeGroupsCalibrateOneStaticModel) {
  CalibrationData data;
  data.groups.push_back(Group("len4", 48, 4, 1, 1.0f));
  data.groups.push_back(Group("len12", 48, 12, 3, 4.0f));
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  o.method = CalibrationMethod::kMinMax;
  o.max_drop = 1.0;  // random weights: agreement is not the point here
  auto r = Quantize(TwoFloatInputs(), {}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->report.mode, "static");
  EXPECT_EQ(Int8MatMuls(r->report), 3) << r->report.ToJson(2);
  // 20 % of each group held out: 2 x 38 calibrate, 2 x 10 evaluate.
  EXPECT_EQ(r->report.calibration_samples, 76);
  EXPECT_EQ(r->report.eval_samples, 20);
  // Tolerance: 5 % of the output's peak (int8 per-tensor activations, 3 layers).
  for (auto [seq, scale] : {std::pair{4, 1.0f}, std::pair{12, 4.0f}, std::pair{7, 4.0f}}) {
    SCOPED_TRACE(seq);
    const core::Tensor x = Normal({3, seq, 16}, 100 + seq, scale), c = Normal({3, 1, 8}, 200 + seq, scale);
    EXPECT_LT(RelativeError(*r, x, c), 0.05);
  }
}

// The same model calibrated from the small group only clips the large
// inputs: the check above can fail.
TEST(MultiInputCalibrationTest, OneSmallGroupAloneDoesNotCoverLargeInputs) {
  CalibrationData data;
  data.groups.push_back(Group("len4", 48, 4, 1, 1.0f));
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  o.method = CalibrationMethod::kMinMax;
  o.max_drop = 1.0;
  auto r = Quantize(TwoFloatInputs(), {}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  const core::Tensor x = Normal({3, 12, 16}, 112, 4.0f), c = Normal({3, 1, 8}, 212, 4.0f);
  EXPECT_GT(RelativeError(*r, x, c), 0.1);
}

// ids INT64 [N, S] -> Gather(embedding) -> MatMul; mask BOOL [N, S] -> Cast
// -> Unsqueeze -> Mul: the ids and the mask are fed as they are and only the
// float tensors get statistics.
std::string IdsAndMask() {
  OnnxBuilder b;
  b.Input("ids", {-1, -1}).Input("mask", {-1, -1}).Output("y");
  auto* inputs = b.model().mutable_graph()->mutable_input();
  (*inputs)[0].mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
  (*inputs)[1].mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);
  b.RandomInitializer("emb", {20, 16}, -1, 1).RandomInitializer("w", {16, 6}, -0.5, 0.5);
  b.Int64Initializer("axis2", {1}, {2});
  b.Node("Gather", {"emb", "ids"}, {"e"});
  OnnxBuilder::AttrInt(b.Node("Cast", {"mask"}, {"mf"}), "to", onnx::TensorProto::FLOAT);
  b.Node("Unsqueeze", {"mf", "axis2"}, {"m3"});
  b.Node("Mul", {"e", "m3"}, {"em"});
  b.Node("MatMul", {"em", "w"}, {"y"});
  return b.Serialize();
}

CalibrationGroup IdsGroup(const std::string& name, int64_t n, int64_t seq, uint32_t seed) {
  CalibrationGroup g;
  g.name = name;
  core::Tensor ids(core::DataType::kInt64, {n, seq}), mask(core::DataType::kBool, {n, seq});
  std::mt19937 rng(seed);
  for (int64_t& v : ids.span<int64_t>()) v = static_cast<int64_t>(rng() % 20);
  for (uint8_t& v : mask.span<uint8_t>()) v = rng() % 4 != 0;
  g.inputs.emplace_back("mask", std::move(mask));  // any order: matched by name
  g.inputs.emplace_back("ids", std::move(ids));
  return g;
}

TEST(MultiInputCalibrationTest, TokenIdsAndMaskAreFedAsTheyAre) {
  CalibrationData data;
  data.groups.push_back(IdsGroup("len8", 40, 8, 5));
  data.groups.push_back(IdsGroup("len20", 40, 20, 6));
  QuantizationOptions o;
  o.mode = QuantMode::kStatic;
  o.max_drop = 1.0;
  auto r = Quantize(IdsAndMask(), {}, o, &data);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Int8MatMuls(r->report), 1) << r->report.ToJson(2);
  const CalibrationGroup probe = IdsGroup("", 2, 11, 9);
  const core::Tensor& ids = probe.inputs[1].second;
  const core::Tensor& mask = probe.inputs[0].second;
  auto q = r->model->Run({ids.view(), mask.view()});
  auto f = r->fp32_model->Run({ids.view(), mask.view()});
  ASSERT_TRUE(q.ok() && f.ok()) << q.status() << f.status();
  double peak = 0, worst = 0;
  for (int64_t i = 0; i < (*f)[0].num_elements(); ++i) {
    peak = std::max(peak, std::abs(double((*f)[0].span<float>()[i])));
    worst = std::max(worst, std::abs(double((*f)[0].span<float>()[i]) - (*q)[0].span<float>()[i]));
  }
  EXPECT_LT(worst, 0.03 * peak);  // one int8 MatMul over an exact embedding lookup
}

struct BadGroup {
  const char* name;
  std::function<void(CalibrationData&)> corrupt;
  absl::StatusCode code;
  const char* fragment;
};

TEST(MultiInputCalibrationTest, MalformedGroupsAreRefusedNamingTheKey) {
  const std::vector<BadGroup> cases = {
      {"missing input", [](CalibrationData& d) { d.groups[1].inputs.pop_back(); }, absl::StatusCode::kInvalidArgument,
       "no key 'len12/c'"},
      {"extra key",
       [](CalibrationData& d) {
         d.groups[0].inputs.emplace_back("z", Normal({48, 1, 8}, 1, 1));
       },
       absl::StatusCode::kInvalidArgument, "key 'len4/z' names no input of the model (inputs: 'x', 'c')"},
      {"input twice",
       [](CalibrationData& d) {
         d.groups[0].inputs.emplace_back("c", Normal({48, 1, 8}, 1, 1));
       },
       absl::StatusCode::kInvalidArgument, "gives input 'c' twice"},
      {"dtype",
       [](CalibrationData& d) {
         d.groups[1].inputs[1].second = core::Tensor(core::DataType::kFloat64, {48, 1, 8});
       },
       absl::StatusCode::kInvalidArgument, "key 'len12/c' has dtype FP64; expected FP32"},
      {"leading count",
       [](CalibrationData& d) {
         d.groups[0].inputs[1].second = Normal({47, 1, 8}, 1, 1);
       },
       absl::StatusCode::kInvalidArgument, "'len4/c' has 47 samples but 'len4/x' has 48"},
      {"rank",
       [](CalibrationData& d) {
         d.groups[0].inputs[0].second = Normal({48, 16}, 1, 1);
       },
       absl::StatusCode::kInvalidArgument, "key 'len4/x' has shape [48,16]"},
      {"fixed dim",
       [](CalibrationData& d) {
         d.groups[0].inputs[1].second = Normal({48, 2, 8}, 1, 1);
       },
       absl::StatusCode::kInvalidArgument, "key 'len4/c' has shape [48,2,8]"},
      {"NaN", [](CalibrationData& d) { d.groups[1].inputs[0].second.span<float>()[5] = std::nanf(""); },
       absl::StatusCode::kInvalidArgument, "key 'len12/x' has NaN or Inf"},
      {"labels in one group only",
       [](CalibrationData& d) { d.groups[0].labels = core::Tensor(core::DataType::kInt64, {48}); },
       absl::StatusCode::kInvalidArgument, "group 'len12' has no labels"},
      {"labels count",
       [](CalibrationData& d) {
         d.groups[0].labels = core::Tensor(core::DataType::kInt64, {48});
         d.groups[1].labels = core::Tensor(core::DataType::kInt64, {40});
       },
       absl::StatusCode::kInvalidArgument, "labels count 40 does not match the 48"},
      {"npy form for two inputs",
       [](CalibrationData& d) {
         d.groups.clear();
         d.inputs = Normal({8, 4, 16}, 1, 1);
       },
       absl::StatusCode::kFailedPrecondition, "calibration/inputs.npz"},
  };
  for (const BadGroup& c : cases) {
    SCOPED_TRACE(c.name);
    CalibrationData d;
    d.groups.push_back(Group("len4", 48, 4, 1, 1.0f));
    d.groups.push_back(Group("len12", 48, 12, 3, 1.0f));
    c.corrupt(d);
    auto r = Quantize(TwoFloatInputs(), {}, QuantizationOptions{}, &d);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), c.fragment)) << r.status();
  }
}

TEST(MultiInputCalibrationTest, NpzKeysMapToGroups) {
  std::vector<core::NamedTensor> arrays;
  arrays.push_back({"len4/x", Normal({2, 4, 16}, 1, 1)});
  arrays.push_back({"len4/__labels__", core::Tensor(core::DataType::kInt64, {2})});
  arrays.push_back({"x", Normal({3, 4, 16}, 1, 1)});
  arrays.push_back({"len4/in/put", Normal({2, 1}, 1, 1)});
  auto d = CalibrationFromNpz(std::move(arrays));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->groups.size(), 2u);
  EXPECT_EQ(d->groups[0].name, "len4");
  ASSERT_EQ(d->groups[0].inputs.size(), 2u);
  EXPECT_EQ(d->groups[0].inputs[1].first, "in/put");  // split at the first '/'
  EXPECT_TRUE(d->groups[0].labels.has_value());
  EXPECT_EQ(d->groups[1].name, "");
  EXPECT_FALSE(d->groups[1].labels.has_value());

  for (const char* bad : {"/x", "len4/", "g/__labels__"}) {
    std::vector<core::NamedTensor> one;
    one.push_back({bad, core::Tensor(core::DataType::kInt64, {2})});
    auto r = CalibrationFromNpz(std::move(one));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace q8::engine
