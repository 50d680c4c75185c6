#include "server/tensor_codec.h"

#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/checked_math.h"
#include "core/quote.h"
#include "core/status_macros.h"

namespace q8::server {
namespace {

using core::DataType;
using inference::InferTensorContents;

// The typed-contents field that carries each datatype (OIP table).
enum class Field { kNone, kBool, kInt, kInt64, kUint, kUint64, kFp32, kFp64 };

Field FieldFor(DataType t) {
  switch (t) {
    case DataType::kBool:
      return Field::kBool;
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      return Field::kInt;
    case DataType::kInt64:
      return Field::kInt64;
    case DataType::kUInt8:
    case DataType::kUInt16:
    case DataType::kUInt32:
      return Field::kUint;
    case DataType::kUInt64:
      return Field::kUint64;
    case DataType::kFloat32:
      return Field::kFp32;
    case DataType::kFloat64:
      return Field::kFp64;
    default:
      return Field::kNone;
  }
}

absl::string_view FieldName(Field f) {
  switch (f) {
    case Field::kBool:
      return "bool_contents";
    case Field::kInt:
      return "int_contents";
    case Field::kInt64:
      return "int64_contents";
    case Field::kUint:
      return "uint_contents";
    case Field::kUint64:
      return "uint64_contents";
    case Field::kFp32:
      return "fp32_contents";
    case Field::kFp64:
      return "fp64_contents";
    case Field::kNone:
      break;
  }
  return "(none)";
}

// Non-empty typed fields of `c`, by name (bytes_contents included so that it
// is reported rather than ignored).
std::vector<std::pair<absl::string_view, int>> SetFields(const InferTensorContents& c) {
  std::vector<std::pair<absl::string_view, int>> out;
  auto add = [&](absl::string_view name, int n) {
    if (n > 0) out.emplace_back(name, n);
  };
  add("bool_contents", c.bool_contents_size());
  add("int_contents", c.int_contents_size());
  add("int64_contents", c.int64_contents_size());
  add("uint_contents", c.uint_contents_size());
  add("uint64_contents", c.uint64_contents_size());
  add("fp32_contents", c.fp32_contents_size());
  add("fp64_contents", c.fp64_contents_size());
  add("bytes_contents", c.bytes_contents_size());
  return out;
}

// Copies `src` into `dst` as Dst, rejecting values Dst cannot represent.
template <typename Dst, typename Src>
absl::Status ConvertInto(const google::protobuf::RepeatedField<Src>& src, void* dst, absl::string_view tensor) {
  Dst* out = static_cast<Dst*>(dst);
  for (int i = 0; i < src.size(); ++i) {
    Src s = src.Get(i);
    Dst d = static_cast<Dst>(s);
    if constexpr (!std::is_same_v<Dst, Src> && !std::is_floating_point_v<Src>) {
      if (static_cast<Src>(d) != s) {  // signed->signed or unsigned->unsigned narrowing only
        return absl::InvalidArgumentError(
            absl::StrCat("input '", tensor, "': element ", i, " (", s, ") is out of range for its datatype"));
      }
    }
    out[i] = d;
  }
  return absl::OkStatus();
}

absl::Status CopyTyped(const InferTensorContents& c, DataType t, void* dst, absl::string_view tensor) {
  switch (t) {
    case DataType::kBool:
      return ConvertInto<bool>(c.bool_contents(), dst, tensor);
    case DataType::kInt8:
      return ConvertInto<int8_t>(c.int_contents(), dst, tensor);
    case DataType::kInt16:
      return ConvertInto<int16_t>(c.int_contents(), dst, tensor);
    case DataType::kInt32:
      return ConvertInto<int32_t>(c.int_contents(), dst, tensor);
    case DataType::kInt64:
      return ConvertInto<int64_t>(c.int64_contents(), dst, tensor);
    case DataType::kUInt8:
      return ConvertInto<uint8_t>(c.uint_contents(), dst, tensor);
    case DataType::kUInt16:
      return ConvertInto<uint16_t>(c.uint_contents(), dst, tensor);
    case DataType::kUInt32:
      return ConvertInto<uint32_t>(c.uint_contents(), dst, tensor);
    case DataType::kUInt64:
      return ConvertInto<uint64_t>(c.uint64_contents(), dst, tensor);
    case DataType::kFloat32:
      return ConvertInto<float>(c.fp32_contents(), dst, tensor);
    case DataType::kFloat64:
      return ConvertInto<double>(c.fp64_contents(), dst, tensor);
    default:
      break;
  }
  return absl::InternalError("CopyTyped: datatype without a typed field");
}

std::string ExpectedInputs(const std::vector<engine::TensorInfo>& infos) {
  return absl::StrJoin(infos, ", ", [](std::string* out, const engine::TensorInfo& i) {
    absl::StrAppend(out, i.name, " ", core::OipName(i.dtype), core::DimsToString(i.dims));
  });
}

// Checks request dims against the model's; updates `batch` (-1 until known).
// Reads the wire shape in place: only an error message builds a Dims.
absl::Status CheckDims(absl::string_view model, const engine::TensorInfo& info,
                       const google::protobuf::RepeatedField<int64_t>& shape, int64_t max_batch_size, int64_t* batch) {
  const absl::Span<const int64_t> dims(shape.data(), static_cast<size_t>(shape.size()));
  auto shape_text = [&dims] { return core::DimsToString(core::Dims(dims.begin(), dims.end())); };
  if (dims.size() != info.dims.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", info.name, "' of model '", model, "': shape ", shape_text(), " has rank ", dims.size(),
                     " but the model expects rank ", info.dims.size(), " ", core::DimsToString(info.dims)));
  }
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", info.name, "': shape ", shape_text(), " has a negative dim"));
    }
    if (info.dims[d] == core::kDynamicDim && d > 0) {
      // A dynamic axis other than the batch: any size >= 1; the byte limit below bounds the tensor.
      if (dims[d] < 1) {
        return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' of model '", model, "': axis ", d,
                                                       " is dynamic and must be at least 1, got ", dims[d]));
      }
    } else if (info.dims[d] == core::kDynamicDim) {
      if (dims[d] < 1 || dims[d] > max_batch_size) {
        return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' of model '", model, "': batch size ",
                                                       dims[d], " (dim ", d,
                                                       ") is outside [1, max_batch_size=", max_batch_size, "]"));
      }
      if (*batch != -1 && *batch != dims[d]) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", info.name, "': batch size ", dims[d], " differs from the other inputs' ", *batch));
      }
      *batch = dims[d];
    } else if (dims[d] != info.dims[d]) {
      return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' of model '", model, "': axis ", d, " is ",
                                                     dims[d], " but the model expects ", info.dims[d], " (got shape ",
                                                     shape_text(), ", model shape ", core::DimsToString(info.dims),
                                                     ", -1 = dynamic)"));
    }
  }
  // Overflow-checked against the per-tensor limit before anything multiplies these dims.
  if (!core::CheckedByteSize(info.dtype, dims).ok()) {
    // Again with the message (it names the tensor; built only on failure).
    absl::Status size = core::CheckedByteSize(info.dtype, dims, absl::StrCat("input '", info.name, "'")).status();
    return absl::InvalidArgumentError(size.message());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DecodedInputs> DecodeInputs(const inference::ModelInferRequest& request,
                                           const std::vector<engine::TensorInfo>& model_inputs, int64_t max_batch_size,
                                           absl::string_view model) {
  DecodedInputs out;
  Q8_RETURN_IF_ERROR(DecodeInputsInto(request, model_inputs, max_batch_size, model, &out));
  return out;
}

absl::Status DecodeInputsInto(const inference::ModelInferRequest& request,
                              const std::vector<engine::TensorInfo>& model_inputs, int64_t max_batch_size,
                              absl::string_view model, DecodedInputs* decoded) {
  const int n = request.inputs_size();
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("request has ", request.raw_input_contents_size(),
                                                   " raw_input_contents but ", n,
                                                   " inputs; there must be one blob per input"));
  }
  DecodedInputs& out = *decoded;
  out.raw = raw;
  out.tensors.resize(model_inputs.size());  // existing views keep their dims' storage
  out.owned.clear();
  absl::InlinedVector<int, 8> seen(model_inputs.size(), -1);  // model input -> request index
  int64_t batch = -1;
  for (int i = 0; i < n; ++i) {
    const auto& in = request.inputs(i);
    int m = -1;
    for (size_t k = 0; k < model_inputs.size(); ++k) {
      if (model_inputs[k].name == in.name()) m = static_cast<int>(k);
    }
    if (m < 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown input '", core::Quote(in.name()), "' for model '", model,
                                                     "'; the model's inputs are: ", ExpectedInputs(model_inputs)));
    }
    if (seen[m] >= 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", core::Quote(in.name()), "' is given twice (inputs[",
                                                     seen[m], "] and inputs[", i, "])"));
    }
    seen[m] = i;
    const engine::TensorInfo& info = model_inputs[m];
    std::optional<DataType> dtype = core::FromOipName(in.datatype());
    if (!dtype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", core::Quote(in.name()), "': unsupported datatype '",
                                                     core::Quote(in.datatype()), "' (the model expects ",
                                                     core::OipName(info.dtype), ")"));
    }
    if (*dtype != info.dtype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", core::Quote(in.name()), "' of model '", model,
                                                     "': datatype ", core::Quote(in.datatype()),
                                                     " does not match the model's ", core::OipName(info.dtype)));
    }
    Q8_RETURN_IF_ERROR(CheckDims(model, info, in.shape(), max_batch_size, &batch));
    const absl::Span<const int64_t> dims(in.shape().data(), static_cast<size_t>(in.shape().size()));
    const int64_t elements = core::NumElements(dims);
    const int64_t bytes = elements * core::SizeOf(*dtype);
    auto shape_text = [&dims] { return core::DimsToString(core::Dims(dims.begin(), dims.end())); };
    auto typed = SetFields(in.contents());
    if (raw) {
      if (!typed.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", core::Quote(in.name()), "' has typed contents (", typed[0].first,
                         ") but the request also has raw_input_contents; use one or the other for all inputs"));
      }
      const std::string& blob = request.raw_input_contents(i);
      if (static_cast<int64_t>(blob.size()) != bytes) {
        return absl::InvalidArgumentError(absl::StrCat("input '", core::Quote(in.name()), "': raw_input_contents has ",
                                                       blob.size(), " bytes but shape ", shape_text(), " of ",
                                                       in.datatype(), " needs ", bytes, " bytes"));
      }
      core::TensorView& view = out.tensors[m];
      view.dtype = *dtype;
      view.dims.assign(dims.begin(), dims.end());
      view.data = blob.data();
      continue;
    }
    Field field = FieldFor(*dtype);
    if (field == Field::kNone) {
      return absl::InvalidArgumentError(absl::StrCat("input '", core::Quote(in.name()), "': datatype ", in.datatype(),
                                                     " has no typed contents field; send it in raw_input_contents"));
    }
    if (typed.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", core::Quote(in.name()), "' has no data: set contents.",
                                                     FieldName(field), " or raw_input_contents"));
    }
    if (typed.size() > 1 || typed[0].first != FieldName(field)) {
      std::vector<absl::string_view> names;
      for (const auto& t : typed) names.push_back(t.first);
      return absl::InvalidArgumentError(absl::StrCat("input '", core::Quote(in.name()), "': datatype ", in.datatype(),
                                                     " expects contents.", FieldName(field), " only, got ",
                                                     absl::StrJoin(names, ", ")));
    }
    if (typed[0].second != elements) {
      return absl::InvalidArgumentError(absl::StrCat("input '", core::Quote(in.name()), "': contents.",
                                                     FieldName(field), " has ", typed[0].second, " elements but shape ",
                                                     shape_text(), " needs ", elements));
    }
    core::Tensor& buffer = out.owned.emplace_back(*dtype, core::Dims(dims.begin(), dims.end()));
    Q8_RETURN_IF_ERROR(CopyTyped(in.contents(), *dtype, buffer.data(), in.name()));
    out.tensors[m] = buffer.view();
  }
  for (size_t k = 0; k < model_inputs.size(); ++k) {
    if (seen[k] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("missing input '", model_inputs[k].name, "' for model '", model,
                                                     "'; the model's inputs are: ", ExpectedInputs(model_inputs)));
    }
  }
  out.batch = batch == -1 ? 1 : batch;
  return absl::OkStatus();
}

