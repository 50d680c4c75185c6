// Owns the dispatch from KernelParams to the per-op Create overloads. A plain
// std::visit (no static self-registration: a static library drops object
// files nothing references, and registrations in them silently vanish). A
// missing overload is a compile error. This is also the one place where
// dnnl::error thrown while building a step becomes an absl::Status.
#include <new>
#include <variant>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {
namespace {

// Zero points (asymmetric u8 activations) only where a kernel implements
// them: MatMul's input 0 and output, Reorder and Transpose. Any other kernel
// would read the bytes as if the zero point were 0.
absl::Status CheckZeroPoints(const KernelRequest& r) {
  const bool accepts = std::holds_alternative<MatMulParams>(r.step.params) ||
                       std::holds_alternative<ReorderParams>(r.step.params) ||
                       std::holds_alternative<TransposeParams>(r.step.params);
  auto check = [&](const ValueSpec* v, bool allowed, const char* what, size_t i) -> absl::Status {
    if (v->zero_point == 0) return absl::OkStatus();
    if (v->dtype != core::DataType::kUInt8 || v->zero_point < 0 || v->zero_point > 255) {
      return Invalid(
          r, absl::StrCat(what, " ", i, ": a zero point needs u8 and a value in [0, 255], got ", v->zero_point));
    }
    if (!allowed) return Invalid(r, absl::StrCat(what, " ", i, ": this op does not take a zero point"));
    return absl::OkStatus();
  };
  const bool matmul = std::holds_alternative<MatMulParams>(r.step.params);
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    Q8_RETURN_IF_ERROR(check(r.inputs[i], accepts && (!matmul || i == 0), "input", i));
  }
  for (size_t i = 0; i < r.outputs.size(); ++i) Q8_RETURN_IF_ERROR(check(r.outputs[i], accepts, "output", i));
  return absl::OkStatus();
}

}  // namespace

KernelOr CreateKernel(const KernelRequest& request) {
  try {
    Q8_RETURN_IF_ERROR(CheckZeroPoints(request));
    KernelOr kernel = std::visit([&](const auto& params) { return Create(params, request); }, request.step.params);
    if (!kernel.ok()) return kernel.status();
    // Guard the Workspace: every operand desc must fit in its value's bytes.
    const auto& k = **kernel;
    if (k.inputs().size() != request.inputs.size() || k.outputs().size() != request.outputs.size()) {
      return absl::InternalError(absl::StrCat(StepContext(request), ": kernel operand count mismatch"));
    }
    auto fits = [](const Operand& op, const ValueSpec* v) {
      return static_cast<int64_t>(op.desc.get_size()) <= core::NumElements(v->dims) * core::SizeOf(v->dtype);
    };
    for (size_t i = 0; i < request.inputs.size(); ++i) {
      if (!fits(k.inputs()[i], request.inputs[i])) {
        return absl::InternalError(absl::StrCat(StepContext(request), ": input ", i, " view exceeds its value"));
      }
    }
    for (size_t i = 0; i < request.outputs.size(); ++i) {
      if (!fits(k.outputs()[i], request.outputs[i])) {
        return absl::InternalError(absl::StrCat(StepContext(request), ": output ", i, " view exceeds its value"));
      }
    }
    return kernel;
  } catch (const dnnl::error& e) {
    return ErrorToStatus(e, StepContext(request));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(StepContext(request), ": out of memory"));
  }
}

}  // namespace q8::kernels::internal
