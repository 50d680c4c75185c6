// The model zoo, end to end through one real q8serve process: every model
// exported at test time by tools/export_zoo.py (torchvision classifiers, a
// segmentation net, an LSTM, a transformer encoder) is uploaded fp32 and
// compared with PyTorch, then uploaded again quantized (static int8 with
// calibration data: inputs.npy, or inputs.npz with token ids + mask for the
// transformer) and compared with the served fp32 outputs.
//
// Criteria, per model (kZoo): fp32 max |served - PyTorch| <= rel_tol *
// max |PyTorch|; int8 vs fp32 top-1 agreement (per sample; per pixel for
// segmentation) >= min_agreement and mean per-sample cosine similarity >=
// min_cosine. The suite ends by checking MODEL_ZOO.md against what it
// measured (Q8_UPDATE_MODEL_ZOO_DOC=1 rewrites it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/npy.h"
#include "nlohmann/json.hpp"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/quant_helpers.h"
#include "tests/integration/server_process.h"

namespace q8::testing {
namespace {

using Json = nlohmann::json;

// Floors for the int8 checks are per model: the weights are random, and deep
// random BatchNorm networks are chaotic (PyTorch's own fp32 output moves as
// much under 30 dB input noise, the table's last column), so int8 agreement
// says little about the quantizer there. Their floors (measured minus a
// margin, on 8 samples) guard against regressions; ConvNeXt, SqueezeNet, ViT
// and Swin, which are not chaotic, hold the quantizer to a real standard
// (cosine 0.99).
struct ZooModel {
  const char* name;
  const char* skip;  // non-empty: blocked, with the reason (owner after the colon)
  double min_agreement;
  double min_cosine;  // mean over samples
  double rel_tol = 1e-3;
};

const ZooModel kZoo[] = {
    {"resnet18", "", 0.125, 0.95},
    {"resnet50", "", 0, 0.45},
    {"resnext50_32x4d", "", 0, 0.5},
    {"mobilenet_v2", "", 0, 0.5},
    {"mobilenet_v3_small", "", 0.125, 0.85},
    {"mobilenet_v3_large", "", 0, 0.75},
    {"efficientnet_b0", "", 0, 0.7},
    {"regnet_y_400mf", "", 0, 0.55},
    {"shufflenet_v2_x1_0", "", 0, 0.5},
    {"squeezenet1_1", "", 0.875, 0.99},
    {"densenet121", "", 0.25, 0.85},
    {"googlenet", "", 0.25, 0.8},
    {"mnasnet1_0", "", 0, 0.4},
    {"convnext_tiny", "", 0.625, 0.99},
    {"vit_b_16", "", 0.75, 0.99},
    {"swin_t", "", 0.625, 0.99},
    {"lraspp_mobilenet_v3_large", "", 0.375, 0.8},  // per pixel over 4 images
    {"lstm_fashion", "", 0.875, 0.99},
    {"transformer_encoder", "", 0.875, 0.99},  // 64 sequences; not chaotic: a real standard
};

constexpr int kBatch = 8;  // requests carry at most this many samples (the models' max_batch_size)

// $Q8_ZOO_DIR overrides the build's export directory (a partial export elsewhere).
std::string ZooDir() {
  const char* env = std::getenv("Q8_ZOO_DIR");
  return env != nullptr ? env : Q8_ZOO_DIR;
}

core::Tensor LoadNpy(const std::string& path) {
  auto t = core::ParseNpy(ReadFileOrDie(path));
  EXPECT_TRUE(t.ok()) << path << ": " << t.status();
  return t.ok() ? std::move(*t) : core::Tensor();
}

// Rows [first, first+n) of each input as one request; returns the FP32 output and its shape.
grpc::Status InferRows(Stub& stub, const std::string& model, const std::vector<std::string>& names,
                       const std::vector<core::Tensor>& inputs, int64_t first, int64_t n, std::vector<float>* out,
                       std::vector<int64_t>* shape) {
  inference::ModelInferRequest req;
  req.set_model_name(model);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const core::Tensor& t = inputs[k];
    auto* in = req.add_inputs();
    in->set_name(names[k]);
    in->set_datatype(std::string(core::OipName(t.dtype())));
    in->add_shape(n);
    for (size_t d = 1; d < t.dims().size(); ++d) in->add_shape(t.dims()[d]);
    const int64_t row = t.byte_size() / t.dims()[0];
    req.add_raw_input_contents(std::string(static_cast<const char*>(t.data()) + first * row, n * row));
  }
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(stub, req, &resp, 300);
  if (!s.ok()) return s;
  std::vector<float> part = Logits(resp);
  out->insert(out->end(), part.begin(), part.end());
  shape->assign(resp.outputs(0).shape().begin(), resp.outputs(0).shape().end());
  return s;
}

grpc::Status InferAll(Stub& stub, const std::string& model, const std::vector<std::string>& names,
                      const std::vector<core::Tensor>& inputs, std::vector<float>* out) {
  const int64_t rows = inputs[0].dims()[0];
  std::vector<int64_t> shape;
  for (int64_t first = 0; first < rows; first += kBatch) {
    grpc::Status s = InferRows(stub, model, names, inputs, first, std::min<int64_t>(kBatch, rows - first), out, &shape);
    if (!s.ok()) return s;
  }
  return grpc::Status::OK;
}

// Top-1 agreement and the mean per-sample cosine similarity of b vs a,
// both [N, C, rest...]: argmax over C at every (sample, rest) position.
struct Agreement {
  double top1 = 0;
  double mean_cosine = 0;
};
Agreement Compare(const std::vector<float>& a, const std::vector<float>& b, const std::vector<int64_t>& dims) {
  const int64_t n = dims[0], c = dims[1];
  int64_t rest = 1;
  for (size_t d = 2; d < dims.size(); ++d) rest *= dims[d];
  Agreement r;
  int64_t agree = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* pa = a.data() + i * c * rest;
    const float* pb = b.data() + i * c * rest;
    double dot = 0, na = 0, nb = 0;
    for (int64_t j = 0; j < c * rest; ++j)
      dot += double{pa[j]} * pb[j], na += double{pa[j]} * pa[j], nb += double{pb[j]} * pb[j];
    r.mean_cosine += dot / std::sqrt(std::max(na * nb, 1e-30)) / static_cast<double>(n);
    for (int64_t p = 0; p < rest; ++p) {
      int64_t ia = 0, ib = 0;
      for (int64_t k = 1; k < c; ++k) {
        if (pa[k * rest + p] > pa[ia * rest + p]) ia = k;
        if (pb[k * rest + p] > pb[ib * rest + p]) ib = k;
      }
      agree += ia == ib;
    }
  }
  r.top1 = static_cast<double>(agree) / static_cast<double>(n * rest);
  return r;
}

