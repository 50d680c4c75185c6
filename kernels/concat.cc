// Owns the Concat kernel: N inputs joined along one (normalised) axis into
// the output's layout. int8: every input and the output share one type and
// one scale (a pure byte copy).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {

KernelOr Create(const ConcatParams& p, const KernelRequest& r) {
  if (r.inputs.empty()) return Invalid(r, "Concat needs at least one input");
  Q8_RETURN_IF_ERROR(ExpectArity(r, r.inputs.size(), 1));
  const ValueSpec& dst = *r.outputs[0];
  const int rank = static_cast<int>(dst.dims.size());
  if (p.axis < 0 || p.axis >= rank) return Invalid(r, absl::StrCat("axis ", p.axis, " out of range"));
  core::Dims expected = r.inputs[0]->dims;
  expected[p.axis] = 0;
  std::vector<Operand> inputs;
  std::vector<dnnl::memory::desc> src_mds;
  if (dst.dtype != core::DataType::kFloat32 && !IsInt8(dst.dtype)) return Invalid(r, "output must be f32, u8 or s8");
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const ValueSpec& v = *r.inputs[i];
    if (v.dtype != dst.dtype || (IsInt8(v.dtype) && (!ValidScale(v.scale) || !SameScale(v.scale, dst.scale)))) {
      return Invalid(r, absl::StrCat("input ", i, ": every input needs the output's type and (int8) scale"));
    }
    core::Dims other = v.dims, first = r.inputs[0]->dims;
    if (static_cast<int>(other.size()) != rank) return Invalid(r, "inputs must have the output's rank");
    other[p.axis] = first[p.axis] = 0;
    if (other != first) return Invalid(r, absl::StrCat("input ", i, " differs from input 0 outside the axis"));
    expected[p.axis] += v.dims[p.axis];
    Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(v));
    src_mds.push_back(md);
    inputs.push_back({DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), md});
  }
  if (dst.dims != expected) return Invalid(r, absl::StrCat("output must be ", core::DimsToString(expected)));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(dst));
  dnnl::concat::primitive_desc pd(dst_md, p.axis, src_mds, CpuEngine(), MakeAttr());
  return std::make_unique<Kernel>(dnnl::concat(pd), pd, std::move(inputs),
                                  std::vector<Operand>{{DNNL_ARG_DST, dst_md}});
}

}  // namespace q8::kernels::internal
