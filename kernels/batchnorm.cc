// Owns the BatchNorm kernel (inference, for the batch norms the engine could
// not fold into a conv): y = scale * (x - mean) / sqrt(var + eps) + bias.
// Uses the 2.6 flags use_global_stats | use_scale | use_shift, so scale and
// shift stay two separate cached [C] tensors (no packed scale_shift copy).
// Parameters a request sends are passed to the primitive as they come (the
// flags make all four plain [C] execution arguments).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {

KernelOr Create(const BatchNormParams& p, const KernelRequest& r) {
  const ConstTensorPtr* stats[] = {&p.scale, &p.bias, &p.mean, &p.variance};
  size_t runtime = 0;
  for (const ConstTensorPtr* t : stats) runtime += *t == nullptr ? 1 : 0;
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1 + runtime, 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dtype != core::DataType::kFloat32 || dst.dtype != core::DataType::kFloat32) {
    return Invalid(r, "only f32 is supported (no int8 BatchNorm)");
  }
  if (src.dims.size() < 2) return Invalid(r, "input must be [N,C,...]");
  if (src.dims != dst.dims || src.layout != dst.layout || src.dtype != dst.dtype) {
    return Invalid(r, "input and output must have the same dims, layout and type");
  }
  const int64_t c = src.dims[1];
  for (size_t i = 0, next = 1; i < 4; ++i) {
    const ConstTensorPtr& t = *stats[i];
    const bool ok = t != nullptr
                        ? t->dims() == core::Dims{c} && t->dtype() == core::DataType::kFloat32
                        : r.inputs[next]->dims == core::Dims{c} && r.inputs[next]->dtype == core::DataType::kFloat32;
    if (t == nullptr) ++next;
    if (!ok) return Invalid(r, absl::StrCat("scale, bias, mean and variance must be f32 [", c, "]"));
  }
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(src));
  const auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                     dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, md, p.epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());

  const dnnl::memory::desc c_md = PlainDesc({c}, dnnl::memory::data_type::f32);
  ArgMap constants;
  std::vector<Operand> inputs{{DNNL_ARG_SRC, md}};
  constexpr int kArgs[] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
  for (size_t i = 0; i < 4; ++i) {
    if (*stats[i] == nullptr) {
      inputs.push_back({kArgs[i], c_md});
    } else {
      Q8_ASSIGN_OR_RETURN(constants[kArgs[i]], r.weights.Get(*stats[i], c_md, c_md));
    }
  }
  return std::make_unique<Kernel>(dnnl::batch_normalization_forward(pd), pd, std::move(inputs),
                                  std::vector<Operand>{{DNNL_ARG_DST, md}}, std::move(constants));
}

}  // namespace q8::kernels::internal