// What one model measured; rows of MODEL_ZOO.md.
struct Row {
  std::string status = "not run";  // "pass", "FAIL: ...", "blocked: ..."
  double fp32_rel_err = -1;
  int int8_layers = 0, conv_matmul = 0;
  std::string quant_mode;
  double noise_cosine = -2;  // PyTorch fp32 under 30 dB input noise (export time); -2: not measured
  Agreement agreement;
  double seconds = 0;
};

class ModelZooTest : public ::testing::TestWithParam<ZooModel> {
 protected:
  static void SetUpTestSuite() {
    manifest_ = new Json();
    std::ifstream f(ZooDir() + "/zoo.json");
    ASSERT_TRUE(f) << "missing " << ZooDir() << "/zoo.json: the export_zoo fixture did not run";
    f >> *manifest_;
    server_ = new ServerProcess();
    ASSERT_TRUE(server_->Start(MakeTempDir("q8_zoo")));
    rows_ = new std::map<std::string, Row>();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(), 0);
    }
    delete server_;
    server_ = nullptr;
    if (rows_ != nullptr && rows_->size() == std::size(kZoo) &&
        ::testing::UnitTest::GetInstance()->failed_test_count() == 0) {
      CheckDoc();
    }
    delete rows_;
    delete manifest_;
  }
  static void CheckDoc();

  static inline Json* manifest_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::map<std::string, Row>* rows_ = nullptr;
};