namespace {

// Points `view` at an in-place typed field when one has the output's exact
// element type; returns false when a converting copy is needed.
bool TypedInPlace(DataType t, int64_t n, InferTensorContents* c, core::MutableTensorView* view) {
  const int count = static_cast<int>(n);
  switch (t) {
    case DataType::kFloat32:
      c->mutable_fp32_contents()->Resize(count, 0.f);
      view->data = c->mutable_fp32_contents()->mutable_data();
      return true;
    case DataType::kFloat64:
      c->mutable_fp64_contents()->Resize(count, 0.0);
      view->data = c->mutable_fp64_contents()->mutable_data();
      return true;
    case DataType::kInt32:
      c->mutable_int_contents()->Resize(count, 0);
      view->data = c->mutable_int_contents()->mutable_data();
      return true;
    case DataType::kInt64:
      c->mutable_int64_contents()->Resize(count, 0);
      view->data = c->mutable_int64_contents()->mutable_data();
      return true;
    case DataType::kUInt32:
      c->mutable_uint_contents()->Resize(count, 0);
      view->data = c->mutable_uint_contents()->mutable_data();
      return true;
    case DataType::kUInt64:
      c->mutable_uint64_contents()->Resize(count, 0);
      view->data = c->mutable_uint64_contents()->mutable_data();
      return true;
    default:
      return false;
  }
}

template <typename Src, typename Dst>
void Widen(const core::Tensor& src, google::protobuf::RepeatedField<Dst>* dst) {
  // Raw pointer, not Tensor::span: absl::Span<const bool>{ptr, n} would pick
  // the initializer_list constructor.
  const Src* values = static_cast<const Src*>(src.data());
  const int64_t n = src.num_elements();
  dst->Reserve(static_cast<int>(n));
  for (int64_t i = 0; i < n; ++i) dst->Add(static_cast<Dst>(values[i]));
}

}  // namespace

