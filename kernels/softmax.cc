// Owns the Softmax / LogSoftmax kernel over one (normalised) axis, or over
// the trailing dims flattened (opset < 13 semantics). Built as softmax_v2,
// whose separate dst desc is what the int8 path will need (u8/s8 dst).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {

KernelOr Create(const SoftmaxParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dtype != core::DataType::kFloat32 || dst.dtype != core::DataType::kFloat32) {
    return Invalid(r, "only f32 is supported (no int8 Softmax)");
  }
  if (src.dims != dst.dims) return Invalid(r, "input and output dims differ");
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  int axis = p.axis;
  if (p.flatten_from_axis) {
    if (src.layout != Layout::kPlain || dst.layout != Layout::kPlain) return Invalid(r, "needs plain layout");
    if (axis < 0 || axis > static_cast<int>(src.dims.size())) return Invalid(r, "axis out of range");
    int64_t rows = 1, cols = 1;
    for (int i = 0; i < static_cast<int>(src.dims.size()); ++i) (i < axis ? rows : cols) *= src.dims[i];
    src_md = dst_md = PlainDesc({rows, cols}, dnnl::memory::data_type::f32);
    axis = 1;
  }
  // The axis is not range-checked here on purpose: oneDNN rejects it with
  // dnnl_invalid_arguments, which becomes INVALID_ARGUMENT.
  dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference,
                                      p.log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate, src_md,
                                      dst_md, axis);
  dnnl::softmax_v2_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  return std::make_unique<Kernel>(dnnl::softmax_v2_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, src_md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, dst_md}});
}

}  // namespace q8::kernels::internal
