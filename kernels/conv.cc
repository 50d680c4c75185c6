// Owns the Conv kernel: 2-D convolution (groups incl. depthwise, strides,
// pads, dilations, bias, fused activations). src/dst use the layouts the
// engine chose (NHWC for 4-D activations); weights are created as
// format_tag::any and reordered once, through the WeightCache, into whatever
// layout the selected implementation wants.
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

using tag = dnnl::memory::format_tag;

absl::Status CheckPair(const KernelRequest& r, const std::vector<int64_t>& v, absl::string_view name, int64_t min) {
  if (v.size() != 2 || v[0] < min || v[1] < min) {
    return Invalid(r, absl::StrCat(name, " must be 2 values >= ", min, ", got ", core::DimsToString(v)));
  }
  return absl::OkStatus();
}

// Output extent of one spatial dim (ONNX dilation convention, floor).
int64_t OutExtent(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pb, int64_t pe) {
  return (in + pb + pe - ((k - 1) * dilation + 1)) / stride + 1;
}

}  // namespace

KernelOr Create(const ConvParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (p.weights == nullptr || p.weights->dims().size() != 4) return Invalid(r, "weights must be a 4-D tensor");
  if (src.dims.size() != 4) return Invalid(r, "input must be 4-D [N,C,H,W]");
  Q8_RETURN_IF_ERROR(CheckPair(r, p.strides, "strides", 1));
  Q8_RETURN_IF_ERROR(CheckPair(r, p.dilations, "dilations", 1));
  Q8_RETURN_IF_ERROR(CheckPair(r, p.pads_begin, "pads_begin", 0));
  Q8_RETURN_IF_ERROR(CheckPair(r, p.pads_end, "pads_end", 0));
  const core::Dims& w = p.weights->dims();  // [OC, IC/g, KH, KW]
  const int64_t g = p.groups, oc = w[0], ic = src.dims[1];
  if (g < 1 || ic % g != 0 || oc % g != 0 || w[1] != ic / g) {
    return Invalid(r, absl::StrCat("weights ", core::DimsToString(w), " do not match ", ic, " input channels in ", g,
                                   " group(s)"));
  }
  if (p.bias != nullptr && p.bias->dims() != core::Dims{oc}) {
    return Invalid(r, absl::StrCat("bias ", core::DimsToString(p.bias->dims()), " must be [", oc, "]"));
  }
  const core::Dims expected{src.dims[0], oc,
                            OutExtent(src.dims[2], w[2], p.strides[0], p.dilations[0], p.pads_begin[0], p.pads_end[0]),
                            OutExtent(src.dims[3], w[3], p.strides[1], p.dilations[1], p.pads_begin[1], p.pads_end[1])};
  if (dst.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));

  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  Q8_ASSIGN_OR_RETURN(auto w_dt, ToDnnl(p.weights->dtype()));
  // Grouped weights are [G, OC/G, IC/G, KH, KW]: the same bytes as ONNX's
  // [OC, IC/G, KH, KW], one more dim for oneDNN.
  const dnnl::memory::dims w_dims =
      g == 1 ? dnnl::memory::dims{oc, ic, w[2], w[3]} : dnnl::memory::dims{g, oc / g, ic / g, w[2], w[3]};
  const dnnl::memory::desc w_user(w_dims, w_dt, g == 1 ? tag::oihw : tag::goihw);
  const dnnl::memory::desc w_any(w_dims, w_dt, tag::any);
  const dnnl::memory::desc bias_md =
      p.bias != nullptr ? PlainDesc({oc}, dnnl::memory::data_type::f32) : dnnl::memory::desc();
  // oneDNN counts dilation as the gap between taps (dense = 0).
  const dnnl::memory::dims dilation{p.dilations[0] - 1, p.dilations[1] - 1};
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                       w_any, bias_md, dst_md, p.strides, dilation, p.pads_begin, p.pads_end);
  dnnl::convolution_forward::primitive_desc pd(desc, MakeAttr(p.post_ops), CpuEngine());

  ArgMap constants;
  Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS], r.weights.Get(p.weights, w_user, pd.weights_desc()));
  if (p.bias != nullptr) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_BIAS], r.weights.Get(p.bias, bias_md, pd.bias_desc()));
  }
  return std::make_unique<Kernel>(dnnl::convolution_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, src_md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, dst_md}}, std::move(constants));
}

}  // namespace q8::kernels::internal