absl::StatusOr<OutputEncoder> OutputEncoder::Prepare(const inference::ModelInferRequest& request,
                                                     const std::vector<engine::TensorInfo>& model_outputs,
                                                     const std::vector<core::Dims>& output_dims, bool raw,
                                                     absl::string_view model, inference::ModelInferResponse* response) {
  OutputEncoder enc;
  Q8_RETURN_IF_ERROR(enc.PrepareInto(request, model_outputs, output_dims, raw, model, response));
  return enc;
}

absl::Status OutputEncoder::PrepareInto(const inference::ModelInferRequest& request,
                                        const std::vector<engine::TensorInfo>& model_outputs,
                                        const std::vector<core::Dims>& output_dims, bool raw, absl::string_view model,
                                        inference::ModelInferResponse* response) {
  if (output_dims.size() != model_outputs.size()) {
    return absl::InternalError(absl::StrCat("model '", model, "' reports ", model_outputs.size(), " outputs but ",
                                            output_dims.size(), " output shapes"));
  }
  // Which model outputs go into the response, in response order.
  absl::InlinedVector<int, 8> order;
  if (request.outputs_size() == 0) {
    for (size_t m = 0; m < model_outputs.size(); ++m) order.push_back(static_cast<int>(m));
  } else {
    for (const auto& requested : request.outputs()) {
      int m = -1;
      for (size_t k = 0; k < model_outputs.size(); ++k) {
        if (model_outputs[k].name == requested.name()) m = static_cast<int>(k);
      }
      if (m < 0) {
        return absl::InvalidArgumentError(absl::StrCat("unknown requested output '", requested.name(), "' for model '",
                                                       model,
                                                       "'; the model's outputs are: ", ExpectedInputs(model_outputs)));
      }
      for (int prev : order) {
        if (prev == m) {
          return absl::InvalidArgumentError(absl::StrCat("output '", requested.name(), "' is requested twice"));
        }
      }
      order.push_back(m);
    }
  }
  for (int m : order) {
    if (FieldFor(model_outputs[m].dtype) == Field::kNone) raw = true;
  }

  views_.resize(model_outputs.size());  // existing views keep their dims' storage
  scratch_.clear();
  pending_.clear();
  absl::InlinedVector<bool, 8> placed(model_outputs.size(), false);
  for (int m : order) {
    const engine::TensorInfo& info = model_outputs[m];
    const core::Dims& dims = output_dims[m];
    auto* out = response->add_outputs();
    out->set_name(info.name);
    const absl::string_view datatype = core::OipName(info.dtype);
    out->set_datatype(datatype.data(), datatype.size());
    for (int64_t d : dims) out->add_shape(d);
    core::MutableTensorView& view = views_[m];
    view.dtype = info.dtype;
    view.dims.assign(dims.begin(), dims.end());
    view.data = nullptr;
    if (raw) {
      // Written in place: the engine's output is the response's own buffer.
      std::string* blob = response->add_raw_output_contents();
      blob->resize(static_cast<size_t>(view.byte_size()));
      view.data = blob->data();
    } else if (!TypedInPlace(info.dtype, view.num_elements(), out->mutable_contents(), &view)) {
      pending_.push_back({static_cast<int>(scratch_.size()), out->mutable_contents()});
      view.data = scratch_.emplace_back(info.dtype, dims).data();
    }
    placed[m] = true;
  }
  for (size_t m = 0; m < model_outputs.size(); ++m) {
    if (placed[m]) continue;
    core::Tensor& t = scratch_.emplace_back(model_outputs[m].dtype, output_dims[m]);
    views_[m] = t.mutable_view();
  }
  return absl::OkStatus();
}

void OutputEncoder::Finish() {
  for (const PendingCopy& p : pending_) {
    const core::Tensor& t = scratch_[p.scratch];
    switch (t.dtype()) {
      case DataType::kBool:
        Widen<bool>(t, p.contents->mutable_bool_contents());
        break;
      case DataType::kInt8:
        Widen<int8_t>(t, p.contents->mutable_int_contents());
        break;
      case DataType::kInt16:
        Widen<int16_t>(t, p.contents->mutable_int_contents());
        break;
      case DataType::kUInt8:
        Widen<uint8_t>(t, p.contents->mutable_uint_contents());
        break;
      case DataType::kUInt16:
        Widen<uint16_t>(t, p.contents->mutable_uint_contents());
        break;
      default:
        break;  // every other dtype is written in place or raw
    }
  }
  pending_.clear();
}

}  // namespace q8::server
