// ONNX's own node conformance cases (Debian libonnx-testdata) for the ops of
// unary_op.cc, reduce_op.cc, the binary ops and the normalizations, run
// through the engine in fp32 against the expected outputs shipped with each
// case (rtol 1e-3, atol 1e-4). Every case listed in onnx_node_cases_passing.txt
// must pass; Q8_NODE_CASES
// =<prefix> prints pass/fail for every case whose name starts with it
// (a survey, asserting nothing), for growing the list.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "engine/compiler.h"
#include "onnx/onnx_pb.h"
#include "tests/unit/engine/test_util.h"

namespace q8::engine {
namespace {

namespace fs = std::filesystem;
constexpr const char* kNodeDir = "/usr/share/libonnx-testdata/data/node";

// Float (or bool, as 0/1) tensor from a TensorProto file; nullopt for other types.
std::optional<core::Tensor> ReadTensor(const std::string& path) {
  onnx::TensorProto p;
  if (!p.ParseFromString(testing::ReadFile(path))) return std::nullopt;
  core::Dims dims(p.dims().begin(), p.dims().end());
  core::Tensor t(core::DataType::kFloat32, dims);
  auto dst = t.span<float>();
  if (p.data_type() == onnx::TensorProto::FLOAT) {
    if (!p.raw_data().empty()) {
      if (p.raw_data().size() != dst.size() * 4) return std::nullopt;
      std::memcpy(dst.data(), p.raw_data().data(), p.raw_data().size());
    } else {
      if (static_cast<size_t>(p.float_data_size()) != dst.size()) return std::nullopt;
      for (size_t i = 0; i < dst.size(); ++i) dst[i] = p.float_data(static_cast<int>(i));
    }
    return t;
  }
  if (p.data_type() == onnx::TensorProto::BOOL) {
    if (!p.raw_data().empty() && p.raw_data().size() == dst.size()) {
      for (size_t i = 0; i < dst.size(); ++i) dst[i] = p.raw_data()[i] != 0 ? 1.0f : 0.0f;
      return t;
    }
    if (static_cast<size_t>(p.int32_data_size()) == dst.size()) {
      for (size_t i = 0; i < dst.size(); ++i) dst[i] = p.int32_data(static_cast<int>(i)) != 0 ? 1.0f : 0.0f;
      return t;
    }
  }
  return std::nullopt;
}

// "" when the case passes, else why not.
std::string RunCase(const std::string& name) {
  const fs::path dir = fs::path(kNodeDir) / name;
  auto model = Compile(testing::ReadFile((dir / "model.onnx").string()));
  if (!model.ok()) return std::string(model.status().message());
  const fs::path data = dir / "test_data_set_0";
  std::vector<core::Tensor> inputs;
  for (int i = 0; fs::exists(data / ("input_" + std::to_string(i) + ".pb")); ++i) {
    auto t = ReadTensor((data / ("input_" + std::to_string(i) + ".pb")).string());
    if (!t) return "input of a non-float type";
    inputs.push_back(std::move(*t));
  }
  std::vector<core::TensorView> views;
  for (const core::Tensor& t : inputs) views.push_back(t.view());
  auto out = (*model)->Run(views);
  if (!out.ok()) return std::string(out.status().message());
  for (size_t i = 0; i < out->size(); ++i) {
    auto want = ReadTensor((data / ("output_" + std::to_string(i) + ".pb")).string());
    if (!want) return "output of a non-float type";
    auto got = (*out)[i].span<float>();
    auto exp = want->span<float>();
    if (got.size() != exp.size()) return "output " + std::to_string(i) + " has the wrong size";
    for (size_t k = 0; k < got.size(); ++k) {
      const bool both_nan = std::isnan(got[k]) && std::isnan(exp[k]);
      const bool both_inf = std::isinf(got[k]) && got[k] == exp[k];
      if (!both_nan && !both_inf && !(std::fabs(got[k] - exp[k]) <= 1e-4f + 1e-3f * std::fabs(exp[k]))) {
        return "output " + std::to_string(i) + "[" + std::to_string(k) + "] = " + std::to_string(got[k]) +
               ", expected " + std::to_string(exp[k]);
      }
    }
  }
  return "";
}

TEST(OnnxNodeCasesTest, ListedCasesPass) {
  if (!fs::exists(kNodeDir)) GTEST_SKIP() << "libonnx-testdata is not installed";
  std::istringstream list(testing::ReadFile(std::string(Q8_ENGINE_TEST_DIR) + "/onnx_node_cases_passing.txt"));
  int count = 0;
  for (std::string name; std::getline(list, name);) {
    if (name.empty() || name[0] == '#') continue;
    ++count;
    EXPECT_EQ(RunCase(name), "") << name;
  }
  EXPECT_GT(count, 150);
}

TEST(OnnxNodeCasesTest, Survey) {
  const char* prefix = std::getenv("Q8_NODE_CASES");
  if (prefix == nullptr || !fs::exists(kNodeDir)) GTEST_SKIP() << "set Q8_NODE_CASES=<case prefix> to survey";
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kNodeDir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  int pass = 0;
  for (const std::string& n : names) {
    const std::string why = RunCase(n);
    pass += why.empty();
    std::printf("%s %s %s\n", why.empty() ? "PASS" : "FAIL", n.c_str(), why.substr(0, 160).c_str());
  }
  std::printf("%d / %zu pass\n", pass, names.size());
}

}  // namespace
}  // namespace q8::engine
