// Owns the data-movement kernels built on dnnl::reorder: Reorder (layout
// change or copy between two ValueSpecs with the same dims, e.g. the
// plain <-> NHWC conversions at graph boundaries) and Transpose (a reorder
// whose source is the input described with permuted strides, so no separate
// transpose code exists). Both convert between f32, bf16, u8 and s8 on the way:
// dst = (src - z_in) * (s_in / s_out) + z_out with f32's scale taken as 1
// and zero points 0 but for asymmetric u8 (quantize, dequantize, requantize),
// rounded to nearest-even and saturated. Zero points are oneDNN's common
// src/dst zero point attributes, which 2.6's jit:uni reorder implements.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {
namespace {

absl::Status CheckTypes(const KernelRequest& r) {
  for (const ValueSpec* v : {r.inputs[0], r.outputs[0]}) {
    if (v->dtype != core::DataType::kFloat32 && v->dtype != core::DataType::kBFloat16 && !IsInt8(v->dtype)) {
      return Invalid(r, "types must be f32, bf16, u8 or s8");
    }
    if (IsInt8(v->dtype) && !ValidScale(v->scale)) return Invalid(r, "int8 scales must be finite and > 0");
  }
  return absl::OkStatus();
}

KernelOr MakeReorder(const dnnl::memory::desc& src_md, const dnnl::memory::desc& dst_md, const ValueSpec& in,
                     const ValueSpec& out) {
  const dnnl::engine& engine = CpuEngine();
  dnnl::primitive_attr attr = MakeAttr();
  const float scale = RealScale(in) / RealScale(out);
  if (scale != 1.0f) attr.set_output_scales(0, {scale});
  if (in.zero_point != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {in.zero_point});
  if (out.zero_point != 0) attr.set_zero_points(DNNL_ARG_DST, 0, {out.zero_point});
  dnnl::reorder::primitive_desc pd(engine, src_md, engine, dst_md, attr);
  return std::make_unique<Kernel>(dnnl::reorder(pd), pd, std::vector<Operand>{{DNNL_ARG_FROM, src_md}},
                                  std::vector<Operand>{{DNNL_ARG_TO, dst_md}});
}

}  // namespace

KernelOr Create(const ReorderParams&, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  if (r.inputs[0]->dims != r.outputs[0]->dims) return Invalid(r, "Reorder needs equal input and output dims");
  Q8_RETURN_IF_ERROR(CheckTypes(r));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc src_md, DescOf(*r.inputs[0]));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(*r.outputs[0]));
  return MakeReorder(src_md, dst_md, *r.inputs[0], *r.outputs[0]);
}

KernelOr Create(const TransposeParams& p, const KernelRequest& r) {
  Q8_RETURN_IF_ERROR(ExpectArity(r, 1, 1));
  const ValueSpec& in = *r.inputs[0];
  const ValueSpec& out = *r.outputs[0];
  const size_t rank = in.dims.size();
  std::vector<int64_t> sorted = p.perm;
  std::sort(sorted.begin(), sorted.end());
  bool is_permutation = sorted.size() == rank && rank > 0;
  for (size_t i = 0; is_permutation && i < rank; ++i) is_permutation = sorted[i] == static_cast<int64_t>(i);
  if (!is_permutation) {
    return Invalid(r, absl::StrCat("perm ", core::DimsToString(p.perm), " is not a permutation of the input rank"));
  }
  core::Dims expected(rank);
  for (size_t i = 0; i < rank; ++i) expected[i] = in.dims[p.perm[i]];
  if (out.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));

  Q8_RETURN_IF_ERROR(CheckTypes(r));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc in_md, DescOf(in));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::dims in_strides, StridesOf(in_md));
  // Element out[i0..] lives at in offset sum_i idx_i * in_stride[perm[i]].
  dnnl::memory::dims view_strides(rank);
  for (size_t i = 0; i < rank; ++i) view_strides[i] = in_strides[p.perm[i]];
  Q8_ASSIGN_OR_RETURN(auto dt, ToDnnl(in.dtype));
  const dnnl::memory::desc view(expected, dt, view_strides);
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(out));
  return MakeReorder(view, dst_md, in, out);
}

}  // namespace q8::kernels::internal
