// Owns the Conv kernel: 2-D convolution (groups incl. depthwise, strides,
// pads, dilations, bias, fused activations, fused residual sum), fp32 or
// int8. src/dst use the layouts the engine chose (NHWC for 4-D activations);
// weights are created as format_tag::any and reordered once, through the
// WeightCache, into whatever layout the selected implementation wants
// (int8: possibly with s8s8 compensation appended; never hand-packed).
// Runtime weights / bias (f32 only) are further inputs: the weights are
// reordered per Run into that layout (StagedKernel) unless it is plain.
//
// int8 (src u8/s8): acc = sum src_q * w_q (s32); bias enters the accumulator
// domain as f32 b[oc] / (s_x * s_w[oc]); output scales per OC (mask 1<<1)
// s_x * s_w[oc] / s_y, or s_x * s_w[oc] for an f32 dst; activations and the
// residual sum as described by MakeQuantizedPostOps.
//
// bf16 (src bf16): the f32 weights are reordered once into a bf16 layout the
// implementation chose (format_tag::any, so AMX hosts get AMX kernels); bias
// stays f32; dst is f32 or bf16; post-ops and the residual sum as for f32
// (the residual has the output's type).
//
// Dynamic (ConvParams::dynamic: f32 in and out, s8 qweights): validated here,
// built by conv_dynamic.cc.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/staged_kernel.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {
namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

absl::Status CheckSpatial(const KernelRequest& r, const std::vector<int64_t>& v, size_t n, absl::string_view name,
                          int64_t min) {
  bool ok = v.size() == n;
  for (int64_t x : v) ok = ok && x >= min;
  if (!ok) return Invalid(r, absl::StrCat(name, " must be ", n, " values >= ", min, ", got ", core::DimsToString(v)));
  return absl::OkStatus();
}

// Output extent of one spatial dim (ONNX dilation convention, floor).
int64_t OutExtent(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pb, int64_t pe) {
  return (in + pb + pe - ((k - 1) * dilation + 1)) / stride + 1;
}

// Static int8 convs with few output channels run faster on jit_int8 than on
// brgconv, which oneDNN 2.6.3 lists first: 1 thread, VNNI, u8 NHWC in and out,
// per-OC scales + ReLU, 3x3 stride 1 (bench/probe of issue #17, quiet host):
// 16->32 @14 mb1 7.6 vs 6.3 us, mb16 124 vs 100 us; 1->16 @28 mb1 7.8 vs
// 7.1 us, mb16 134 vs 127 us. With 64 channels and up, and strided convs
// (e.g. a 3->64 7x7/2 stem: brgconv 0.97 vs 1.20 ms), brgconv is as fast or
// faster, so the rule stays narrow. 1x1 convs are "brgconv_1x1", untouched.
constexpr int64_t kJitInt8MaxOc = 32;

bool PreferJitInt8(const std::vector<int64_t>& strides) {
  for (int64_t s : strides) {
    if (s != 1) return false;
  }
  return true;
}

// Moves `pd` to the first implementation whose name starts with `prefix`
// when the chosen one is plain "brgconv:"; keeps the first choice otherwise
// (rebuilt: a primitive_desc copy shares the iterator state).
void PreferImpl(dnnl::convolution_forward::primitive_desc& pd, absl::string_view prefix,
                const dnnl::convolution_forward::desc& desc, const dnnl::primitive_attr& attr) {
  if (!absl::StartsWith(pd.impl_info_str(), "brgconv:")) return;
  while (pd.next_impl()) {
    if (absl::StartsWith(pd.impl_info_str(), prefix)) return;
  }
  pd = dnnl::convolution_forward::primitive_desc(desc, attr, CpuEngine());
}

}  // namespace

