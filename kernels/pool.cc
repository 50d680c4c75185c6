// Owns the Pool kernel: 1-D, 2-D and 3-D max / average pooling (global average is a
// kernel the size of H, W). Always built as pooling_v2, the 2.6 primitive
// that takes dilations; with dense windows it dispatches to the same
// implementations as plain pooling. ceil_mode arrives as grown pads_end.
// int8 (u8/s8 -> same type, same scale; avg accumulates in s32 and rounds to
// nearest-even) is only optimized in NHWC: other layouts run but get oneDNN's
// reference kernel (visible in the impl string).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {

KernelOr Create(const PoolParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& src = *r.inputs[0];
  const ValueSpec& dst = *r.outputs[0];
  if (src.dims.size() < 3 || src.dims.size() > 5) return Invalid(r, "input must be 3-D, 4-D or 5-D [N,C,...]");
  const size_t nsp = src.dims.size() - 2;
  if (src.dtype != dst.dtype || (src.dtype != core::DataType::kFloat32 && !IsInt8(src.dtype))) {
    return Invalid(r, "input and output must both be f32, both u8 or both s8");
  }
  if (IsInt8(src.dtype) && (!ValidScale(src.scale) || !SameScale(src.scale, dst.scale))) {
    return Invalid(r, "int8 pooling needs equal input and output scales");
  }
  auto fits = [nsp](const std::vector<int64_t>& v, int64_t min) {
    bool ok = v.size() == nsp;
    for (int64_t x : v) ok = ok && x >= min;
    return ok;
  };
  if (!fits(p.kernel, 1) || !fits(p.strides, 1) || !fits(p.dilations, 1) || !fits(p.pads_begin, 0) ||
      !fits(p.pads_end, 0)) {
    return Invalid(r, absl::StrCat("kernel/strides/dilations must be ", nsp, " values >= 1 and pads ", nsp,
                                   " values >= 0"));
  }
  core::Dims expected{src.dims[0], src.dims[1]};
  expected.resize(2 + nsp, 0);
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t window = (p.kernel[i] - 1) * p.dilations[i] + 1;
    expected[2 + i] = (src.dims[2 + i] + p.pads_begin[i] + p.pads_end[i] - window) / p.strides[i] + 1;
  }
  if (dst.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));

  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(src));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  if (p.kind == PoolParams::Kind::kAverage) {
    alg = p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                              : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  // forward_inference: max pooling needs no workspace of argmax indices.
  dnnl::memory::dims dilation;
  for (int64_t d : p.dilations) dilation.push_back(d - 1);
  dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src_md, dst_md, p.strides, p.kernel,
                                      dilation, p.pads_begin, p.pads_end);
  dnnl::pooling_v2_forward::primitive_desc pd(desc, MakeAttr(), CpuEngine());
  return std::make_unique<Kernel>(dnnl::pooling_v2_forward(pd), pd, std::vector<Operand>{{DNNL_ARG_SRC, src_md}},
                                  std::vector<Operand>{{DNNL_ARG_DST, dst_md}});
}

}  // namespace q8::kernels::internal