TEST_P(ModelZooTest, LoadsMatchesPyTorchQuantizesAndServes) {
  const ZooModel& z = GetParam();
  Row& row = (*rows_)[z.name];
  if (*z.skip) {
    row.status = absl::StrCat("blocked: ", z.skip);
    GTEST_SKIP() << z.skip;
  }
  ASSERT_NE(server_, nullptr);
  ASSERT_TRUE(manifest_->at("models").contains(z.name)) << z.name << " not exported";
  const auto t0 = std::chrono::steady_clock::now();
  const Json& m = manifest_->at("models").at(z.name);
  const std::string dir = ZooDir() + "/";
  const std::string onnx = ReadFileOrDie(dir + m.at("onnx").get<std::string>());
  std::vector<std::string> names = m.at("input_names").get<std::vector<std::string>>();
  std::vector<core::Tensor> inputs;
  for (const auto& file : m.at("inputs")) inputs.push_back(LoadNpy(dir + file.get<std::string>()));
  const core::Tensor golden = LoadNpy(dir + m.at("golden").get<std::string>());
  auto stub = server_->Stub();
  auto model_stub = server_->ModelStub();
  row.status = "FAIL: fp32 load";

  // fp32: loads and matches PyTorch.
  const std::string fp32_name = absl::StrCat(z.name, "_fp32");
  grpc::Status s = UploadModel(*stub, fp32_name, onnx,
                               absl::StrFormat(R"({"max_batch_size":%d,"quantization":{"mode":"none"}})", kBatch));
  ASSERT_TRUE(s.ok()) << z.name << " fp32 upload: " << s.error_message();
  std::vector<float> fp32;
  s = InferAll(*stub, fp32_name, names, inputs, &fp32);
  row.status = "FAIL: fp32 infer";
  ASSERT_TRUE(s.ok()) << z.name << " fp32 infer: " << s.error_message();
  auto g = golden.span<float>();
  ASSERT_EQ(fp32.size(), g.size());
  double scale = 0, diff = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    scale = std::max(scale, double{std::abs(g[i])});
    diff = std::max(diff, double{std::abs(fp32[i] - g[i])});
  }
  ASSERT_GT(scale, 0);
  row.fp32_rel_err = diff / scale;
  row.status = "FAIL: fp32 vs PyTorch";
  ASSERT_LE(row.fp32_rel_err, z.rel_tol) << z.name << ": max abs diff " << diff << " vs output scale " << scale;

  // int8: static with calibration (.npy, or .npz keyed by input name for the
  // multi-input transformer), else dynamic.
  const bool has_calib = m.contains("calibration");
  row.quant_mode = has_calib ? "static" : "dynamic";
  const std::string config = absl::StrFormat(
      R"({"max_batch_size":%d,"quantization":{"mode":"%s","accuracy":{"max_drop":1.0}}})", kBatch, row.quant_mode);
  std::vector<UploadFile> files = {{"model.onnx", onnx}};
  if (has_calib) {
    const std::string calib = m.at("calibration").get<std::string>();
    const bool npz = absl::EndsWith(calib, ".npz");
    files.push_back({npz ? "calibration/inputs.npz" : "calibration/inputs.npy", ReadFileOrDie(dir + calib)});
  }
  row.status = "FAIL: quantize";
  StreamedUpload up = StreamUpload(*model_stub, z.name, 1, config, files);
  ASSERT_TRUE(up.status.ok()) << z.name << " quantized upload: " << up.status.error_message();
  std::string report_json;
  s = GetReport(*model_stub, z.name, 1, &report_json);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const Json report = Json::parse(report_json);
  for (const auto& l : report.at("layers")) {
    const std::string op = l.at("op"), precision = l.at("precision");
    if ((op == "Conv" || op == "MatMul" || op == "Gemm") && precision.rfind("int8", 0) == 0) ++row.int8_layers;
  }
  for (const char* op : {"Conv", "MatMul", "Gemm"}) row.conv_matmul += m.at("op_counts").value(op, 0);
  EXPECT_GT(row.int8_layers, 0) << z.name << ": no Conv/MatMul/Gemm runs in int8\n" << report_json;

  std::vector<float> int8;
  s = InferAll(*stub, z.name, names, inputs, &int8);
  row.status = "FAIL: int8 infer";
  ASSERT_TRUE(s.ok()) << z.name << " int8 infer: " << s.error_message();
  ASSERT_EQ(int8.size(), fp32.size());
  row.agreement = Compare(fp32, int8, golden.dims());
  row.status = "FAIL: int8 vs fp32";
  if (m.contains("noise_reference")) row.noise_cosine = m.at("noise_reference").at("mean_cosine");
  EXPECT_GE(row.agreement.top1, z.min_agreement) << z.name;
  EXPECT_GE(row.agreement.mean_cosine, z.min_cosine) << z.name << "; report:\n" << report.dump(1);
  if (!HasFailure()) row.status = "pass";

  EXPECT_TRUE(Unload(*stub, fp32_name).ok());
  EXPECT_TRUE(Unload(*stub, z.name).ok());
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << z.name << ": fp32 rel err " << row.fp32_rel_err << ", int8 " << row.int8_layers << "/" << row.conv_matmul
            << ", top-1 " << row.agreement.top1 << ", mean cos " << row.agreement.mean_cosine << " (" << row.seconds
            << " s)\n";
}

