// Request-time path of a compiled model: validate, lease a workspace, run.
#include "engine/onnx_model.h"

#include <set>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/element_convert.h"
#include "core/status_macros.h"
#include "engine/exception_guard.h"
#include "engine/plan/shape_inference.h"

namespace q8::engine {
namespace {

// Bytes of constant tensors the lowering still references: what the model
// pins besides the kernels' own weight copies (biases, BN params, binary
// constants, and weights until ReleaseWeightSources), in total and the
// part stored as s8 (int8 weights not yet released).
struct SourceBytes {
  int64_t total = 0, int8 = 0;
};
SourceBytes SourceWeightBytes(const LoweredGraph& lg) {
  std::set<const core::Tensor*> seen;
  SourceBytes bytes;
  auto add = [&](const kernels::ConstTensorPtr& t) {
    if (!t || !t->has_storage() || !seen.insert(t.get()).second) return;
    bytes.total += t->byte_size();
    if (t->dtype() == core::DataType::kInt8) bytes.int8 += t->byte_size();
  };
  for (const Lowering& l : lg.lowerings) {
    std::visit(
        [&](const auto& p) {
          using P = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<P, kernels::ConvParams> || std::is_same_v<P, kernels::MatMulParams>) {
            add(p.weights);
            add(p.qweights.values);
            add(p.bias);
          } else if constexpr (std::is_same_v<P, kernels::BinaryParams>) {
            add(p.constant);
          } else if constexpr (std::is_same_v<P, kernels::BatchNormParams>) {
            add(p.scale), add(p.bias), add(p.mean), add(p.variance);
          }
        },
        l.params);
  }
  return bytes;
}

}  // namespace

absl::StatusOr<std::vector<core::Tensor>> CompiledModel::Run(absl::Span<const core::TensorView> inputs) const {
  return GuardExceptions("running the model", [&] { return RunAllocating(inputs); });
}

std::vector<core::Dims> CompiledModel::ExampleInputDims(int64_t batch) const {
  std::vector<core::Dims> dims;
  for (const TensorInfo& in : inputs()) dims.push_back(core::WithBatch(in.dims, batch));
  return dims;
}

