// The hostile-input catalogue (issue 11): malformed ONNX of every kind,
// overflowing shapes and sizes, hostile config JSON, hostile calibration
// .npy files, malformed ModelInfer requests and oversize names, each sent
// over real gRPC to one real q8serve. Every case asserts its exact status
// code and a key word of the message, that the message stays bounded, that
// the refused model is not left LOADING, and that the server still serves
// the sentinel model with the right numbers afterwards.
//
// Adding a case is one line in Cases().
#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/shared_server_suite.h"
#include "tests/testing/onnx_builder.h"

namespace q8::testing {
namespace {

using ::testing::HasSubstr;
using Code = grpc::StatusCode;

constexpr char kSentinel[] = "sentinel";
constexpr char kStaticConfig[] = R"({"quantization":{"mode":"static"}})";
constexpr int64_t kBig = int64_t{1} << 62;

// y = relu(x @ W + b), x [N,4]: the model that must keep answering correctly.
const std::vector<float> kW = {0.5f, -1, 2, 1, 0.25f, -0.5f, -2, 1, 0.75f, 1.5f, -0.25f, 0};
const std::vector<float> kB = {0.1f, -0.2f, 0.3f};

std::string SentinelModel() {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.FloatInitializer("W", {4, 3}, kW).FloatInitializer("B", {3}, kB);
  b.Node("MatMul", {"x", "W"}, {"xw"});
  b.Node("Add", {"xw", "B"}, {"z"});
  b.Node("Relu", {"z"}, {"y"});
  return b.Serialize();
}

// ---- ONNX builders --------------------------------------------------------

// One node over input x [N,4] (extra initializers added by `edit`).
std::string OneNode(const std::string& op, const std::vector<std::string>& inputs,
                    const std::function<void(OnnxBuilder&, onnx::NodeProto&)>& edit = nullptr,
                    std::vector<std::string> outputs = {"y"}, std::vector<int64_t> input_dims = {-1, 4}) {
  OnnxBuilder b;
  b.Input("x", input_dims).Output(outputs[0]);
  onnx::NodeProto& n = b.Node(op, inputs, outputs, "evil");
  if (edit) edit(b, n);
  return b.Serialize();
}

onnx::TensorProto& RawInit(OnnxBuilder& b, const std::string& name, int type, const std::vector<int64_t>& dims,
                           const std::string& raw) {
  onnx::TensorProto* t = b.model().mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(raw);
  return *t;
}

// Add(x, c) where c is a raw initializer with the given type/dims/bytes.
std::string AddWithInit(int type, const std::vector<int64_t>& dims, const std::string& raw) {
  return OneNode("Add", {"x", "c"}, [&](OnnxBuilder& b, onnx::NodeProto&) { RawInit(b, "c", type, dims, raw); });
}

std::string Gemm(int w_type, int c_type) {
  return OneNode("Gemm", {"x", "w", "c"}, [&](OnnxBuilder& b, onnx::NodeProto&) {
    RawInit(b, "w", w_type, {4, 3}, std::string(w_type == onnx::TensorProto::INT64 ? 96 : 48, '\x01'));
    RawInit(b, "c", c_type, {3}, std::string(c_type == onnx::TensorProto::FLOAT ? 12 : 3, '\x7f'));
  });
}

std::string Conv(const std::vector<int64_t>& pads, const std::vector<int64_t>& strides,
                 const std::vector<int64_t>& dilations, int w_type = onnx::TensorProto::FLOAT) {
  return OneNode(
      "Conv", {"x", "w"},
      [&](OnnxBuilder& b, onnx::NodeProto& n) {
        RawInit(b, "w", w_type, {2, 1, 3, 3}, std::string(w_type == onnx::TensorProto::FLOAT ? 72 : 18, '\0'));
        OnnxBuilder::AttrInts(n, "pads", pads);
        OnnxBuilder::AttrInts(n, "strides", strides);
        OnnxBuilder::AttrInts(n, "dilations", dilations);
      },
      {"y"}, {-1, 1, 8, 8});
}

std::string MaxPool(const std::vector<int64_t>& kernel, const std::vector<int64_t>& pads) {
  return OneNode("MaxPool", {"x"},
                 [&](OnnxBuilder&, onnx::NodeProto& n) {
                   OnnxBuilder::AttrInts(n, "kernel_shape", kernel);
                   OnnxBuilder::AttrInts(n, "pads", pads);
                 },
                 {"y"}, {-1, 1, 8, 8});
}

std::string Reshape(const std::vector<int64_t>& target) {
  return OneNode("Reshape", {"x", "s"}, [&](OnnxBuilder& b, onnx::NodeProto&) {
    b.Int64Initializer("s", {static_cast<int64_t>(target.size())}, target);
  });
}

// Any edit of the sentinel's ModelProto.
std::string EditedSentinel(const std::function<void(onnx::ModelProto&)>& edit) {
  onnx::ModelProto m;
  m.ParseFromString(SentinelModel());
  edit(m);
  return m.SerializeAsString();
}

// A fixed input (config text), as the case tables take builders.
std::function<std::string()> Fixed(std::string text) {
  return [text] { return text; };
}

using M = onnx::ModelProto;
// The sentinel with `edit` applied, built when the case runs.
std::function<std::string()> Edited(std::function<void(M&)> edit) {
  return [edit] { return EditedSentinel(edit); };
}

// ---- .npy builders --------------------------------------------------------

std::string Npy(const std::string& header_dict, size_t data_bytes) {
  std::string header = header_dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  return bytes + header + std::string(data_bytes, '\0');
}

std::string NpyOf(const std::string& descr, const std::string& shape, size_t data_bytes) {
  return Npy("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }", data_bytes);
}

// ---- the case table -------------------------------------------------------

struct Case {
  std::string id;
  // Sends the hostile input; `name` is a fresh model name for this case.
  std::function<grpc::Status(Stub&, const std::string& name)> send;
  Code code;
  std::string key;  // must appear in the message
};

// gtest prints a failing case by its id.
void PrintTo(const Case& c, std::ostream* os) { *os << c.id; }

grpc::Status LoadModel(Stub& stub, const std::string& name, const std::string& onnx, const std::string& config,
                       const std::vector<std::pair<std::string, std::string>>& files = {}) {
  inference::RepositoryModelLoadRequest req;
  req.set_model_name(name);
  (*req.mutable_parameters())["config"].set_string_param(config);
  (*req.mutable_parameters())["file:1/model.onnx"].set_bytes_param(onnx);
  for (const auto& [path, bytes] : files) (*req.mutable_parameters())["file:" + path].set_bytes_param(bytes);
  inference::RepositoryModelLoadResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  return stub.RepositoryModelLoad(&ctx, req, &resp);
}

Case BadModel(const std::string& id, std::function<std::string()> onnx, Code code, const std::string& key) {
  return {id, [onnx](Stub& s, const std::string& n) { return LoadModel(s, n, onnx(), kFp32Config); }, code, key};
}

Case BadConfig(const std::string& id, std::function<std::string()> config, Code code, const std::string& key) {
  return {id, [config](Stub& s, const std::string& n) { return LoadModel(s, n, SentinelModel(), config()); }, code,
          key};
}

// Static quantization of the sentinel with hostile calibration inputs (and labels).
Case BadCalibration(const std::string& id, std::function<std::string()> inputs, Code code, const std::string& key,
                    std::function<std::string()> labels = nullptr) {
  return {id,
          [inputs, labels](Stub& s, const std::string& n) {
            std::vector<std::pair<std::string, std::string>> files = {{"calibration/inputs.npy", inputs()}};
            if (labels) files.push_back({"calibration/labels.npy", labels()});
            return LoadModel(s, n, SentinelModel(), kStaticConfig, files);
          },
          code, key};
}

// A good request for the sentinel, edited.
inference::ModelInferRequest GoodRequest(int batch = 2) {
  inference::ModelInferRequest req;
  req.set_model_name(kSentinel);
  auto* in = req.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(batch);
  in->add_shape(4);
  for (int i = 0; i < batch * 4; ++i) in->mutable_contents()->add_fp32_contents(0.25f * i - 1);
  return req;
}

Case BadRequest(const std::string& id, std::function<void(inference::ModelInferRequest&)> edit, Code code,
                const std::string& key) {
  return {id,
          [edit](Stub& s, const std::string&) {
            inference::ModelInferRequest req = GoodRequest();
            edit(req);
            inference::ModelInferResponse resp;
            return Infer(s, req, &resp);
          },
          code, key};
}

void ToRaw(inference::ModelInferRequest& r) {
  auto* c = r.mutable_inputs(0)->mutable_contents();
  const auto& v = c->fp32_contents();
  r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  r.mutable_inputs(0)->clear_contents();
}

void SetShape(inference::ModelInferRequest& r, const std::vector<int64_t>& shape) {
  r.mutable_inputs(0)->clear_shape();
  for (int64_t d : shape) r.mutable_inputs(0)->add_shape(d);
}

std::string Nested(int depth, char open, const std::string& inner, char close) {
  return std::string(depth, open) + inner + std::string(depth, close);
}

std::string DeepObject(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  return s + "1" + std::string(depth, '}');
}

// Builders too long for one line of the case table.
std::string ReshapeWithFloatTarget() {
  return OneNode("Reshape", {"x", "s"}, [](OnnxBuilder& b, auto&) { b.FloatInitializer("s", {2}, {-1, 4}); });
}

std::string FloatDataCountMismatch() {
  return OneNode("Add", {"x", "c"}, [](OnnxBuilder& b, auto&) {
    RawInit(b, "c", onnx::TensorProto::FLOAT, {4}, "").clear_raw_data();
    b.model().mutable_graph()->mutable_initializer(0)->add_float_data(1);
  });
}

std::string GemmWithZeroColumns() {
  return OneNode("Gemm", {"x", "w"}, [](OnnxBuilder& b, auto&) { b.FloatInitializer("w", {4, 0}, {}); });
}

std::string TransposeWithBadPerm() {
  return OneNode("Transpose", {"x"}, [](auto&, onnx::NodeProto& n) { OnnxBuilder::AttrInts(n, "perm", {0, 7}); });
}

std::string ForeignDomain() {
  return OneNode("Relu", {"x"}, [](auto&, onnx::NodeProto& n) { n.set_domain("com.evil"); });
}

std::string CyclicGraph() {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Add", {"x", "z"}, {"y"});
  b.Node("Relu", {"y"}, {"z"});
  return b.Serialize();
}

std::string ValueDefinedTwice() {
  OnnxBuilder b;
  b.Input("x", {-1, 4}).Output("y");
  b.Node("Relu", {"x"}, {"y"});
  b.Node("Sigmoid", {"x"}, {"y"});
  return b.Serialize();
}

void ExternalData(onnx::ModelProto& m) {
  m.mutable_graph()->mutable_initializer(0)->set_data_location(onnx::TensorProto::EXTERNAL);
}

// INT64 and the other numeric types are served (issue 12); text is not.
void StringGraphInput(onnx::ModelProto& m) {
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::STRING);
}

void Int64Contents(inference::ModelInferRequest& r) {
  r.mutable_inputs(0)->clear_contents();
  for (int i = 0; i < 8; ++i) r.mutable_inputs(0)->mutable_contents()->add_int64_contents(i);
}

constexpr auto kInvalid = Code::INVALID_ARGUMENT;
constexpr int F32 = onnx::TensorProto::FLOAT;
constexpr int U8 = onnx::TensorProto::UINT8;
constexpr int I64 = onnx::TensorProto::INT64;

std::vector<Case> Cases() {
  const std::string mib(1 << 20, 'n');
  // One case per entry; kept unformatted so that each stays short.
  // clang-format off
  return {
      // -- nodes with too few / too many inputs or outputs (crashed before issue 11)
      BadModel("relu_without_input", [] { return OneNode("Relu", {}); }, kInvalid, "(Relu): has 0 input(s)"),
      BadModel("softmax_without_input", [] { return OneNode("Softmax", {}); }, kInvalid, "(Softmax): has 0 input(s)"),
      BadModel("gemm_one_input", [] { return OneNode("Gemm", {"x"}); }, kInvalid, "(Gemm): has 1 input(s)"),
      BadModel("matmul_one_input", [] { return OneNode("MatMul", {"x"}); }, kInvalid, "(MatMul): has 1 input(s)"),
      BadModel("add_one_input", [] { return OneNode("Add", {"x"}); }, kInvalid, "(Add): has 1 input(s)"),
      BadModel("mul_three_inputs", [] { return OneNode("Mul", {"x", "x", "x"}); }, kInvalid, "Mul takes 2"),
      BadModel("conv_one_input", [] { return OneNode("Conv", {"x"}); }, kInvalid, "(Conv): has 1 input(s)"),
      BadModel("batchnorm_three_inputs", [] { return OneNode("BatchNormalization", {"x", "x", "x"}); }, kInvalid,
               "BatchNormalization takes 5"),
      BadModel("reshape_one_input", [] { return OneNode("Reshape", {"x"}); }, kInvalid, "(Reshape): has 1 input(s)"),
      BadModel("clip_four_inputs", [] { return OneNode("Clip", {"x", "", "", ""}); }, kInvalid, "Clip takes 1 to 3"),
      BadModel("gemm_omitted_b", [] { return OneNode("Gemm", {"x", ""}); }, kInvalid, "input 1 is required"),
      BadModel("concat_omitted_input", [] { return OneNode("Concat", {"x", ""}); }, kInvalid, "input 1 is required"),
      BadModel("relu_two_outputs", [] { return OneNode("Relu", {"x"}, nullptr, {"y", "z"}); }, kInvalid,
               "has 2 output(s)"),
      BadModel("sub_one_input", [] { return OneNode("Sub", {"x"}); }, kInvalid, "(Sub): has 1 input(s)"),
      // -- initializers of a type the op does not read
      BadModel("gemm_bias_uint8", [] { return Gemm(F32, U8); }, kInvalid, "input 2 ('c') has element type UINT8"),
      BadModel("gemm_weight_int64", [] { return Gemm(I64, F32); }, kInvalid, "input 1 ('w') has element type INT64"),
      BadModel("conv_weight_uint8", [] { return Conv({0, 0, 0, 0}, {1, 1}, {1, 1}, U8); }, kInvalid,
               "has element type UINT8"),
      BadModel("reshape_target_float", ReshapeWithFloatTarget, kInvalid, "Reshape reads INT64"),
      BadModel("add_bool_constant", [] { return AddWithInit(onnx::TensorProto::BOOL, {4}, std::string(4, 1)); },
               kInvalid, "has element type BOOL"),
      // -- declared sizes against bytes present, overflow, per-tensor limit
      BadModel("raw_data_short", [] { return AddWithInit(F32, {4}, std::string(15, 0)); }, kInvalid,
               "16 bytes) but 15 bytes of data"),
      BadModel("raw_data_long", [] { return AddWithInit(F32, {4}, std::string(17, 0)); }, kInvalid,
               "but 17 bytes of data"),
      BadModel("float_data_count_mismatch", FloatDataCountMismatch, kInvalid, "(4 elements) but 1 values"),
      BadModel("initializer_2pow40_elements", [] { return AddWithInit(F32, {1 << 20, 1 << 20}, ""); }, kInvalid,
               "per-tensor limit"),
      BadModel("initializer_2pow28_in_tiny_file", [] { return AddWithInit(F32, {1 << 28}, std::string(16, 0)); },
               kInvalid, "1073741824 bytes) but 16 bytes of data"),
      BadModel("initializer_dims_overflow", [] { return AddWithInit(F32, {kBig, 4}, ""); }, kInvalid, "overflows"),
      BadModel("initializer_issue_npy_shape", [] { return AddWithInit(F32, {int64_t{1} << 60, 1, 28, 28}, ""); },
               kInvalid, "overflows"),
      BadModel("initializer_negative_dim", [] { return AddWithInit(F32, {-3, 4}, ""); }, kInvalid, "negative"),
      BadModel("input_2pow40_elements",
               [] { return OneNode("Relu", {"x"}, nullptr, {"y"}, {-1, 1 << 20, 1 << 20}); }, kInvalid,
               "per-tensor limit"),
      BadModel("input_zero_dim", [] { return OneNode("Relu", {"x"}, nullptr, {"y"}, {-1, 0}); }, kInvalid,
               "axis 1 has size 0"),
      BadModel("gemm_zero_columns", GemmWithZeroColumns, kInvalid, "has no elements"),
      // -- windows and reshape targets
      BadModel("conv_pads_overflow", [] { return Conv({kBig, kBig, kBig, kBig}, {1, 1}, {1, 1}); }, kInvalid,
               "exceed the window"),
      BadModel("conv_pads_absurd", [] { return Conv({100000, 0, 100000, 0}, {1, 1}, {1, 1}); }, kInvalid,
               "exceed the window"),
      BadModel("conv_dilation_overflow", [] { return Conv({0, 0, 0, 0}, {1, 1}, {kBig, 1}); }, kInvalid, "overflows"),
      BadModel("conv_stride_zero", [] { return Conv({0, 0, 0, 0}, {0, 1}, {1, 1}); }, kInvalid, "strides"),
      BadModel("conv_negative_pads", [] { return Conv({-1, 0, 0, 0}, {1, 1}, {1, 1}); }, kInvalid, "pads >= 0"),
      BadModel("maxpool_kernel_huge", [] { return MaxPool({kBig, 1}, {0, 0, 0, 0}); }, kInvalid, "does not fit"),
      BadModel("maxpool_kernel_wrong_rank", [] { return MaxPool({2}, {0, 0}); }, kInvalid, "kernel_shape"),
      BadModel("reshape_target_overflow", [] { return Reshape({int64_t{1} << 32, int64_t{1} << 32}); }, kInvalid,
               "overflows"),
      BadModel("reshape_target_overflow_with_infer", [] { return Reshape({kBig, 4, -1}); }, kInvalid, "overflows"),
      BadModel("reshape_target_negative", [] { return Reshape({-5, 4}); }, kInvalid, "negative"),
      BadModel("reshape_two_inferred", [] { return Reshape({-1, -1}); }, kInvalid, "more than one -1"),
      BadModel("reshape_wrong_count", [] { return Reshape({3, 5}); }, kInvalid, "cannot reshape"),
      BadModel("transpose_bad_perm", TransposeWithBadPerm, kInvalid, "perm"),
      // -- graph structure
      BadModel("cyclic_graph", CyclicGraph, kInvalid, "cycle"),
      BadModel("value_defined_twice", ValueDefinedTwice, kInvalid, "defined twice"),
      BadModel("duplicate_initializer",
               Edited([](M& m) { *m.mutable_graph()->add_initializer() = m.graph().initializer(0); }),
               kInvalid, "duplicated"),
      BadModel("dangling_input", [] { return OneNode("Add", {"x", "ghost"}); }, kInvalid, "not defined anywhere"),
      BadModel("unknown_op", [] { return OneNode("NonMaxSuppression", {"x"}); }, kInvalid,
               "unsupported op 'NonMaxSuppression'"),
      BadModel("foreign_domain", ForeignDomain, kInvalid, "com.evil.Relu"),
      BadModel("empty_graph", Edited([](M& m) { m.mutable_graph()->clear_node(); }), kInvalid, "no nodes"),
      BadModel("no_outputs", Edited([](M& m) { m.mutable_graph()->clear_output(); }), kInvalid, "no outputs"),
      BadModel("output_never_produced",
               Edited([](M& m) { m.mutable_graph()->mutable_output(0)->set_name("nope"); }),
               kInvalid, "never produced"),
      BadModel("no_opset", Edited([](M& m) { m.clear_opset_import(); }), kInvalid, "opset"),
      BadModel("external_data", Edited(ExternalData), kInvalid, "external"),
      BadModel("string_graph_input", Edited(StringGraphInput), kInvalid, "element type STRING"),
      BadModel("truncated_bytes", [] { const std::string s = SentinelModel(); return s.substr(0, s.size() / 2); },
               kInvalid, "ONNX"),
      BadModel("not_protobuf", [] { return std::string("\xff\xfe not ONNX") + std::string(3, '\0'); }, kInvalid,
               "ONNX"),
      BadModel("oversize_node_name",
               [] { return OneNode("Relu", {}, [](auto&, auto& n) { n.set_name(std::string(1 << 20, 'q')); }); },
               kInvalid, "more bytes]"),
      // -- hostile configs
      BadConfig("config_200000_deep_array", [] { return Nested(200000, '[', "1", ']'); }, kInvalid, "nested"),
      BadConfig("config_100000_deep_object", [] { return DeepObject(100000); }, kInvalid, "nested"),
      BadConfig("config_deep_inside_quantization", [] { return "{\"quantization\":" + Nested(50, '[', "", ']') + "}"; },
                kInvalid, "nested"),
      BadConfig("config_not_json", [] { return std::string("{\"max_batch_size\": "); }, kInvalid, "not valid JSON"),
      BadConfig("config_array", [] { return std::string("[1,2,3]"); }, kInvalid, "must be a JSON object"),
      BadConfig("config_batch_string", Fixed(R"({"max_batch_size":"64"})"), kInvalid,
                "must be an integer"),
      BadConfig("config_batch_huge_number", Fixed(R"({"max_batch_size":1e300})"), kInvalid,
                "must be an integer"),
      BadConfig("config_batch_beyond_uint64", Fixed(R"({"max_batch_size":12345678901234567890123})"),
                kInvalid, "must be an integer"),
      BadConfig("config_batch_negative", Fixed(R"({"max_batch_size":-1})"), kInvalid,
                "must be in [1"),
      BadConfig("config_warmup_not_array", Fixed(R"({"warmup_batch_sizes":7})"), kInvalid,
                "must be an array"),
      BadConfig("config_shadow_fraction_out_of_range", Fixed(R"({"shadow_fraction":2})"), kInvalid,
                "must be in [0, 1]"),
      BadConfig("config_unknown_section_key", Fixed(R"({"quantization":{"mood":"static"}})"),
                kInvalid, "unknown key"),
      BadConfig("config_huge_name_value", [] { return R"({"name":")" + std::string(1 << 20, 'z') + R"("})"; }, kInvalid,
                "more bytes]"),
      BadConfig("config_huge_wrong_type_value",
                [] { return R"({"quantization":{"per_channel":")" + std::string(1 << 20, 'z') + R"("}})"; }, kInvalid,
                "must be true or false"),
      // -- hostile calibration .npy files
      BadCalibration("npy_issue_overflowing_shape", [] { return NpyOf("<f4", "(1152921504606846976, 1, 28, 28)", 64); },
                     kInvalid, "overflows"),
      BadCalibration("npy_2pow28_in_tiny_file", [] { return NpyOf("<f4", "(67108864, 4)", 64); }, kInvalid,
                     "truncated"),
      BadCalibration("npy_over_tensor_limit", [] { return NpyOf("<f4", "(1048576, 1048576)", 0); }, kInvalid,
                     "per-tensor limit"),
      BadCalibration("npy_truncated_data", [] { return NpyOf("<f4", "(8, 4)", 100); }, kInvalid, "truncated"),
      BadCalibration("npy_bad_magic", [] { return "\x93NUMPZ" + NpyOf("<f4", "(8, 4)", 128).substr(6); },
                     kInvalid, "magic"),
      BadCalibration("npy_header_without_descr", [] { return Npy("{'fortran_order': False, 'shape': (8, 4), }", 128); },
                     kInvalid, "descr"),
      BadCalibration("npy_complex_dtype", [] { return NpyOf("<c8", "(8, 4)", 256); }, kInvalid,
                     "unsupported .npy dtype"),
      BadCalibration("npy_fortran_order",
                     [] { return Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (8, 4), }", 128); }, kInvalid,
                     "Fortran"),
      BadCalibration("npy_negative_dim", [] { return NpyOf("<f4", "(-8, 4)", 128); }, kInvalid, "bad dimension"),
      BadCalibration("npy_wrong_dtype_for_model", [] { return NpyOf("<f8", "(8, 4)", 256); }, kInvalid, "dtype FP64"),
      BadCalibration("npy_wrong_shape_for_model", [] { return NpyOf("<f4", "(8, 5)", 160); }, kInvalid,
                     "calibration inputs have shape"),
      BadCalibration("npy_labels_byte_count_overflow", [] { return NpyOf("<f4", "(8, 4)", 128); }, kInvalid,
                     "per-tensor limit", [] { return NpyOf("<i8", "(2305843009213693952,)", 0); }),
      BadCalibration("npy_labels_count_mismatch", [] { return NpyOf("<f4", "(8, 4)", 128); }, kInvalid,
                     "does not match", [] { return NpyOf("<i8", "(3,)", 24); }),
      // -- malformed ModelInfer requests
      BadRequest("infer_wrong_datatype", [](auto& r) { r.mutable_inputs(0)->set_datatype("FP64"); }, kInvalid,
                 "does not match the model's FP32"),
      BadRequest("infer_unknown_datatype", [](auto& r) { r.mutable_inputs(0)->set_datatype("QUATERNION"); }, kInvalid,
                 "unsupported datatype"),
      BadRequest("infer_shape_size_mismatch", [](auto& r) { SetShape(r, {2, 5}); }, kInvalid, "expects"),
      BadRequest("infer_overflowing_batch", [](auto& r) { SetShape(r, {kBig, 4}); }, kInvalid, "batch size"),
      BadRequest("infer_negative_batch", [](auto& r) { SetShape(r, {-2, 4}); }, kInvalid, "negative dim"),
      BadRequest("infer_wrong_rank", [](auto& r) { SetShape(r, {2, 4, 1}); }, kInvalid, "rank"),
      BadRequest("infer_typed_count_mismatch",
                 [](auto& r) { r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1); },
                 kInvalid, "9 elements but shape"),
      BadRequest("infer_raw_length_mismatch",
                 [](auto& r) { ToRaw(r); r.mutable_raw_input_contents(0)->append("xyz"); }, kInvalid,
                 "35 bytes but shape"),
      BadRequest("infer_raw_blob_count_mismatch", [](auto& r) { ToRaw(r); r.add_raw_input_contents("x"); }, kInvalid,
                 "one blob per input"),
      BadRequest("infer_raw_and_typed", [](auto& r) { r.add_raw_input_contents(std::string(32, 0)); }, kInvalid,
                 "typed contents"),
      BadRequest("infer_wrong_typed_field", Int64Contents, kInvalid, "expects contents.fp32_contents"),
      BadRequest("infer_duplicate_input", [](auto& r) { *r.add_inputs() = r.inputs(0); }, kInvalid, "given twice"),
      BadRequest("infer_unknown_input", [](auto& r) { r.mutable_inputs(0)->set_name("ghost"); }, kInvalid,
                 "unknown input 'ghost'"),
      BadRequest("infer_missing_input", [](auto& r) { r.clear_inputs(); }, kInvalid, "missing input 'x'"),
      BadRequest("infer_oversize_input_name", [](auto& r) { r.mutable_inputs(0)->set_name(std::string(1 << 20, 'i')); },
                 kInvalid, "more bytes]"),
      BadRequest("infer_unknown_version", [](auto& r) { r.set_model_version("999"); }, Code::NOT_FOUND,
                 "has no version '999'"),
      // -- oversize and unknown names
      BadRequest("infer_oversize_model_name", [mib](auto& r) { r.set_model_name(mib); }, Code::NOT_FOUND,
                 "more bytes]"),
      {"load_oversize_model_name",
       [mib](Stub& s, const std::string&) { return LoadModel(s, mib, SentinelModel(), kFp32Config); }, kInvalid,
       "longer than 128"},
      {"unload_oversize_model_name", [mib](Stub& s, const std::string&) { return Unload(s, mib); }, kInvalid,
       "longer than 128"},
  };
  // clang-format on
}

