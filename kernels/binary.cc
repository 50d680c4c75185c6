// Owns the Binary kernel: out = in0 (add|mul) in1 with in1 broadcast to in0,
// then fused activations. A constant in1 is copied once into WeightCache-owned
// memory (so it counts as model weights) in in0's layout: a src1 whose layout
// differs from src0 pushes oneDNN onto slower paths.
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"
#include "kernels/internal/weight_cache_impl.h"

namespace q8::kernels::internal {

KernelOr Create(const BinaryParams& p, const KernelRequest& r) {
  const bool constant = p.constant != nullptr;
  Q8_RETURN_IF_ERROR(ExpectArity(r, constant ? 1 : 2, 1));
  const ValueSpec& in0 = *r.inputs[0];
  const ValueSpec& out = *r.outputs[0];
  if (out.dims != in0.dims) return Invalid(r, "output dims must equal input 0 dims");
  const core::Dims& d1 = constant ? p.constant->dims() : r.inputs[1]->dims;
  if (d1.size() > in0.dims.size()) return Invalid(r, "input 1 has a higher rank than input 0");
  // Broadcast by left-padding with 1s (ONNX), then size-1 dims stretch.
  core::Dims padded(in0.dims.size() - d1.size(), 1);
  padded.insert(padded.end(), d1.begin(), d1.end());
  for (size_t i = 0; i < padded.size(); ++i) {
    if (padded[i] != 1 && padded[i] != in0.dims[i]) {
      return Invalid(r, absl::StrCat("input 1 dims ", core::DimsToString(d1), " do not broadcast to input 0"));
    }
  }

  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md0, DescOf(in0));
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc dst_md, DescOf(out));
  Q8_ASSIGN_OR_RETURN(auto dt1, ToDnnl(constant ? p.constant->dtype() : r.inputs[1]->dtype));
  dnnl::memory::desc md1;
  if (constant) {
    md1 = in0.layout == Layout::kNhwc ? dnnl::memory::desc(padded, dt1, dnnl::memory::format_tag::acdb)
                                      : PlainDesc(padded, dt1);
  } else if (d1.size() == in0.dims.size()) {
    Q8_ASSIGN_OR_RETURN(md1, DescOf(*r.inputs[1]));
  } else if (r.inputs[1]->layout == Layout::kPlain) {
    md1 = PlainDesc(padded, dt1);  // leading 1s do not move any byte
  } else {
    return Invalid(r, "a lower-rank input 1 must be plain");
  }
  const auto alg = p.kind == BinaryParams::Kind::kAdd ? dnnl::algorithm::binary_add : dnnl::algorithm::binary_mul;
  dnnl::binary::primitive_desc pd(dnnl::binary::desc(alg, md0, md1, dst_md), MakeAttr(p.post_ops), CpuEngine());

  std::vector<Operand> inputs{{DNNL_ARG_SRC_0, md0}};
  ArgMap constants;
  if (constant) {
    Q8_ASSIGN_OR_RETURN(constants[DNNL_ARG_SRC_1], r.weights.Get(p.constant, PlainDesc(padded, dt1), md1));
  } else {
    inputs.push_back({DNNL_ARG_SRC_1, md1});
  }
  return std::make_unique<Kernel>(dnnl::binary(pd), pd, std::move(inputs), std::vector<Operand>{{DNNL_ARG_DST, dst_md}},
                                  std::move(constants));
}

}  // namespace q8::kernels::internal
