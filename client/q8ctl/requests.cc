// Request building / response decoding for q8_client (see requests.h).
#include "client/q8ctl/requests.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace q8::client {
namespace {

using core::DataType;

// Appends `n` elements of type Src from `data` to a repeated field, converting each.
template <typename Src, typename Field>
void AppendAs(const void* data, int64_t n, Field* field) {
  const Src* src = static_cast<const Src*>(data);
  field->Reserve(static_cast<int>(n));
  for (int64_t i = 0; i < n; ++i) field->Add(static_cast<typename Field::value_type>(src[i]));
}

absl::Status SetTypedContents(const core::TensorView& t, inference::InferTensorContents* c) {
  const int64_t n = t.num_elements();
  switch (t.dtype) {
    case DataType::kBool: AppendAs<bool>(t.data, n, c->mutable_bool_contents()); break;
    case DataType::kInt8: AppendAs<int8_t>(t.data, n, c->mutable_int_contents()); break;
    case DataType::kInt16: AppendAs<int16_t>(t.data, n, c->mutable_int_contents()); break;
    case DataType::kInt32: AppendAs<int32_t>(t.data, n, c->mutable_int_contents()); break;
    case DataType::kInt64: AppendAs<int64_t>(t.data, n, c->mutable_int64_contents()); break;
    case DataType::kUInt8: AppendAs<uint8_t>(t.data, n, c->mutable_uint_contents()); break;
    case DataType::kUInt16: AppendAs<uint16_t>(t.data, n, c->mutable_uint_contents()); break;
    case DataType::kUInt32: AppendAs<uint32_t>(t.data, n, c->mutable_uint_contents()); break;
    case DataType::kUInt64: AppendAs<uint64_t>(t.data, n, c->mutable_uint64_contents()); break;
    case DataType::kFloat32: AppendAs<float>(t.data, n, c->mutable_fp32_contents()); break;
    case DataType::kFloat64: AppendAs<double>(t.data, n, c->mutable_fp64_contents()); break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(core::OipName(t.dtype),
                                                     " has no typed contents field; send it raw (without --typed)"));
  }
  return absl::OkStatus();
}

// Copies a repeated field into `out` (already sized), converting to Dst.
template <typename Dst, typename Field>
absl::Status CopyFrom(const Field& field, core::Tensor* out) {
  if (static_cast<int64_t>(field.size()) != out->num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat("typed output has ", field.size(), " elements, shape needs ",
                                                   out->num_elements()));
  }
  Dst* dst = static_cast<Dst*>(out->data());
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<Dst>(field.Get(i));
  return absl::OkStatus();
}

absl::Status GetTypedContents(const inference::InferTensorContents& c, core::Tensor* out) {
  switch (out->dtype()) {
    case DataType::kBool: return CopyFrom<bool>(c.bool_contents(), out);
    case DataType::kInt8: return CopyFrom<int8_t>(c.int_contents(), out);
    case DataType::kInt16: return CopyFrom<int16_t>(c.int_contents(), out);
    case DataType::kInt32: return CopyFrom<int32_t>(c.int_contents(), out);
    case DataType::kInt64: return CopyFrom<int64_t>(c.int64_contents(), out);
    case DataType::kUInt8: return CopyFrom<uint8_t>(c.uint_contents(), out);
    case DataType::kUInt16: return CopyFrom<uint16_t>(c.uint_contents(), out);
    case DataType::kUInt32: return CopyFrom<uint32_t>(c.uint_contents(), out);
    case DataType::kUInt64: return CopyFrom<uint64_t>(c.uint64_contents(), out);
    case DataType::kFloat32: return CopyFrom<float>(c.fp32_contents(), out);
    case DataType::kFloat64: return CopyFrom<double>(c.fp64_contents(), out);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(core::OipName(out->dtype()), " output came without raw contents"));
  }
}

}  // namespace

std::string ModelFileParameter(int64_t version) { return absl::StrCat("file:", version, "/model.onnx"); }

std::string DefaultConfigJson(std::optional<int64_t> max_batch_size) {
  if (!max_batch_size.has_value()) return "{}";
  return absl::StrCat("{\"max_batch_size\": ", *max_batch_size, "}");
}

inference::RepositoryModelLoadRequest BuildLoadRequest(const std::string& model_name, int64_t version,
                                                       std::string model_bytes, std::string config_json) {
  inference::RepositoryModelLoadRequest request;
  request.set_model_name(model_name);
  auto& params = *request.mutable_parameters();
  params["config"].set_string_param(std::move(config_json));
  params[ModelFileParameter(version)].set_bytes_param(std::move(model_bytes));
  return request;
}

absl::StatusOr<inference::ModelInferRequest> BuildInferRequest(const std::string& model_name,
                                                               const std::string& model_version,
                                                               absl::Span<const NamedInput> inputs,
                                                               ContentMode mode) {
  inference::ModelInferRequest request;
  request.set_model_name(model_name);
  request.set_model_version(model_version);
  for (const NamedInput& input : inputs) {
    const core::TensorView& t = input.tensor;
    if (core::SizeOf(t.dtype) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "' has no datatype"));
    }
    auto* tensor = request.add_inputs();
    tensor->set_name(input.name);
    tensor->set_datatype(std::string(core::OipName(t.dtype)));
    for (int64_t d : t.dims) tensor->add_shape(d);
    if (mode == ContentMode::kRaw) {
      request.add_raw_input_contents(static_cast<const char*>(t.data), static_cast<size_t>(t.byte_size()));
    } else {
      absl::Status status = SetTypedContents(t, tensor->mutable_contents());
      if (!status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "': ", status.message()));
      }
    }
  }
  return request;
}

absl::StatusOr<core::Tensor> DecodeOutput(const inference::ModelInferResponse& response, int index) {
  if (index < 0 || index >= response.outputs_size()) {
    return absl::NotFoundError(absl::StrCat("response has no output #", index, " (it has ",
                                            response.outputs_size(), ")"));
  }
  const auto& output = response.outputs(index);
  const std::string where = absl::StrCat("output '", output.name(), "'");
  if (output.datatype() == "BYTES") {
    return absl::UnimplementedError(absl::StrCat(where, ": BYTES outputs are not supported"));
  }
  std::optional<DataType> dtype = core::FromOipName(output.datatype());
  if (!dtype.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": unknown datatype '", output.datatype(), "'"));
  }
  core::Dims dims(output.shape().begin(), output.shape().end());
  for (int64_t d : dims) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": invalid shape ", core::DimsToString(dims)));
    }
  }
  core::Tensor tensor(*dtype, dims);
  if (response.raw_output_contents_size() > 0) {
    if (index >= response.raw_output_contents_size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": response has ", response.raw_output_contents_size(),
                                                     " raw blobs for ", response.outputs_size(), " outputs"));
    }
    const std::string& blob = response.raw_output_contents(index);
    if (static_cast<int64_t>(blob.size()) != tensor.byte_size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": raw contents have ", blob.size(), " bytes, ",
                                                     output.datatype(), core::DimsToString(dims), " needs ",
                                                     tensor.byte_size()));
    }
    if (!blob.empty()) std::memcpy(tensor.data(), blob.data(), blob.size());
    return tensor;
  }
  absl::Status status = GetTypedContents(output.contents(), &tensor);
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", status.message()));
  return tensor;
}

}  // namespace q8::client
