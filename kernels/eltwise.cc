// Owns the standalone activation kernel (relu / clip / sigmoid) for the ones
// that could not be fused into a producer as a post-op. int8: relu only
// (oneDNN 2.6 rejects other int8 eltwise algorithms), same type and scale.
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {

KernelOr Create(const EltwiseParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  // The 2.6 eltwise desc has one data desc for src and dst.
  if (src.dims != dst.dims || src.layout != dst.layout || src.dtype != dst.dtype) {
    return Invalid(r, "input and output must have the same dims, layout and type");
  }
  if (IsInt8(src.dtype)) {
    if (p.op.kind != Activation::Kind::kRelu) return Invalid(r, "int8 activations support relu only");
    if (!ValidScale(src.scale) || !SameScale(src.scale, dst.scale)) {
      return Invalid(r, "int8 relu needs equal input and output scales");
    }
  } else if (src.dtype != core::DataType::kFloat32) {
    return Invalid(r, "activations need f32, u8 or s8 values");
  }
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(src));
  const bool clip = p.op.kind == Activation::Kind::kClip;
  dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, EltwiseAlgorithm(p.op), md,
                                   clip ? p.op.lo : 0.0f, clip ? p.op.hi : 0.0f);
  dnnl::eltwise_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  return std::make_unique<Kernel>(dnnl::eltwise_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, md}});
}

}  // namespace q8::kernels::internal
