// OnnxGraphWriter implementation. Tensors are written as raw_data, which the
// ONNX spec defines as little-endian, the layout core::Tensor already has.
#include "engine/export/onnx_graph_writer.h"

#include "absl/strings/str_cat.h"

namespace q8::engine {
namespace {

void FillTensor(const std::string& name, const core::Tensor& t, onnx::TensorProto* p) {
  p->set_name(name);
  p->set_data_type(core::OnnxCode(t.dtype()));
  for (int64_t d : t.dims()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(t.data()), static_cast<size_t>(t.byte_size())));
}

}  // namespace

std::string OnnxGraphWriter::Fresh(const std::string& base) {
  if (Claim(base)) return base;
  for (int i = 2;; ++i) {
    std::string name = absl::StrCat(base, "_", i);
    if (Claim(name)) return name;
  }
}

std::string OnnxGraphWriter::Initializer(const std::string& base, const core::Tensor& t) {
  const std::string name = Fresh(base);
  FillTensor(name, t, graph_->add_initializer());
  return name;
}

std::string OnnxGraphWriter::FloatScalar(const std::string& base, float v) {
  core::Tensor t(core::DataType::kFloat32, core::Dims{});
  t.span<float>()[0] = v;
  return Initializer(base, t);
}

onnx::NodeProto& OnnxGraphWriter::Node(const std::string& op_type, const std::string& base,
                                       std::vector<std::string> inputs, std::vector<std::string> outputs) {
  // Trailing omitted inputs are dropped; interior ones stay as "".
  while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op_type);
  n->set_name(Fresh(base));
  for (std::string& in : inputs) n->add_input(std::move(in));
  for (std::string& out : outputs) n->add_output(std::move(out));
  return *n;
}

void OnnxGraphWriter::QuantDequant(const std::string& x, core::DataType dtype, float scale, int32_t zero_point,
                                   const std::string& out) {
  auto [it, inserted] = zero_points_.try_emplace({dtype, zero_point});
  if (inserted) {
    // A zero point of type UINT8 makes ONNX saturate to [0, 255], INT8 to
    // [-128, 127]: the same ranges oneDNN saturates u8/s8 values to.
    core::Tensor zp(dtype, core::Dims{});  // zero-initialised
    std::string name = dtype == core::DataType::kUInt8 ? "zero_point_u8" : "zero_point_s8";
    if (zero_point != 0) {
      zp.span<uint8_t>()[0] = static_cast<uint8_t>(zero_point);  // asymmetric: u8 only
      absl::StrAppend(&name, "_", zero_point);
    }
    it->second = Initializer(name, zp);
  }
  const std::string s = FloatScalar(absl::StrCat(x, "_scale"), scale);
  const std::string q = Fresh(absl::StrCat(x, "_quantized"));
  Node("QuantizeLinear", absl::StrCat(x, "_QuantizeLinear"), {x, s, it->second}, {q});
  Node("DequantizeLinear", absl::StrCat(x, "_DequantizeLinear"), {q, s, it->second}, {out});
}

std::string OnnxGraphWriter::DequantizedWeights(const std::string& base, const core::Tensor& q,
                                                const std::vector<float>& scales, int axis) {
  const int64_t channels = static_cast<int64_t>(scales.size());
  core::Tensor zp(core::DataType::kInt8, core::Dims{channels});
  const std::string wq = Initializer(absl::StrCat(base, "_quantized"), q);
  const std::string s = Initializer(absl::StrCat(base, "_scale"), core::Tensor::FromFloats({channels}, scales));
  const std::string z = Initializer(absl::StrCat(base, "_zero_point"), zp);
  const std::string out = Fresh(base);
  onnx::NodeProto& n = Node("DequantizeLinear", absl::StrCat(base, "_DequantizeLinear"), {wq, s, z}, {out});
  SetAttribute(n, "axis", int64_t{axis});
  return out;
}

void OnnxGraphWriter::SetAttribute(onnx::NodeProto& n, const std::string& name, const AttrValue& v) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          a->set_type(onnx::AttributeProto::INT);
          a->set_i(x);
        } else if constexpr (std::is_same_v<T, float>) {
          a->set_type(onnx::AttributeProto::FLOAT);
          a->set_f(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          a->set_type(onnx::AttributeProto::STRING);
          a->set_s(x);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          a->set_type(onnx::AttributeProto::INTS);
          for (int64_t i : x) a->add_ints(i);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          a->set_type(onnx::AttributeProto::FLOATS);
          for (float f : x) a->add_floats(f);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          a->set_type(onnx::AttributeProto::STRINGS);
          for (const std::string& s : x) a->add_strings(s);
        } else {
          a->set_type(onnx::AttributeProto::TENSOR);
          if (x != nullptr) FillTensor("", *x, a->mutable_t());
        }
      },
      v);
}

}  // namespace q8::engine