// MODEL_ZOO.md: a table generated from the rows measured above and kZoo.
// Status, int8 count, mode and the int8 floors must match exactly; the
// measured numbers within what another CPU's rounding may move them: the
// fp32 error column is an upper bound (twice the measured value, rounded up
// to one significant digit, when generated), int8 agreement within one of
// the 8 samples, cosines within 0.02.
std::string RoundUpBound(double v) {
  if (v <= 0) return "0";
  double e = std::floor(std::log10(2 * v));
  double m = std::ceil(2 * v / std::pow(10, e));
  if (m >= 10) m = 1, e += 1;
  return absl::StrFormat("%.0fe%d", m, static_cast<int>(e));
}

std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line.substr(1));
  std::string cell;
  while (std::getline(ss, cell, '|')) {
    const size_t b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
    cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
  }
  return cells;
}

constexpr char kDocHeader[] =
    "| model | status | fp32 max abs error / max abs output (bound) | Conv+MatMul+Gemm in int8 | quantization | "
    "int8 vs fp32 top-1 agreement (test floor) | int8 vs fp32 mean cosine (test floor) | "
    "PyTorch fp32 under 30 dB input noise, mean cosine |";

std::string Fixed3(double v) { return v < -1.5 ? "n/a" : absl::StrFormat("%.3f", std::floor(v * 1000) / 1000); }

std::string DocRow(const ZooModel& z, const Row& r) {
  if (r.status != "pass") return absl::StrCat("| ", z.name, " | ", r.status, " | | | | | | |");
  return absl::StrFormat("| %s | pass | %s | %d/%d | %s | %.1f%% (%.1f%%) | %s (%.2f) | %s |", z.name,
                         RoundUpBound(r.fp32_rel_err), r.int8_layers, r.conv_matmul, r.quant_mode,
                         r.agreement.top1 * 100, z.min_agreement * 100, Fixed3(r.agreement.mean_cosine), z.min_cosine,
                         Fixed3(r.noise_cosine));
}

