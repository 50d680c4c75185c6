// Owns the standalone activation kernel for activations that could not be
// fused into a producer as a post-op. One-stage activations are one eltwise
// primitive; multi-stage ones (HardSigmoid, Selu: see EltwiseStages)
// run as a binary multiply by a constant 1 carrying the stages as eltwise
// post-ops (the 2.6 eltwise primitive takes binary post-ops only), which is
// still one pass over memory. int8: relu only (oneDNN 2.6 rejects other
// int8 eltwise algorithms), same type and scale.
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
  const std::vector<EltwiseStage> stages = EltwiseStages(p.op);
  if (stages.size() == 1) {
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, stages[0].algorithm, md, stages[0].alpha,
                                     stages[0].beta);
    dnnl::eltwise_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
    return std::make_unique<Kernel>(dnnl::eltwise_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, md}},
                                    std::vector<Operand>{{DNNL_ARG_DST, md}});
  }
  const dnnl::memory::desc one_md =
      PlainDesc(core::Dims(src.dims.empty() ? 1 : src.dims.size(), 1), dnnl::memory::data_type::f32);
  dnnl::memory one(one_md, CpuEngine());
  *static_cast<float*>(one.get_data_handle()) = 1.0f;
  dnnl::primitive_attr attr = MakeAttr({&p.op, 1});
  dnnl::binary::primitive_desc pd(dnnl::binary::desc(dnnl::algorithm::binary_mul, md, one_md, md), attr, CpuEngine());
  return std::make_unique<Kernel>(dnnl::binary(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC_0, md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, md}}, ArgMap{{DNNL_ARG_SRC_1, one}});
}

}  // namespace q8::kernels::internal
