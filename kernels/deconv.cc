// Owns the Deconv kernel (ONNX ConvTranspose): oneDNN's deconvolution over
// plain (or NHWC for 2-D) f32 tensors. The ONNX weights [IC, OC/g, k...] are
// described to oneDNN in place with strides (its logical order is
// [OC, IC, k...], or [g, OC/g, IC/g, k...]) and reordered once into the
// layout the chosen implementation wants, through the WeightCache; runtime
// weights (input 1) per Run into a scratchpad buffer (StagedKernel), a
// runtime bias (the next input) is passed as it comes.
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/staged_kernel.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {

KernelOr Create(const DeconvParams& p, const KernelRequest& r) {
  const size_t b_input = p.runtime_weights ? 2 : 1;
  Q8_RETURN_IF_ERROR(ExpectArity(r, b_input + (p.runtime_bias ? 1 : 0), 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dtype != core::DataType::kFloat32 || dst.dtype != core::DataType::kFloat32) {
    return Invalid(r, "ConvTranspose runs in f32");
  }
  if (src.dims.size() < 3 || src.dims.size() > 5) return Invalid(r, "input must be 3-D, 4-D or 5-D [N,C,...]");
  const size_t nsp = src.dims.size() - 2;
  core::Dims w;
  if (p.runtime_weights) {
    const ValueSpec& wv = *r.inputs[1];
    if (p.weights != nullptr || wv.dtype != core::DataType::kFloat32 ||
        (wv.layout != Layout::kPlain && !SameBytesAsPlain(wv)) || wv.dims.size() != src.dims.size()) {
      return Invalid(r, "runtime weights must be plain f32 [IC, OC/groups, k...] with the input's rank");
    }
    w = wv.dims;
  } else {
    if (p.weights == nullptr || !p.weights->has_storage() || p.weights->dtype() != core::DataType::kFloat32 ||
        p.weights->dims().size() != src.dims.size()) {
      return Invalid(r, "weights must be f32 [IC, OC/groups, k...] with the input's rank");
    }
    w = p.weights->dims();
  }
  const int64_t g = p.groups, ic = src.dims[1];
  if (g < 1 || w[0] != ic || ic % g != 0) return Invalid(r, "weights do not match the input channels and groups");
  const int64_t ocg = w[1], oc = ocg * g, icg = ic / g;
  bool ok =
      p.strides.size() == nsp && p.dilations.size() == nsp && p.pads_begin.size() == nsp && p.pads_end.size() == nsp;
  for (size_t i = 0; ok && i < nsp; ++i) ok = p.strides[i] >= 1 && p.dilations[i] >= 1 && p.pads_begin[i] >= 0;
  if (!ok) return Invalid(r, "strides/dilations must be >= 1 and pads_begin >= 0, one per spatial dim");
  core::Dims expected{src.dims[0], oc};
  for (size_t i = 0; i < nsp; ++i) {
    expected.push_back((src.dims[2 + i] - 1) * p.strides[i] + (w[2 + i] - 1) * p.dilations[i] + 1 - p.pads_begin[i] -
                       p.pads_end[i]);
  }
  if (dst.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));
  if (p.bias != nullptr && (p.bias->dims() != core::Dims{oc} || p.bias->dtype() != core::DataType::kFloat32)) {
    return Invalid(r, absl::StrCat("bias must be f32 [", oc, "]"));
  }
  if (p.runtime_bias && (p.bias != nullptr || r.inputs[b_input]->dims != core::Dims{oc} ||
                         r.inputs[b_input]->dtype != core::DataType::kFloat32)) {
    return Invalid(r, absl::StrCat("runtime bias must be f32 [", oc, "]"));
  }

  using dt = dnnl::memory::data_type;
  int64_t k = 1;
  for (size_t i = 2; i < w.size(); ++i) k *= w[i];
  dnnl::memory::dims w_dims, w_strides;
  if (g == 1) {
    w_dims = {oc, ic};
    w_strides = {k, oc * k};
  } else {
    w_dims = {g, ocg, icg};
    w_strides = {icg * ocg * k, k, ocg * k};
  }
  int64_t inner = 1;
  std::vector<int64_t> k_strides(nsp);
  for (size_t i = nsp; i-- > 0;) {
    k_strides[i] = inner;
    inner *= w[2 + i];
  }
  for (size_t i = 0; i < nsp; ++i) {
    w_dims.push_back(w[2 + i]);
    w_strides.push_back(k_strides[i]);
  }
  const dnnl::memory::desc w_user(w_dims, dt::f32, w_strides);
  const dnnl::memory::desc w_any(w_dims, dt::f32, dnnl::memory::format_tag::any);
  const dnnl::memory::desc bias_md =
      p.bias != nullptr || p.runtime_bias ? PlainDesc({oc}, dt::f32) : dnnl::memory::desc();
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  dnnl::memory::dims dilation;
  for (int64_t d : p.dilations) dilation.push_back(d - 1);
  dnnl::deconvolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                         src_md, w_any, bias_md, dst_md, p.strides, dilation, p.pads_begin, p.pads_end);
  dnnl::deconvolution_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  ArgMap constants;
  if (!p.runtime_weights) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS], r.weights.Get({p.weights, 0, w_user, pd.weights_desc(), 0, {}}));
  }
  if (p.bias != nullptr) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_BIAS], r.weights.Get({p.bias, 0, bias_md, pd.bias_desc(), 0, {}}));
  }
  std::vector<Operand> inputs{{DNNL_ARG_SRC, src_md}};
  std::vector<StagedKernel::Stage> stages;
  if (p.runtime_weights) StagedKernel::AddRuntimeWeights(w_user, pd.weights_desc(), inputs, stages);
  if (p.runtime_bias) inputs.push_back({DNNL_ARG_BIAS, bias_md});
  std::vector<Operand> outputs{{DNNL_ARG_DST, dst_md}};
  return StagedKernel::Make(dnnl::deconvolution_forward(pd), pd, std::move(inputs), std::move(outputs),
                            std::move(constants), std::move(stages));
}

}  // namespace q8::kernels::internal