class HostileInputTest : public SharedServerSuite<HostileInputTest>, public ::testing::WithParamInterface<Case> {
 public:
  static constexpr char kRepoPrefix[] = "q8_hostile";
  static void PrepareServer(ServerProcess& server) {
    auto stub = server.Stub();
    grpc::Status s = UploadModel(*stub, kSentinel, SentinelModel());
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

 protected:
  // The sentinel's output for GoodRequest(), computed here in float.
  static std::vector<float> Expected() {
    const inference::ModelInferRequest request = GoodRequest();
    const auto& x = request.inputs(0).contents().fp32_contents();
    std::vector<float> y;
    for (int n = 0; n < 2; ++n) {
      for (int j = 0; j < 3; ++j) {
        float acc = kB[j];
        for (int k = 0; k < 4; ++k) acc += x[n * 4 + k] * kW[k * 3 + j];
        y.push_back(std::max(acc, 0.0f));
      }
    }
    return y;
  }

  void ExpectSentinelServesCorrectly() {
    inference::ModelInferResponse resp;
    grpc::Status s = Infer(*stub_, GoodRequest(), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const std::vector<float> got = Logits(resp);
    const std::vector<float> want = Expected();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
  }

  // No version of `name` may be left LOADING by a refused load.
  void ExpectNotLoading(const std::string& name) {
    inference::RepositoryIndexRequest req;
    inference::RepositoryIndexResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->RepositoryIndex(&ctx, req, &resp).ok());
    for (const auto& m : resp.models()) {
      if (m.name() == name) {
        EXPECT_NE(m.state(), "LOADING") << name << " " << m.version();
      }
    }
  }
};

TEST_P(HostileInputTest, RefusedPreciselyAndServerKeepsServing) {
  const Case& c = GetParam();
  const std::string name = "hostile_" + c.id;
  const grpc::Status s = c.send(*stub_, name);
  EXPECT_EQ(s.error_code(), c.code) << c.id << ": " << s.error_message().substr(0, 500);
  EXPECT_THAT(s.error_message(), HasSubstr(c.key)) << c.id;
  // Client strings are echoed truncated: no message grows with the input.
  EXPECT_LT(s.error_message().size(), 2048u) << c.id;
  ExpectNotLoading(name);
  ExpectSentinelServesCorrectly();
  // Nor does the log: the oversize names ('n', 'q', 'z', 'i' x 1 MiB) are quoted truncated there too.
  const std::string log = server_->Log();
  for (char filler : {'n', 'q', 'z', 'i'}) {
    EXPECT_EQ(log.find(std::string(200, filler)), std::string::npos) << c.id << ": the log echoes a long name";
  }
}

TEST(HostileCatalogue, HasAtLeastSixtyDistinctCases) {
  std::set<std::string> ids;
  for (const Case& c : Cases()) EXPECT_TRUE(ids.insert(c.id).second) << "duplicate id " << c.id;
  EXPECT_GE(ids.size(), 60u);
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HostileInputTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.id; });

}  // namespace
}  // namespace q8::testing