absl::Status CompiledModel::OutputDimsInto(absl::Span<const core::TensorView> inputs,
                                           std::vector<core::Dims>* dims) const {
  Q8_ASSIGN_OR_RETURN(*dims, OutputDimsFor(inputs));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<core::Tensor>> CompiledModel::RunAllocating(
    absl::Span<const core::TensorView> inputs) const {
  Q8_RETURN_IF_ERROR(ValidateInputs(inputs));
  Q8_ASSIGN_OR_RETURN(std::vector<core::Dims> dims, OutputDimsFor(inputs));
  std::vector<core::Tensor> out;
  std::vector<core::MutableTensorView> views;
  for (size_t i = 0; i < dims.size(); ++i) {
    out.emplace_back(outputs()[i].dtype, dims[i]);
    views.push_back(out.back().mutable_view());
  }
  Q8_RETURN_IF_ERROR(Run(inputs, views));
  return out;
}

OnnxModel::OnnxModel(Parts parts, LoweredGraph lowered)
    : parts_(std::move(parts)), plans_(std::move(lowered), parts_.max_cached_plans) {}

absl::Status OnnxModel::ValidateInputs(absl::Span<const core::TensorView> inputs) const {
  if (inputs.size() != parts_.inputs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", parts_.inputs.size(), " input tensor(s), got ", inputs.size()));
  }
  int64_t batch = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo& want = parts_.inputs[i];
    const core::TensorView& got = inputs[i];
    if (got.dtype != want.dtype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", want.name, "' has datatype ", core::OipName(got.dtype),
                                                     ", expected ", core::OipName(want.dtype)));
    }
    if (got.dims.size() != want.dims.size()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", want.name, "' has shape ", core::DimsToString(got.dims),
                                                     " (rank ", got.dims.size(), "), expected ",
                                                     core::DimsToString(want.dims), " (-1 = any size)"));
    }
    for (size_t d = 0; d < got.dims.size(); ++d) {
      const bool ok = want.dims[d] == core::kDynamicDim ? got.dims[d] >= 1 : got.dims[d] == want.dims[d];
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", want.name, "' axis ", d, " has size ", got.dims[d], ", expected ",
            want.dims[d] == core::kDynamicDim ? std::string("at least 1") : absl::StrCat(want.dims[d]), " (shape ",
            core::DimsToString(got.dims), ", model expects ", core::DimsToString(want.dims), ", -1 = any size)"));
      }
    }
    // Dynamic axes are bounded only by the per-tensor byte limit.
    // (The name is formatted only on failure: the request path allocates nothing.)
    if (!core::CheckedByteSize(got.dtype, got.dims).ok()) {
      return absl::InvalidArgumentError(
          core::CheckedByteSize(got.dtype, got.dims, absl::StrCat("input '", want.name, "'")).status().message());
    }
    if (i < parts_.shape_value_inputs.size() && parts_.shape_value_inputs[i] &&
        got.num_elements() > kMaxShapeValueElements) {
      return absl::InvalidArgumentError(absl::StrCat("input '", want.name, "' sets shapes or plan parameters and has ",
                                                     got.num_elements(), " elements; at most ", kMaxShapeValueElements,
                                                     " are accepted"));
    }
    if (parts_.batchable) {
      if (batch >= 0 && got.dims[0] != batch) {
        return absl::InvalidArgumentError("all inputs must have the same batch size");
      }
      batch = got.dims[0];
      if (batch > parts_.max_batch_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("batch size ", batch, " exceeds the model's max_batch_size ", parts_.max_batch_size));
      }
    }
    if (got.data == nullptr && got.byte_size() > 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", want.name, "' has no data"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<core::Dims>> OnnxModel::OutputDimsFor(absl::Span<const core::TensorView> inputs) const {
  if (!parts_.specialize) return CompiledModel::OutputDimsFor(inputs);
  return plans_.OutputDims(inputs);
}

absl::Status OnnxModel::OutputDimsInto(absl::Span<const core::TensorView> inputs, std::vector<core::Dims>* dims) const {
  if (parts_.specialize) return CompiledModel::OutputDimsInto(inputs, dims);
  // OutputDims(batch), written over the previous request's dims in place.
  const int64_t batch = inputs.empty() || inputs[0].dims.empty() ? 1 : inputs[0].dims[0];
  dims->resize(parts_.outputs.size());
  for (size_t i = 0; i < parts_.outputs.size(); ++i) core::AssignWithBatch(parts_.outputs[i].dims, batch, &(*dims)[i]);
  return absl::OkStatus();
}

std::vector<core::Dims> OnnxModel::ExampleInputDims(int64_t batch) const {
  std::vector<core::Dims> dims;
  for (const GraphInput& in : parts_.graph->inputs()) dims.push_back(RepresentativeDims(in, batch));
  return dims;
}

bool OnnxModel::can_warm_up() const {
  for (bool v : parts_.shape_value_inputs) {
    if (v) return false;
  }
  return true;
}

std::vector<core::Dims> OnnxModel::OutputDims(int64_t batch) const {
  std::vector<core::Dims> dims;
  for (const TensorInfo& o : parts_.outputs) dims.push_back(core::WithBatch(o.dims, batch));
  return dims;
}

absl::Status OnnxModel::Run(absl::Span<const core::TensorView> inputs,
                            absl::Span<const core::MutableTensorView> outputs) const {
  return GuardExceptions("running the model", [&] { return RunUnguarded(inputs, outputs); });
}

