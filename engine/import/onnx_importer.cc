// Converts ONNX protobuf into the engine Graph: values by id, initializers as
// shared constant tensors, attributes as typed variants.
#include "engine/import/onnx_importer.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/quote.h"
#include "core/status_macros.h"
#include "engine/ops/edge_types.h"
#include "engine/ops/op_table.h"
#include "onnx/onnx_pb.h"

namespace q8::engine {
namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("invalid ONNX model: ", what));
}

template <typename Src, typename Dst>
void CopyRepeated(const google::protobuf::RepeatedField<Src>& from, core::Tensor& to) {
  auto dst = to.span<Dst>();
  for (int i = 0; i < from.size(); ++i) dst[i] = static_cast<Dst>(from.Get(i));
}

// "STRING", "COMPLEX64", ... for messages; the number when ONNX has no name for it.
std::string OnnxTypeName(int code) {
  if (!onnx::TensorProto::DataType_IsValid(code)) return absl::StrCat("unknown (", code, ")");
  return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(code));
}

// What a graph input holds when it is not a tensor ("" for a tensor).
std::string NonTensorKind(const onnx::TypeProto& type) {
  if (type.has_sequence_type()) return "a sequence";
  if (type.has_optional_type()) return "an optional";
  if (type.has_map_type()) return "a map";
  if (type.has_sparse_tensor_type()) return "a sparse tensor";
  return "";
}

absl::StatusOr<std::shared_ptr<const core::Tensor>> ConvertTensor(const onnx::TensorProto& proto) {
  const std::string name = proto.name().empty() ? "<unnamed>" : core::Quote(proto.name());
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    return Invalid(absl::StrCat("tensor '", name,
                                "' keeps its data in an external file; upload a model with embedded weights "
                                "(onnx.save(..., save_as_external_data=False))"));
  }
  auto dtype = core::FromOnnxCode(proto.data_type());
  if (!dtype) {
    return Invalid(absl::StrCat("tensor '", name, "' has data type ", OnnxTypeName(proto.data_type()),
                                ", which q8serve does not hold"));
  }
  core::Dims dims(proto.dims().begin(), proto.dims().end());
  // Declared size: overflow-checked, within the per-tensor limit, and equal to
  // the bytes actually present -- all before anything is allocated.
  Q8_ASSIGN_OR_RETURN(const int64_t byte_size,
                      core::CheckedByteSize(*dtype, dims, absl::StrCat("tensor '", name, "'")));
  const int64_t n = byte_size / core::SizeOf(*dtype);
  if (proto.has_raw_data()) {
    if (static_cast<int64_t>(proto.raw_data().size()) != byte_size) {
      return Invalid(absl::StrCat("tensor '", name, "' has shape ", core::DimsToString(dims), " (", byte_size,
                                  " bytes) but ", proto.raw_data().size(), " bytes of data"));
    }
    auto t = std::make_shared<core::Tensor>(*dtype, dims);
    if (n > 0) std::memcpy(t->data(), proto.raw_data().data(), byte_size);
    return std::shared_ptr<const core::Tensor>(std::move(t));
  }
  int have = 0;
  switch (*dtype) {
    case core::DataType::kFloat32:
      have = proto.float_data_size();
      break;
    case core::DataType::kFloat64:
      have = proto.double_data_size();
      break;
    case core::DataType::kInt64:
      have = proto.int64_data_size();
      break;
    case core::DataType::kInt32:
    case core::DataType::kInt8:
    case core::DataType::kUInt8:
    case core::DataType::kBool:
      have = proto.int32_data_size();
      break;
    default:
      if (n != 0) {
        return Invalid(absl::StrCat("tensor '", name, "' of type ", core::OipName(*dtype), " must use raw_data"));
      }
  }
  if (have != n) {
    return Invalid(absl::StrCat("tensor '", name, "' has shape ", core::DimsToString(dims), " (", n, " elements) but ",
                                have, " values"));
  }
  auto t = std::make_shared<core::Tensor>(*dtype, dims);
  switch (*dtype) {
    case core::DataType::kFloat32:
      CopyRepeated<float, float>(proto.float_data(), *t);
      break;
    case core::DataType::kFloat64:
      CopyRepeated<double, double>(proto.double_data(), *t);
      break;
    case core::DataType::kInt64:
      CopyRepeated<int64_t, int64_t>(proto.int64_data(), *t);
      break;
    case core::DataType::kInt32:
      CopyRepeated<int32_t, int32_t>(proto.int32_data(), *t);
      break;
    case core::DataType::kInt8:
      CopyRepeated<int32_t, int8_t>(proto.int32_data(), *t);
      break;
    case core::DataType::kUInt8:
    case core::DataType::kBool:
      CopyRepeated<int32_t, uint8_t>(proto.int32_data(), *t);
      break;
    default:
      break;
  }
  return std::shared_ptr<const core::Tensor>(std::move(t));
}

