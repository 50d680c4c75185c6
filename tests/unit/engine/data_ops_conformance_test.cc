// The data-movement ops (engine/ops/data_op.cc, kernels/data_ops.cc) against
// ONNX's own conformance cases (Debian libonnx-testdata: model, inputs and
// expected outputs computed by ONNX's reference implementation), two ways:
//  - constant evaluation: every graph input becomes an initializer, every
//    node is evaluated by EvaluateConstantNode, the outputs are compared
//    exactly (floats within 1e-6): all element types, all opsets;
//  - runtime: the FP32 inputs stay graph inputs, the other inputs (indices,
//    pads, shapes, conditions) become initializers, and the compiled model
//    runs through a real Program.
// Each mode keeps a list of cases expected to fail, with the reason; the test
// fails when an unlisted case fails and when a listed case passes. The
// runtime mode also runs the Conv and ConvTranspose cases (weights as inputs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/compiler.h"
#include "engine/import/onnx_importer.h"
#include "engine/passes/constant_eval.h"
#include "onnx/onnx_pb.h"
#include "tests/testing/onnx_node_cases.h"

namespace q8::engine {
namespace {

constexpr char kNodeDir[] = "/usr/share/libonnx-testdata/data/node";

const std::set<std::string>& DataOps() {
  static const auto* ops = new std::set<std::string>{
      "Gather",    "Slice",   "Split",        "Pad",         "Expand",   "Tile",    "Where",
      "Cast",      "Squeeze", "Unsqueeze",    "Shape",       "Size",     "Range",   "ConstantOfShape",
      "Not",       "And",     "Or",           "Xor",         "Identity", "Flatten", "Reshape",
      "Transpose", "Concat",  "DepthToSpace", "SpaceToDepth"};
  return *ops;
}

// Cases expected to fail in constant evaluation, with the reason.
const std::map<std::string, std::string>& ConstantFailures() {
  static const auto* failures = new std::map<std::string, std::string>{
      {"test_cast_FLOAT_to_STRING", "STRING tensors are not supported"},
      {"test_cast_STRING_to_FLOAT", "STRING tensors are not supported"},
      {"test_castlike_FLOAT_to_STRING_expanded", "STRING tensors are not supported"},
      {"test_castlike_STRING_to_FLOAT_expanded", "STRING tensors are not supported"},
      {"test_cast_FLOAT_to_BFLOAT16", "ONNX 1.12's reference truncates; we round to nearest even (as PyTorch, oneDNN)"},
      {"test_castlike_FLOAT_to_BFLOAT16_expanded", "ONNX 1.12's reference truncates; we round to nearest even"},
      {"test_identity_sequence", "sequence inputs are not supported"},
      {"test_identity_opt", "optional inputs are not supported"},
  };
  return *failures;
}

// Cases expected to fail at run time, with the reason.
const std::map<std::string, std::string>& RuntimeFailures() {
  static const auto* failures = new std::map<std::string, std::string>{
      {"test_castlike_BFLOAT16_to_FLOAT_expanded", "the only FP32 input is CastLike's type template `like`"},
      {"test_castlike_STRING_to_FLOAT_expanded", "STRING tensors are not supported"},
      {"test_reshape_allowzero_reordered", "empty tensors are refused (no model q8serve serves has one)"},
      {"test_slice_start_out_of_bounds", "empty tensors are refused (no model q8serve serves has one)"},
      {"test_split_zero_size_splits", "empty tensors are refused (no model q8serve serves has one)"},
  };
  return *failures;
}

// Ops whose cases the runtime mode adds: they pass weights as graph inputs,
// which that mode turns into initializers.
const std::set<std::string>& RuntimeOnlyOps() {
  static const auto* ops = new std::set<std::string>{"ConvTranspose", "Conv"};
  return *ops;
}

std::vector<std::string> Cases(bool runtime) {
  return q8::testing::NodeCasesWhere(kNodeDir, [runtime](const std::string& op) {
    return DataOps().count(op) > 0 || (runtime && RuntimeOnlyOps().count(op) > 0);
  });
}

struct Case {
  onnx::ModelProto model;
  std::vector<onnx::TensorProto> inputs, outputs;  // in graph order
  std::vector<std::string> input_names;            // graph inputs that are not initializers
};

Case LoadCase(const std::string& name) {
  Case c;
  const std::string dir = absl::StrCat(kNodeDir, "/", name);
  c.model.ParseFromString(q8::testing::ReadFileBytes(dir + "/model.onnx"));
  std::set<std::string> inits;
  for (const auto& i : c.model.graph().initializer()) inits.insert(i.name());
  for (const auto& in : c.model.graph().input()) {
    if (!inits.count(in.name())) c.input_names.push_back(in.name());
  }
  // numpy has no bfloat16: ONNX 1.12 stores BFLOAT16 case data as UINT16
  // bits. Bind such data to the type the graph declares.
  auto bind = [](onnx::TensorProto& t, const onnx::ValueInfoProto& info) {
    if (info.type().tensor_type().elem_type() == onnx::TensorProto::BFLOAT16 &&
        t.data_type() == onnx::TensorProto::UINT16) {
      t.set_data_type(onnx::TensorProto::BFLOAT16);
    }
  };
  for (size_t k = 0; k < c.input_names.size(); ++k) {
    onnx::TensorProto& t = c.inputs.emplace_back();
    t.ParseFromString(q8::testing::ReadFileBytes(absl::StrCat(dir, "/test_data_set_0/input_", k, ".pb")));
    for (const auto& in : c.model.graph().input()) {
      if (in.name() == c.input_names[k]) bind(t, in);
    }
  }
  for (int k = 0; k < c.model.graph().output_size(); ++k) {
    onnx::TensorProto& t = c.outputs.emplace_back();
    t.ParseFromString(q8::testing::ReadFileBytes(absl::StrCat(dir, "/test_data_set_0/output_", k, ".pb")));
    bind(t, c.model.graph().output(k));
  }
  return c;
}

// Float data of an FP32 TensorProto (raw or typed).
std::vector<float> Floats(const onnx::TensorProto& t) {
  if (t.has_raw_data()) {
    std::vector<float> v(t.raw_data().size() / 4);
    if (!v.empty()) std::memcpy(v.data(), t.raw_data().data(), v.size() * 4);  // empty tensors: no null memcpy
    return v;
  }
  return {t.float_data().begin(), t.float_data().end()};
}

core::Dims DimsOf(const onnx::TensorProto& t) { return {t.dims().begin(), t.dims().end()}; }

bool FloatsClose(double a, double b) {
  if (a == b) return true;  // also equal infinities
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::abs(a - b) <= 1e-6 * std::max(1.0, std::abs(b));
}

// Empty when equal, else what differs.
std::string Compare(const core::Tensor& got, const core::Tensor& want) {
  if (got.dtype() != want.dtype()) {
    return absl::StrCat("type ", core::OipName(got.dtype()), " vs ", core::OipName(want.dtype()));
  }
  if (got.dims() != want.dims()) {
    return absl::StrCat("dims ", core::DimsToString(got.dims()), " vs ", core::DimsToString(want.dims()));
  }
  for (int64_t i = 0; i < got.num_elements(); ++i) {
    bool same;
    double a = 0, b = 0;
    if (got.dtype() == core::DataType::kFloat32) {
      a = got.span<float>()[i], b = want.span<float>()[i];
      same = FloatsClose(a, b);
    } else if (got.dtype() == core::DataType::kFloat64) {
      a = got.span<double>()[i], b = want.span<double>()[i];
      same = FloatsClose(a, b);
    } else {
      const int64_t e = core::SizeOf(got.dtype());
      same = std::memcmp(static_cast<const char*>(got.data()) + i * e, static_cast<const char*>(want.data()) + i * e,
                         e) == 0;
    }
    if (!same) return absl::StrCat("element ", i, " differs (", a, " vs ", b, ")");
  }
  return "";
}

// Empty on success, else why the case failed.
std::string RunConstant(const std::string& name) {
  Case c = LoadCase(name);
  onnx::GraphProto& g = *c.model.mutable_graph();
  for (size_t k = 0; k < c.inputs.size(); ++k) {
    onnx::TensorProto t = c.inputs[k];
    t.set_name(c.input_names[k]);
    *g.add_initializer() = t;
  }
  for (size_t k = 0; k < c.outputs.size(); ++k) {
    onnx::TensorProto t = c.outputs[k];
    t.set_name(absl::StrCat("__expected_", k));
    *g.add_initializer() = t;
  }
  g.clear_input();
  onnx::ValueInfoProto* dummy = g.add_input();  // the importer wants one runtime input
  dummy->set_name("__dummy");
  dummy->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  dummy->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(1);
  auto imported = ImportOnnx(c.model.SerializeAsString());
  if (!imported.ok()) return absl::StrCat("import: ", imported.status().message());
  Graph& graph = imported->graph;
  for (const Node& n : graph.nodes()) {
    auto outs = EvaluateConstantNode(graph, n, imported->opset);
    if (!outs.ok()) return absl::StrCat("evaluate: ", outs.status().message());
    for (size_t o = 0; o < n.outputs.size() && o < outs->size(); ++o) {
      if (n.outputs[o] != kNoValue) graph.value(n.outputs[o]).constant = (*outs)[o];
    }
  }
  std::map<std::string, ValueId> by_name;
  for (ValueId v = 0; v < graph.num_values(); ++v) by_name[graph.value(v).name] = v;
  for (size_t k = 0; k < graph.outputs().size(); ++k) {
    const auto& got = graph.value(graph.outputs()[k].value).constant;
    const auto& want = graph.value(by_name[absl::StrCat("__expected_", k)]).constant;
    if (got == nullptr) return absl::StrCat("output ", k, " was not computed");
    const std::string diff = Compare(*got, *want);
    if (!diff.empty()) return absl::StrCat("output ", k, ": ", diff);
  }
  return "";
}

// Empty on success, "skip" when the case has no FP32 data input or output.
std::string RunRuntime(const std::string& name) {
  Case c = LoadCase(name);
  onnx::GraphProto& g = *c.model.mutable_graph();
  for (const auto& o : g.output()) {
    if (o.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT) return "skip";
  }
  std::vector<onnx::ValueInfoProto> kept;
  std::vector<core::Tensor> inputs;
  for (size_t k = 0; k < c.inputs.size(); ++k) {
    const onnx::ValueInfoProto* info = nullptr;
    for (const auto& in : g.input()) {
      if (in.name() == c.input_names[k]) info = &in;
    }
    if (c.inputs[k].data_type() == onnx::TensorProto::FLOAT && inputs.empty()) {
      kept.push_back(*info);
      std::vector<float> values = Floats(c.inputs[k]);
      inputs.push_back(core::Tensor::FromFloats(DimsOf(c.inputs[k]), values));
    } else {
      onnx::TensorProto t = c.inputs[k];
      t.set_name(c.input_names[k]);
      *g.add_initializer() = t;
    }
  }
  if (inputs.empty()) return "skip";
  g.clear_input();
  for (const auto& in : kept) *g.add_input() = in;
  auto model = Compile(c.model.SerializeAsString());
  if (!model.ok()) return absl::StrCat("compile: ", model.status().message());
  std::vector<core::TensorView> views;
  for (const core::Tensor& t : inputs) views.push_back(t.view());
  auto outs = (*model)->Run(views);
  if (!outs.ok()) return absl::StrCat("run: ", outs.status().message());
  for (size_t k = 0; k < c.outputs.size(); ++k) {
    const std::vector<float> values = Floats(c.outputs[k]);
    const core::Tensor want = core::Tensor::FromFloats(DimsOf(c.outputs[k]), values);
    const std::string diff = Compare((*outs)[k], want);
    if (!diff.empty()) return absl::StrCat("output ", k, ": ", diff);
  }
  return "";
}

void CheckAll(const char* mode, bool runtime, std::string (*run)(const std::string&),
              const std::map<std::string, std::string>& expected_failures) {
  const std::vector<std::string> cases = Cases(runtime);
  if (cases.empty()) GTEST_SKIP() << "libonnx-testdata is not installed (" << kNodeDir << ")";
  int passed = 0, failed = 0, skipped = 0;
  for (const std::string& name : cases) {
    const std::string result = run(name);
    if (result == "skip") {
      ++skipped;
      continue;
    }
    const bool listed = expected_failures.count(name) > 0;
    if (result.empty()) {
      ++passed;
      EXPECT_FALSE(listed) << name << " passes now: remove it from the expected failures";
    } else {
      ++failed;
      EXPECT_TRUE(listed) << name << ": " << result;
    }
  }
  std::cout << mode << ": " << passed << " passed, " << failed << " failed (listed), " << skipped
            << " without an FP32 data input, of " << cases.size() << " cases\n";
  EXPECT_GT(passed, 0);
}

TEST(DataOpsConformance, ConstantEvaluation) {
  CheckAll("constant evaluation", false, RunConstant, ConstantFailures());
}

TEST(DataOpsConformance, Runtime) { CheckAll("runtime", true, RunRuntime, RuntimeFailures()); }

}  // namespace
}  // namespace q8::engine