absl::Status OnnxModel::RunUnguarded(absl::Span<const core::TensorView> inputs,
                                     absl::Span<const core::MutableTensorView> outputs) const {
  Q8_RETURN_IF_ERROR(ValidateInputs(inputs));
  const int64_t batch = parts_.batchable ? inputs[0].dims[0] : 0;
  if (outputs.size() != parts_.outputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", parts_.outputs.size(), " output buffers"));
  }
  std::vector<core::Dims> planned;  // specialized models: outputs follow the plan
  if (parts_.specialize) {
    Q8_ASSIGN_OR_RETURN(planned, plans_.OutputDims(inputs));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const bool dims_ok = parts_.specialize ? outputs[i].dims == planned[i]
                                           : core::MatchesWithBatch(outputs[i].dims, parts_.outputs[i].dims, batch);
    if (!dims_ok || outputs[i].dtype != parts_.outputs[i].dtype) {
      return absl::InternalError(absl::StrCat(
          "output buffer ", i, " has shape ", core::DimsToString(outputs[i].dims), ", expected ",
          core::DimsToString(parts_.specialize ? planned[i] : core::WithBatch(parts_.outputs[i].dims, batch))));
    }
  }
  Q8_ASSIGN_OR_RETURN(PlanCache::Lease lease, plans_.Acquire(inputs));
  absl::InlinedVector<const void*, 4> in_ptrs;
  absl::InlinedVector<void*, 4> out_ptrs;
  // Edge conversions: inputs sent in a type the kernels do not read, outputs
  // declared in a type other than the program's FP32. FP32 models take none.
  // Reserved up front (pointers into it are kept), and only when needed: the
  // FP32 hot path allocates nothing.
  size_t conversions = 0;
  for (size_t i = 0; i < inputs.size(); ++i) conversions += inputs[i].dtype != parts_.input_runtime_dtypes[i];
  for (const core::MutableTensorView& t : outputs) conversions += t.dtype != core::DataType::kFloat32;
  std::vector<core::Tensor> converted;
  if (conversions > 0) converted.reserve(conversions);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const core::DataType runtime = parts_.input_runtime_dtypes[i];
    if (inputs[i].dtype == runtime) {
      in_ptrs.push_back(inputs[i].data);
      continue;
    }
    if (runtime == core::DataType::kFloat32) {
      Q8_RETURN_IF_ERROR(
          core::CheckRepresentableInFloat32(inputs[i], absl::StrCat("input '", parts_.inputs[i].name, "':")));
    }
    converted.emplace_back(runtime, inputs[i].dims);
    Q8_RETURN_IF_ERROR(core::ConvertElements(inputs[i], converted.back().mutable_view()));
    in_ptrs.push_back(converted.back().data());
  }
  std::vector<std::pair<core::Tensor*, const core::MutableTensorView*>> to_convert;
  for (const core::MutableTensorView& t : outputs) {
    if (t.dtype == core::DataType::kFloat32) {
      out_ptrs.push_back(t.data);
      continue;
    }
    converted.emplace_back(core::DataType::kFloat32, t.dims);
    to_convert.emplace_back(&converted.back(), &t);
    out_ptrs.push_back(converted.back().data());
  }
  Q8_RETURN_IF_ERROR(lease.program().Run(lease.workspace(), in_ptrs, out_ptrs));
  for (const auto& [computed, out] : to_convert) Q8_RETURN_IF_ERROR(core::ConvertElements(computed->view(), *out));
  return absl::OkStatus();
}

MemoryStats OnnxModel::memory() const {
  MemoryStats m;
  const SourceBytes sources = SourceWeightBytes(plans_.lowered());
  m.weights = plans_.weight_bytes() + sources.total;
  m.weights_int8 = plans_.weight_bytes(core::DataType::kInt8) + sources.int8;
  m.weights_bf16 = plans_.weight_bytes(core::DataType::kBFloat16);
  // A specialized model keeps its graph's constants to lower each plan.
  if (parts_.specialize) m.weights += parts_.graph->ConstantBytes();
  m.activations = plans_.arena_bytes();
  m.scratchpad = plans_.scratchpad_bytes();
  return m;
}

absl::StatusOr<std::vector<PrimitiveInfo>> OnnxModel::Primitives(int64_t batch) const {
  Q8_ASSIGN_OR_RETURN(std::shared_ptr<const kernels::Program> program, plans_.GetProgram(batch));
  std::vector<PrimitiveInfo> result;
  for (const kernels::StepInfo& s : program->steps()) result.push_back({s.name, s.op, s.impl});
  return result;
}

}  // namespace q8::engine