absl::StatusOr<AttrValue> ConvertAttribute(const onnx::AttributeProto& a, const std::string& owner) {
  switch (a.type()) {
    case onnx::AttributeProto::INT:
      return AttrValue(a.i());
    case onnx::AttributeProto::FLOAT:
      return AttrValue(a.f());
    case onnx::AttributeProto::STRING:
      return AttrValue(a.s());
    case onnx::AttributeProto::INTS:
      return AttrValue(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    case onnx::AttributeProto::FLOATS:
      return AttrValue(std::vector<float>(a.floats().begin(), a.floats().end()));
    case onnx::AttributeProto::STRINGS:
      return AttrValue(std::vector<std::string>(a.strings().begin(), a.strings().end()));
    case onnx::AttributeProto::TENSOR: {
      Q8_ASSIGN_OR_RETURN(auto t, ConvertTensor(a.t()));
      return AttrValue(std::move(t));
    }
    default:
      return Invalid(absl::StrCat("attribute '", a.name(), "' of ", owner, " has unsupported type ",
                                  onnx::AttributeProto::AttributeType_Name(a.type())));
  }
}

}  // namespace

absl::StatusOr<ImportedModel> ImportOnnx(absl::string_view bytes) {
  onnx::ModelProto model;
  if (bytes.empty()) return Invalid("the model file is empty");
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Invalid("the bytes are not an ONNX protobuf (parsing failed; truncated or not an .onnx file?)");
  }
  if (!model.has_graph() || model.ir_version() <= 0) {
    return Invalid("no graph or IR version: the bytes are not an ONNX model");
  }
  ImportedModel result;
  result.producer = absl::StrCat(model.producer_name(), " ", model.producer_version());
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") result.opset = opset.version();
  }
  if (result.opset == 0) return Invalid("the model imports no default-domain opset");

  const onnx::GraphProto& g = model.graph();
  if (g.node_size() == 0) return Invalid("the graph has no nodes");
  Graph& graph = result.graph;
  std::map<std::string, ValueId> by_name;

  for (const onnx::TensorProto& init : g.initializer()) {
    Q8_ASSIGN_OR_RETURN(auto t, ConvertTensor(init));
    if (by_name.count(init.name())) {
      return Invalid(absl::StrCat("initializer '", core::Quote(init.name()), "' is duplicated"));
    }
    by_name[init.name()] = graph.AddConstant(init.name(), std::move(t));
  }
  // Who reads each name, for the runtime type of graph inputs.
  std::map<std::string, std::vector<EdgeConsumer>> consumers;
  for (const onnx::NodeProto& np : g.node()) {
    for (int i = 0; i < np.input_size(); ++i) consumers[np.input(i)].push_back({np.op_type(), i});
  }
  for (const onnx::ValueInfoProto& in : g.input()) {
    if (by_name.count(in.name())) continue;  // older exporters list initializers as inputs too
    const std::string kind = NonTensorKind(in.type());
    if (!kind.empty()) {
      return Invalid(
          absl::StrCat("graph input '", core::Quote(in.name()), "' is ", kind, "; q8serve serves tensor inputs"));
    }
    const auto& type = in.type().tensor_type();
    Q8_ASSIGN_OR_RETURN(const core::DataType runtime_dtype,
                        RuntimeInputType(type.elem_type(), consumers[in.name()],
                                         absl::StrCat("invalid ONNX model: graph input '", core::Quote(in.name()),
                                                      "' has element type ", OnnxTypeName(type.elem_type()))));
    const auto dtype = core::FromOnnxCode(type.elem_type());
    const std::string in_name = core::Quote(in.name());
    if (!type.has_shape()) return Invalid(absl::StrCat("graph input '", in_name, "' has no shape"));
    GraphInput gi;
    gi.dtype = *dtype;
    for (int d = 0; d < type.shape().dim_size(); ++d) {
      const auto& dim = type.shape().dim(d);
      if (dim.has_dim_value() && dim.dim_value() < 0) {
        return Invalid(absl::StrCat("graph input '", in_name, "' axis ", d, " has size ", dim.dim_value(),
                                    "; every axis needs a non-negative or a symbolic (dynamic) size"));
      }
      // A stated size of 0 is kept: an empty input is refused when the model
      // is compiled unless it only sets plan parameters (empty Reduce axes).
      if (dim.has_dim_value()) {
        gi.dims.push_back(dim.dim_value());
      } else {
        // A symbolic (dim_param) or unknown size: any axis may be dynamic; plans are built per concrete shape.
        gi.dims.push_back(core::kDynamicDim);
      }
    }
    // One sample must fit the per-tensor limit (the batch is bounded later).
    Q8_RETURN_IF_ERROR(
        core::CheckedByteSize(*dtype, core::WithBatch(gi.dims, 1), absl::StrCat("graph input '", in_name, "'"))
            .status());
    Value v;
    v.name = in.name();
    v.dtype = runtime_dtype;
    gi.value = graph.AddValue(std::move(v));
    by_name[in.name()] = gi.value;
    graph.inputs().push_back(std::move(gi));
  }
  if (graph.inputs().empty()) return Invalid("the graph has no runtime inputs");

  // Node outputs first, so nodes listed out of order still resolve.
  for (const onnx::NodeProto& np : g.node()) {
    for (const std::string& out : np.output()) {
      if (out.empty()) continue;
      if (by_name.count(out)) {
        return Invalid(absl::StrCat("value '", core::Quote(out), "' is defined twice (second time by node '",
                                    core::Quote(np.name()), "')"));
      }
      Value v;
      v.name = out;
      by_name[out] = graph.AddValue(std::move(v));
    }
  }
  int unnamed = 0;
  for (const onnx::NodeProto& np : g.node()) {
    Node node;
    node.name = np.name().empty() ? absl::StrCat(np.op_type(), "_", unnamed++) : np.name();
    node.op_type = np.op_type();
    if (!np.domain().empty() && np.domain() != "ai.onnx") {
      return absl::InvalidArgumentError(absl::StrCat("unsupported op '", core::Quote(np.domain()), ".",
                                                     core::Quote(np.op_type()), "' (node '", node.name,
                                                     "'): only the default ONNX "
                                                     "domain is supported"));
    }
    for (const std::string& in : np.input()) {
      if (in.empty()) {
        node.inputs.push_back(kNoValue);
        continue;
      }
      auto it = by_name.find(in);
      if (it == by_name.end()) {
        return Invalid(absl::StrCat(node.Describe(), " reads '", core::Quote(in),
                                    "', which is not defined anywhere in the graph"));
      }
      node.inputs.push_back(it->second);
    }
    for (const std::string& out : np.output()) node.outputs.push_back(out.empty() ? kNoValue : by_name[out]);
    // Recurrent ops compute Y in any case; naming an omitted Y keeps output 0
    // present, as every pass and the planner expect.
    if ((node.op_type == "LSTM" || node.op_type == "GRU" || node.op_type == "RNN") && !node.outputs.empty() &&
        node.outputs[0] == kNoValue) {
      Value y;
      y.name = absl::StrCat(node.name, ":Y");
      node.outputs[0] = graph.AddValue(std::move(y));
    }
    const std::string owner = node.Describe();
    for (const onnx::AttributeProto& a : np.attribute()) {
      Q8_ASSIGN_OR_RETURN(AttrValue value, ConvertAttribute(a, owner));
      node.attrs.Set(a.name(), std::move(value));
    }
    Q8_RETURN_IF_ERROR(CheckSignature(graph, node, result.opset));
    graph.AddNode(std::move(node));
  }
  for (const onnx::ValueInfoProto& out : g.output()) {
    auto it = by_name.find(out.name());
    if (it == by_name.end()) {
      return Invalid(absl::StrCat("graph output '", core::Quote(out.name()), "' is never produced"));
    }
    const std::string kind = NonTensorKind(out.type());
    if (!kind.empty()) {
      return Invalid(
          absl::StrCat("graph output '", core::Quote(out.name()), "' is ", kind, "; q8serve serves tensor outputs"));
    }
    const int elem_type = out.type().tensor_type().elem_type();
    const auto declared = core::FromOnnxCode(elem_type);
    if (elem_type != onnx::TensorProto::UNDEFINED && !declared) {
      return Invalid(absl::StrCat("graph output '", core::Quote(out.name()), "' has element type ",
                                  OnnxTypeName(elem_type), "; q8serve serves numeric tensors"));
    }
    graph.outputs().push_back({out.name(), it->second, declared.value_or(core::DataType::kUndefined)});
  }
  if (graph.outputs().empty()) return Invalid("the graph has no outputs");
  Q8_RETURN_IF_ERROR(graph.SortTopologically());
  Q8_RETURN_IF_ERROR(graph.Validate());
  return result;
}

absl::StatusOr<std::shared_ptr<const core::Tensor>> ParseOnnxTensor(absl::string_view bytes) {
  onnx::TensorProto proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("the bytes are not an ONNX TensorProto (parsing failed)");
  }
  return ConvertTensor(proto);
}

}  // namespace q8::engine