KernelOr Create(const ConvParams& p, const KernelRequest& r) {
  const size_t residual = p.accumulate ? 1 : 0;
  const size_t w_input = 1 + residual, b_input = w_input + (p.runtime_weights ? 1 : 0);
  Q8_RETURN_IF_ERROR(ExpectArity(r, b_input + (p.runtime_bias ? 1 : 0), 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  const bool int8 = IsInt8(src.dtype);
  const bool bf16 = src.dtype == core::DataType::kBFloat16;
  // Dynamic convs keep f32 activations but take s8 weights like int8 ones.
  const bool s8_weights = int8 || p.dynamic;
  if (p.dynamic && (int8 || dst.dtype != core::DataType::kFloat32)) {
    return Invalid(r, "a dynamic conv has an f32 input and output");
  }
  if (!int8 && !bf16 && src.dtype != core::DataType::kFloat32) return Invalid(r, "input must be f32, bf16, u8 or s8");
  if (!int8 && !bf16 && dst.dtype != core::DataType::kFloat32) return Invalid(r, "an f32 conv must have an f32 output");
  if (bf16 && dst.dtype != core::DataType::kFloat32 && dst.dtype != core::DataType::kBFloat16) {
    return Invalid(r, "a bf16 conv's output must be f32 or bf16");
  }
  if (bf16 && p.dynamic) return Invalid(r, "a dynamic conv has an f32 input");
  if (int8 && !IsInt8(dst.dtype) && dst.dtype != core::DataType::kFloat32) {
    return Invalid(r, "an int8 conv's output must be u8, s8 or f32");
  }
  if ((p.runtime_weights || p.runtime_bias) && (s8_weights || bf16)) {
    return Invalid(r, "runtime weights or bias run in f32 only (no per-channel weight scales exist for them)");
  }
  // Weights: a runtime input, the tensor, or (dropped by the engine) what the cache knows of its id.
  const ConstTensorPtr& wt = s8_weights ? p.qweights.values : p.weights;
  const core::DataType w_type = s8_weights ? core::DataType::kInt8 : core::DataType::kFloat32;
  core::Dims w;
  if (p.runtime_weights) {
    const ValueSpec& wv = *r.inputs[w_input];
    if (wv.dtype != core::DataType::kFloat32 || (wv.layout != Layout::kPlain && !SameBytesAsPlain(wv))) {
      return Invalid(r, "runtime weights must be plain f32");
    }
    w = wv.dims;
  } else if (wt != nullptr) {
    w = wt->dims();
    if (wt->dtype() != w_type) return Invalid(r, s8_weights ? "qweights must be s8" : "weights must be f32");
  } else if (auto known = p.weights_id != 0 ? r.weights.Lookup(p.weights_id) : std::nullopt; known.has_value()) {
    w = known->dims;
    if (known->dtype != w_type) return Invalid(r, "cached weights of this weights_id have another type");
  } else {
    return Invalid(r, s8_weights ? "qweights.values is null and weights_id has no cached copy"
                                 : "weights are null and weights_id has no cached copy");
  }
  if (src.dims.size() < 3 || src.dims.size() > 5) return Invalid(r, "input must be 3-D, 4-D or 5-D [N,C,...]");
  if (w.size() != src.dims.size()) return Invalid(r, "weights must have the input's rank");
  if ((int8 || p.dynamic) && src.dims.size() != 4)
    return Invalid(r, "int8 convolution (static or dynamic) is 2-D only");
  const size_t nsp = src.dims.size() - 2;
  Q8_RETURN_IF_ERROR(CheckSpatial(r, p.strides, nsp, "strides", 1));
  Q8_RETURN_IF_ERROR(CheckSpatial(r, p.dilations, nsp, "dilations", 1));
  Q8_RETURN_IF_ERROR(CheckSpatial(r, p.pads_begin, nsp, "pads_begin", 0));
  Q8_RETURN_IF_ERROR(CheckSpatial(r, p.pads_end, nsp, "pads_end", 0));
  const int64_t g = p.groups, oc = w[0], ic = src.dims[1];
  if (g < 1 || ic % g != 0 || oc % g != 0 || w[1] != ic / g) {
    return Invalid(r, absl::StrCat("weights ", core::DimsToString(w), " do not match ", ic, " input channels in ", g,
                                   " group(s)"));
  }
  if (p.bias != nullptr && (p.bias->dims() != core::Dims{oc} || p.bias->dtype() != core::DataType::kFloat32)) {
    return Invalid(r, absl::StrCat("bias ", core::DimsToString(p.bias->dims()), " must be f32 [", oc, "]"));
  }
  if (p.runtime_bias && (p.bias != nullptr || r.inputs[b_input]->dims != core::Dims{oc} ||
                         r.inputs[b_input]->dtype != core::DataType::kFloat32)) {
    return Invalid(r, absl::StrCat("runtime bias must be f32 [", oc, "]"));
  }
  core::Dims expected{src.dims[0], oc};
  for (size_t i = 0; i < nsp; ++i) {
    expected.push_back(
        OutExtent(src.dims[2 + i], w[2 + i], p.strides[i], p.dilations[i], p.pads_begin[i], p.pads_end[i]));
  }
  if (dst.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));
  if (s8_weights) {
    if (p.qweights.scales.size() != static_cast<size_t>(oc)) {
      return Invalid(r, absl::StrCat("qweights.scales must have ", oc, " values"));
    }
    for (float s : p.qweights.scales) {
      if (!ValidScale(s)) return Invalid(r, "qweights.scales must be finite and > 0");
    }
  }
  if (int8 && (!ValidScale(src.scale) || (IsInt8(dst.dtype) && !ValidScale(dst.scale)))) {
    return Invalid(r, "int8 input/output scales must be finite and > 0");
  }
  std::optional<SumPostOp> sum;
  if (p.accumulate) {
    Q8_ASSIGN_OR_RETURN(sum, ResidualSum(r, 1, int8));
  }
  if (p.dynamic) return CreateDynamicConv(p, r, w, p.accumulate);

  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  // The weights' bytes (s8 or f32) and the type the primitive computes in.
  const dt w_user_dt = int8 ? dt::s8 : dt::f32;
  const dt w_dt = int8 ? dt::s8 : bf16 ? dt::bf16 : dt::f32;
  // Grouped weights are [G, OC/G, IC/G, KH, KW]: the same bytes as ONNX's
  // [OC, IC/G, KH, KW], one more dim for oneDNN.
  dnnl::memory::dims w_dims = g == 1 ? dnnl::memory::dims{oc, ic} : dnnl::memory::dims{g, oc / g, ic / g};
  w_dims.insert(w_dims.end(), w.begin() + 2, w.end());
  static constexpr tag kPlainTags[] = {tag::oiw, tag::oihw, tag::oidhw};
  static constexpr tag kGroupedTags[] = {tag::goiw, tag::goihw, tag::goidhw};
  const dnnl::memory::desc w_user(w_dims, w_user_dt, g == 1 ? kPlainTags[nsp - 1] : kGroupedTags[nsp - 1]);
  const dnnl::memory::desc w_any(w_dims, w_dt, tag::any);
  const dnnl::memory::desc bias_md =
      p.bias != nullptr || p.runtime_bias ? PlainDesc({oc}, dt::f32) : dnnl::memory::desc();
  // oneDNN counts dilation as the gap between taps (dense = 0).
  dnnl::memory::dims dilation;
  for (int64_t d : p.dilations) dilation.push_back(d - 1);
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                       w_any, bias_md, dst_md, p.strides, dilation, p.pads_begin, p.pads_end);
  dnnl::primitive_attr attr = MakeAttr();
  // Per-OC multiplier that takes the accumulator to real units (int8 only).
  std::vector<float> acc_scale;
  if (int8) {
    const QuantizedPostOps post = MakeQuantizedPostOps(p.post_ops, RealScale(dst), sum);
    std::vector<float> oscale(oc);
    acc_scale.resize(oc);
    for (int64_t c = 0; c < oc; ++c) {
      acc_scale[c] = src.scale * p.qweights.scales[c];
      oscale[c] = acc_scale[c] * post.output_factor;
    }
    attr.set_output_scales(1 << 1, oscale);
    if (post.ops.len() > 0) attr.set_post_ops(post.ops);
  } else if (sum.has_value() || !p.post_ops.empty()) {
    attr.set_post_ops(MakeQuantizedPostOps(p.post_ops, 1.0f, sum).ops);
  }
  dnnl::convolution_forward::primitive_desc pd(desc, attr, CpuEngine());
  if (int8 && g == 1 && oc <= kJitInt8MaxOc && PreferJitInt8(p.strides)) PreferImpl(pd, "jit_int8:", desc, attr);

  ArgMap constants;
  if (!p.runtime_weights) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_WEIGHTS],
                        r.weights.Get({wt, p.weights_id, w_user, pd.weights_desc(), 0, {}}));
  }
  if (p.bias != nullptr) {
    std::vector<float> bias_scale;
    for (float s : acc_scale) bias_scale.push_back(1.0f / s);
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_BIAS], r.weights.Get({p.bias, 0, bias_md, pd.bias_desc(), 1, bias_scale}));
  }
  std::vector<Operand> inputs{{DNNL_ARG_SRC, src_md}};
  if (p.accumulate) {
    Q8_ASSIGN_OR_RETURN(dnnl::memory::desc res_md, DescOf(*r.inputs[1]));
    inputs.push_back({kArgNone, res_md});  // read by the sum post-op from dst
  }
  std::vector<StagedKernel::Stage> stages;
  if (p.runtime_weights) StagedKernel::AddRuntimeWeights(w_user, pd.weights_desc(), inputs, stages);
  if (p.runtime_bias) inputs.push_back({DNNL_ARG_BIAS, bias_md});
  std::vector<Operand> outputs{{DNNL_ARG_DST, dst_md}};
  return StagedKernel::Make(dnnl::convolution_forward(pd), pd, std::move(inputs), std::move(outputs),
                            std::move(constants), std::move(stages));
}

}  // namespace q8::kernels::internal