// "37.5% (12.5%)" -> {37.5, "(12.5%)"}: the measured number and the floor as text.
std::pair<double, std::string> MeasuredAndFloor(const std::string& cell) {
  const size_t paren = cell.find('(');
  if (paren == std::string::npos) return {-1e9, cell};
  return {std::atof(cell.c_str()), cell.substr(paren)};
}

void ModelZooTest::CheckDoc() {
  const std::string path = std::string(Q8_SOURCE_DIR) + "/MODEL_ZOO.md";
  std::ostringstream table;
  table << kDocHeader << "\n|---|---|---|---|---|---|---|---|\n";
  for (const ZooModel& z : kZoo) table << DocRow(z, (*rows_)[z.name]) << "\n";
  std::ifstream in(path);
  std::stringstream doc;
  doc << in.rdbuf();
  const std::string text = doc.str();
  const size_t start = text.find(kDocHeader);
  const std::string generated = table.str();
  if (std::getenv("Q8_UPDATE_MODEL_ZOO_DOC") != nullptr) {
    const size_t end = start == std::string::npos ? std::string::npos : text.find("\n\n", start);
    std::ofstream(path) << text.substr(0, start) << generated << (end == std::string::npos ? "" : text.substr(end + 1));
    return;
  }
  ASSERT_NE(start, std::string::npos) << path << " lacks the table header; regenerate with Q8_UPDATE_MODEL_ZOO_DOC=1";
  std::map<std::string, std::vector<std::string>> documented;
  std::stringstream lines(text.substr(start));
  std::string line;
  std::getline(lines, line);
  std::getline(lines, line);
  while (std::getline(lines, line) && !line.empty() && line[0] == '|') {
    auto cells = Cells(line);
    documented[cells[0]] = cells;
  }
  const std::string hint = "; regenerate with Q8_UPDATE_MODEL_ZOO_DOC=1 (this run's table:\n" + generated + ")";
  EXPECT_EQ(documented.size(), std::size(kZoo)) << path << " lists other models" << hint;
  for (const ZooModel& z : kZoo) {
    const Row& r = (*rows_)[z.name];
    auto it = documented.find(z.name);
    if (it == documented.end()) {
      ADD_FAILURE() << path << " lacks " << z.name << hint;
      continue;
    }
    const auto& d = it->second;
    const auto want = Cells(DocRow(z, r));
    ASSERT_EQ(d.size(), want.size()) << line << hint;
    EXPECT_EQ(d[1], want[1]) << z.name << hint;
    if (r.status != "pass" || d[1] != "pass") continue;
    EXPECT_LE(r.fp32_rel_err, std::stod(d[2])) << z.name << ": fp32 error above the documented bound" << hint;
    EXPECT_EQ(d[3], want[3]) << z.name << hint;
    EXPECT_EQ(d[4], want[4]) << z.name << hint;
    for (int col : {5, 6}) {
      const auto [doc_value, doc_floor] = MeasuredAndFloor(d[col]);
      const auto [value, floor] = MeasuredAndFloor(want[col]);
      EXPECT_EQ(doc_floor, floor) << z.name << " column " << col << hint;
      EXPECT_NEAR(doc_value, value, col == 5 ? 12.6 : 0.02) << z.name << " column " << col << hint;
    }
    // Measured by PyTorch at export time: informational, last digits may differ between CPUs.
    if (d[7] != "n/a" && want[7] != "n/a") {
      EXPECT_NEAR(std::stod(d[7]), std::stod(want[7]), 0.02) << z.name << hint;
    } else {
      EXPECT_EQ(d[7], want[7]) << z.name << hint;
    }
  }
}

void PrintTo(const ZooModel& z, std::ostream* os) { *os << z.name; }

INSTANTIATE_TEST_SUITE_P(Zoo, ModelZooTest, ::testing::ValuesIn(kZoo),
                         [](const ::testing::TestParamInfo<ZooModel>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace q8::testing
