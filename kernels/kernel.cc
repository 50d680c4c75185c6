// Owns the generic Kernel (primitive + operand descs + constants), the
// message helpers every op file uses and the fused-residual check of the
// accumulating kernels (conv, matmul).
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {

Kernel::Kernel(dnnl::primitive primitive, const dnnl::primitive_desc_base& pd, std::vector<Operand> inputs,
               std::vector<Operand> outputs, ArgMap constants)
    : primitive_(std::move(primitive)),
      impl_(pd.impl_info_str()),
      scratchpad_desc_(pd.scratchpad_desc()),
      inputs_(std::move(inputs)),
      outputs_(std::move(outputs)),
      constants_(std::move(constants)) {}

Kernel::Kernel(std::string impl, std::vector<Operand> inputs, std::vector<Operand> outputs, ArgMap constants)
    : impl_(std::move(impl)),
      scratchpad_desc_(),
      inputs_(std::move(inputs)),
      outputs_(std::move(outputs)),
      constants_(std::move(constants)) {}

BoundArgs Kernel::Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                       const dnnl::memory& scratchpad) const {
  BoundArgs bound;
  bound.memories = constants_;
  for (size_t i = 0; i < inputs_.size() && i < inputs.size(); ++i) {
    if (inputs_[i].arg != kArgNone) bound.memories[inputs_[i].arg] = inputs[i];
  }
  for (size_t i = 0; i < outputs_.size() && i < outputs.size(); ++i) bound.memories[outputs_[i].arg] = outputs[i];
  if (scratchpad_bytes() > 0) bound.memories[DNNL_ARG_SCRATCHPAD] = scratchpad;
  for (const auto& [arg, memory] : bound.memories) bound.c_args.push_back({arg, memory.get()});
  return bound;
}

void Kernel::Execute(dnnl::stream& stream, const BoundArgs& args) const { ExecuteC(primitive_, stream, args.c_args); }

void Kernel::ExecuteC(const dnnl::primitive& primitive, dnnl::stream& stream,
                      const std::vector<dnnl_exec_arg_t>& args) {
  dnnl::error::wrap_c_api(
      dnnl_primitive_execute(primitive.get(), stream.get(), static_cast<int>(args.size()), args.data()),
      "could not execute a primitive");
}

std::string StepContext(const KernelRequest& request) {
  auto describe = [](std::string* out, const ValueSpec* v) { out->append(DescribeValue(*v)); };
  return absl::StrCat("step '", request.step.name, "' (", request.step.op, ") inputs {",
                      absl::StrJoin(request.inputs, ", ", describe), "} outputs {",
                      absl::StrJoin(request.outputs, ", ", describe), "}");
}

absl::Status Invalid(const KernelRequest& request, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(StepContext(request), ": ", what));
}

absl::Status ExpectArity(const KernelRequest& request, size_t inputs, size_t outputs) {
  if (request.inputs.size() == inputs && request.outputs.size() == outputs) return absl::OkStatus();
  return Invalid(request, absl::StrCat("expected ", inputs, " input(s) and ", outputs, " output(s), got ",
                                       request.inputs.size(), " and ", request.outputs.size()));
}

namespace {

bool SameStorage(const ValueSpec& a, const ValueSpec& b) {
  if (a.storage != b.storage) return false;
  return a.storage == Storage::kArena ? a.offset == b.offset : a.slot == b.slot;
}

}  // namespace

absl::StatusOr<SumPostOp> ResidualSum(const KernelRequest& r, size_t input, bool int8) {
  const ValueSpec& res = *r.inputs[input];
  const ValueSpec& dst = *r.outputs[0];
  if (res.dims != dst.dims || res.layout != dst.layout || !SameStorage(res, dst)) {
    return Invalid(
        r, absl::StrCat("accumulate: input ", input, " must have the output's dims and layout and share its storage"));
  }
  if (core::SizeOf(res.dtype) != core::SizeOf(dst.dtype) || IsInt8(res.dtype) != IsInt8(dst.dtype)) {
    return Invalid(r, "accumulate: the residual and the output must both be float of one type or both int8");
  }
  if (!int8 && res.dtype != dst.dtype)
    return Invalid(r, "accumulate: a float step needs a residual of its output's type");
  SumPostOp sum;
  if (IsInt8(res.dtype)) {
    if (!ValidScale(res.scale)) return Invalid(r, "accumulate: residual scale must be finite and > 0");
    sum.residual_scale = res.scale;
    if (res.dtype != dst.dtype) {
      Q8_ASSIGN_OR_RETURN(sum.data_type, ToDnnl(res.dtype));
    }
  }
  return sum;
}

}  // namespace q8::kernels::internal
