// Loader for ONNX conformance cases; see conformance_case.h.
#include "tests/testing/conformance_case.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "engine/import/onnx_importer.h"
#include "onnx/onnx_pb.h"

namespace q8::testing {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// What a graph value holds when it is not a plain tensor ("" for a tensor).
std::string NonTensorKind(const onnx::TypeProto& type) {
  if (type.has_sequence_type()) return "a sequence";
  if (type.has_optional_type()) return "an optional";
  if (type.has_map_type()) return "a map";
  if (type.has_sparse_tensor_type()) return "a sparse tensor";
  return "";
}

absl::StatusOr<std::vector<std::shared_ptr<const core::Tensor>>> ReadTensors(const fs::path& dir,
                                                                             const std::string& prefix, size_t count) {
  std::vector<std::shared_ptr<const core::Tensor>> tensors;
  for (size_t k = 0; k < count; ++k) {
    const fs::path path = dir / absl::StrCat(prefix, "_", k, ".pb");
    Q8_ASSIGN_OR_RETURN(const std::string bytes, ReadBytes(path));
    auto tensor = engine::ParseOnnxTensor(bytes);
    if (!tensor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir.filename().string(), "/", prefix, "_", k, ".pb: ", tensor.status().message()));
    }
    tensors.push_back(*std::move(tensor));
  }
  // A file beyond the graph's count means the binding is not what we think.
  if (fs::exists(dir / absl::StrCat(prefix, "_", count, ".pb"))) {
    return absl::InvalidArgumentError(absl::StrCat(dir.filename().string(), " has more ", prefix,
                                                   " files than the graph has ", prefix, "s (", count, ")"));
  }
  return tensors;
}

// Older ONNX test data (onnx's backend test generator before bfloat16 had
// numpy support) stores BF16 tensors as TensorProto UINT16 holding the raw
// bfloat16 bits. Where the graph declares BF16 those bits are reinterpreted
// as BF16, as ONNX Runtime's test runner does for the same files; any other
// type mismatch is left for the engine to report.
void ReinterpretBFloat16(const std::vector<int>& declared, std::vector<std::shared_ptr<const core::Tensor>>& tensors) {
  for (size_t k = 0; k < tensors.size() && k < declared.size(); ++k) {
    const core::Tensor& t = *tensors[k];
    if (declared[k] != onnx::TensorProto::BFLOAT16 || t.dtype() != core::DataType::kUInt16) continue;
    auto bf16 = std::make_shared<core::Tensor>(core::DataType::kBFloat16, t.dims());
    if (t.byte_size() > 0) std::memcpy(bf16->data(), t.data(), t.byte_size());
    tensors[k] = std::move(bf16);
  }
}

int ElemType(const onnx::ValueInfoProto& v) { return v.type().tensor_type().elem_type(); }

}  // namespace

absl::StatusOr<std::vector<std::string>> ListConformanceCases(const std::string& root,
                                                              const std::vector<std::string>& suites) {
  std::vector<std::string> names;
  for (const std::string& suite : suites) {
    const fs::path dir = fs::path(root) / suite;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return absl::NotFoundError(absl::StrCat("conformance suite directory ", dir.string(),
                                              " is missing (scripts/install_deps.sh installs libonnx-testdata)"));
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_directory()) names.push_back(absl::StrCat(suite, "/", entry.path().filename().string()));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<ConformanceCase> LoadConformanceCase(const std::string& root, const std::string& name) {
  const fs::path dir = fs::path(root) / name;
  ConformanceCase c;
  c.name = name;
  Q8_ASSIGN_OR_RETURN(c.model, ReadBytes(dir / "model.onnx"));
  onnx::ModelProto model;
  if (!model.ParseFromString(c.model))
    return absl::InvalidArgumentError(absl::StrCat(name, ": model.onnx does not parse"));
  std::vector<int> input_types, output_types;  // declared ONNX element types
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
  for (const auto& in : model.graph().input()) {
    if (initializers.count(in.name())) continue;
    const std::string kind = NonTensorKind(in.type());
    if (!kind.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("graph input '", in.name(), "' is ", kind, ", not a tensor"));
    }
    c.input_names.push_back(in.name());
    input_types.push_back(ElemType(in));
  }
  for (const auto& out : model.graph().output()) {
    const std::string kind = NonTensorKind(out.type());
    if (!kind.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("graph output '", out.name(), "' is ", kind, ", not a tensor"));
    }
    c.output_names.push_back(out.name());
    output_types.push_back(ElemType(out));
  }
  std::vector<fs::path> set_dirs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && absl::StartsWith(entry.path().filename().string(), "test_data_set_")) {
      set_dirs.push_back(entry.path());
    }
  }
  if (set_dirs.empty()) return absl::NotFoundError(absl::StrCat(name, ": no test_data_set_* directory"));
  std::sort(set_dirs.begin(), set_dirs.end());
  for (const fs::path& set_dir : set_dirs) {
    ConformanceDataSet set;
    set.name = set_dir.filename().string();
    Q8_ASSIGN_OR_RETURN(set.inputs, ReadTensors(set_dir, "input", c.input_names.size()));
    Q8_ASSIGN_OR_RETURN(set.outputs, ReadTensors(set_dir, "output", c.output_names.size()));
    ReinterpretBFloat16(input_types, set.inputs);
    ReinterpretBFloat16(output_types, set.outputs);
    c.data_sets.push_back(std::move(set));
  }
  return c;
}

}  // namespace q8::testing
